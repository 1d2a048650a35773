//! The Query protocol of SNS: form parameters in, XML out.
//!
//! SNS encodes lists as `Name.member.N` and maps as `Name.entry.N.key` with
//! `Name.entry.N.value` (`Name` and `Value` for message attributes), unlike
//! the flattened lists of SQS. Requests become JSON documents with arrays and
//! objects; results are written back with `member` and `entry` elements.

use crate::form::Node;
use crate::xml::XmlWriter;
use postroom_sns::SnsOperation;
use serde_json::{Map, Value};

pub const NAMESPACE: &str = "http://sns.amazonaws.com/doc/2010-03-31/";

/// Converts Query parameters into the request document of an operation.
pub fn to_document(parameters: &[(String, String)]) -> Value {
    convert(&Node::from_parameters(parameters))
}

fn convert(node: &Node) -> Value {
    if node.children.is_empty() {
        return Value::String(node.value.clone().unwrap_or_default());
    }
    if let Some(members) = node.children.get("member") {
        return Value::Array(members.indexed().into_iter().map(convert).collect());
    }
    if let Some(entries) = node.children.get("entry") {
        let mut map = Map::new();
        for entry in entries.indexed() {
            let key = entry.children.get("key").or_else(|| entry.children.get("Name")).and_then(|k| k.value.clone());
            let value = entry.children.get("value").or_else(|| entry.children.get("Value"));
            if let (Some(key), Some(value)) = (key, value) {
                map.insert(key, convert(value));
            }
        }
        return Value::Object(map);
    }
    let mut object = Map::new();
    for (name, child) in &node.children {
        object.insert(name.clone(), convert(child));
    }
    Value::Object(object)
}

/// Writes the XML response of an operation for its result document.
pub fn encode_response(operation: SnsOperation, result: &Value, request_id: &str) -> String {
    let name = operation.name();
    let mut writer = XmlWriter::new();
    writer.open_with_namespace(&format!("{name}Response"), NAMESPACE);
    if operation.has_output() {
        writer.open(&format!("{name}Result"));
        write_members(&mut writer, result);
        writer.close(&format!("{name}Result"));
    }
    writer.open("ResponseMetadata");
    writer.element("RequestId", request_id);
    writer.close("ResponseMetadata");
    writer.close(&format!("{name}Response"));
    writer.finish()
}

fn write_members(writer: &mut XmlWriter, value: &Value) {
    let Some(object) = value.as_object() else { return };
    for (name, value) in object {
        write_value(writer, name, value);
    }
}

fn write_value(writer: &mut XmlWriter, name: &str, value: &Value) {
    match value {
        Value::Array(items) => {
            writer.open(name);
            for item in items {
                write_value(writer, "member", item);
            }
            writer.close(name);
        }
        Value::Object(map) if name == "Attributes" => {
            writer.open(name);
            for (key, value) in map {
                writer.open("entry");
                writer.element("key", key);
                writer.element("value", value.as_str().unwrap_or_default());
                writer.close("entry");
            }
            writer.close(name);
        }
        Value::Object(_) => {
            writer.open(name);
            write_members(writer, value);
            writer.close(name);
        }
        Value::String(text) => writer.element(name, text),
        Value::Null => {}
        other => writer.element(name, &other.to_string()),
    }
}

pub fn encode_error(code: &str, message: &str, sender_fault: bool, request_id: &str) -> String {
    let mut writer = XmlWriter::new();
    writer.open_with_namespace("ErrorResponse", NAMESPACE);
    writer.open("Error");
    writer.element("Type", if sender_fault { "Sender" } else { "Receiver" });
    writer.element("Code", code);
    writer.element("Message", message);
    writer.close("Error");
    writer.element("RequestId", request_id);
    writer.close("ErrorResponse");
    writer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn lists_and_maps() {
        let document = to_document(&params(&[
            ("Action", "Publish"),
            ("TopicArn", "arn:aws:sns:us-east-1:000000000000:t"),
            ("MessageAttributes.entry.1.Name", "kind"),
            ("MessageAttributes.entry.1.Value.DataType", "String"),
            ("MessageAttributes.entry.1.Value.StringValue", "order"),
            ("Attributes.entry.1.key", "RawMessageDelivery"),
            ("Attributes.entry.1.value", "true"),
            ("Tags.member.2.Key", "b"),
            ("Tags.member.1.Key", "a"),
        ]));
        assert_eq!(document["MessageAttributes"]["kind"], json!({"DataType": "String", "StringValue": "order"}));
        assert_eq!(document["Attributes"]["RawMessageDelivery"], "true");
        assert_eq!(document["Tags"][0]["Key"], "a");
        assert_eq!(document["Tags"][1]["Key"], "b");
    }

    #[test]
    fn response_shapes() {
        let xml = encode_response(
            SnsOperation::ListTopics,
            &json!({"Topics": [{"TopicArn": "arn:1"}]}),
            "r1",
        );
        assert!(xml.contains("<ListTopicsResult><Topics><member><TopicArn>arn:1</TopicArn></member></Topics></ListTopicsResult>"), "{xml}");
        let xml = encode_response(SnsOperation::GetTopicAttributes, &json!({"Attributes": {"Owner": "0"}}), "r1");
        assert!(xml.contains("<Attributes><entry><key>Owner</key><value>0</value></entry></Attributes>"), "{xml}");
        let xml = encode_response(SnsOperation::DeleteTopic, &json!({}), "r1");
        assert!(!xml.contains("DeleteTopicResult"), "{xml}");
    }
}
