//! Digests checked against values computed by SQS.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use postroom_queue::digest::{md5_hex, md5_of_attributes};
use postroom_store::AttributeValue;
use serde_json::Value;
use std::collections::BTreeMap;

fn vectors() -> Value {
    serde_json::from_str(include_str!("data/sqs-md5-vectors.json")).expect("vectors are JSON")
}

#[test]
fn body_digests_match() {
    for case in vectors()["bodies"].as_array().expect("bodies") {
        let body = case["body"].as_str().expect("body");
        assert_eq!(md5_hex(body.as_bytes()), case["md5_of_body"].as_str().expect("digest"), "body {body:?}");
    }
}

#[test]
fn attribute_digests_match() {
    for case in vectors()["message_attributes"].as_array().expect("message_attributes") {
        let mut attributes = BTreeMap::new();
        for (name, value) in case["message_attributes"].as_object().expect("attributes") {
            attributes.insert(
                name.clone(),
                AttributeValue {
                    data_type: value["DataType"].as_str().expect("DataType").to_string(),
                    string_value: value["StringValue"].as_str().map(str::to_string),
                    binary_value: value["BinaryValue"].as_str().map(|b| STANDARD.decode(b).expect("base64")),
                },
            );
        }
        let expected = case["md5_of_message_attributes"].as_str().expect("digest");
        assert_eq!(md5_of_attributes(&attributes).as_deref(), Some(expected), "case {}", case["name"]);
    }
}

#[test]
fn no_attributes_no_digest() {
    assert_eq!(md5_of_attributes(&BTreeMap::new()), None);
}
