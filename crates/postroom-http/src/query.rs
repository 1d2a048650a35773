//! The Query protocol of SQS: form parameters in, XML out.
//!
//! Requests are turned into the JSON document of the same operation, so the
//! service receives one shape for both protocols. Flattened lists such as
//! `AttributeName.1` become arrays, `Attribute.1.Name` with
//! `Attribute.1.Value` become maps, and numeric parameters become numbers.
//! Responses go the other way: the JSON document of the result is written
//! as the XML that SQS sends.

use crate::form::Node;
use crate::xml::XmlWriter;
use postroom_sqs::{ErrorKind, SqsError, SqsOperation};
use serde_json::{Map, Value};

pub const NAMESPACE: &str = "http://queue.amazonaws.com/doc/2012-11-05/";

/// Parameters that carry integers.
const INTEGER_PARAMETERS: &[&str] = &[
    "DelaySeconds",
    "MaxNumberOfMessages",
    "VisibilityTimeout",
    "WaitTimeSeconds",
    "MaxResults",
    "MaxNumberOfMessagesPerSecond",
];

/// Mapping of a flattened Query member to a JSON member.
enum Member {
    /// `Name.N` to an array of strings.
    List(&'static str),
    /// `Name.N.<key>` and `Name.N.<value>` to an object.
    Map { json: &'static str, key: &'static str, value: &'static str },
    /// `Name.N.<field>` to an array of objects.
    Entries(&'static str),
}

fn member(operation: SqsOperation, name: &str) -> Option<Member> {
    Some(match name {
        "AttributeName" => Member::List("AttributeNames"),
        "MessageSystemAttributeName" => Member::List("MessageSystemAttributeNames"),
        "MessageAttributeName" => Member::List("MessageAttributeNames"),
        "TagKey" => Member::List("TagKeys"),
        "AWSAccountId" => Member::List("AWSAccountIds"),
        "ActionName" => Member::List("Actions"),
        "StringListValue" => Member::List("StringListValues"),
        "BinaryListValue" => Member::List("BinaryListValues"),
        "Attribute" => Member::Map { json: "Attributes", key: "Name", value: "Value" },
        "Tag" if operation == SqsOperation::CreateQueue => Member::Map { json: "tags", key: "Key", value: "Value" },
        "Tag" => Member::Map { json: "Tags", key: "Key", value: "Value" },
        "MessageAttribute" => Member::Map { json: "MessageAttributes", key: "Name", value: "Value" },
        "MessageSystemAttribute" => Member::Map { json: "MessageSystemAttributes", key: "Name", value: "Value" },
        "SendMessageBatchRequestEntry" | "DeleteMessageBatchRequestEntry" | "ChangeMessageVisibilityBatchRequestEntry" => {
            Member::Entries("Entries")
        }
        _ => return None,
    })
}

/// Converts Query parameters, `Action` and `Version` excluded, into the JSON
/// document of `operation`.
pub fn to_document(operation: SqsOperation, parameters: &[(String, String)]) -> Result<Value, SqsError> {
    convert_object(operation, &Node::from_parameters(parameters))
}

fn convert_object(operation: SqsOperation, node: &Node) -> Result<Value, SqsError> {
    let mut object = Map::new();
    for (name, child) in &node.children {
        match member(operation, name) {
            Some(Member::List(json)) => {
                let items = child.indexed().into_iter().filter_map(|item| item.value.clone()).map(Value::String);
                object.insert(json.to_string(), Value::Array(items.collect()));
            }
            Some(Member::Map { json, key, value }) => {
                let mut map = Map::new();
                for entry in child.indexed() {
                    let Some(entry_key) = entry.children.get(key).and_then(|k| k.value.clone()) else { continue };
                    let entry_value = match entry.children.get(value) {
                        Some(leaf) if leaf.children.is_empty() => Value::String(leaf.value.clone().unwrap_or_default()),
                        Some(nested) => convert_object(operation, nested)?,
                        None => Value::Null,
                    };
                    map.insert(entry_key, entry_value);
                }
                object.insert(json.to_string(), Value::Object(map));
            }
            Some(Member::Entries(json)) => {
                let entries = child.indexed().into_iter().map(|entry| convert_object(operation, entry));
                object.insert(json.to_string(), Value::Array(entries.collect::<Result<_, _>>()?));
            }
            None => {
                let Some(text) = &child.value else { continue };
                object.insert(name.clone(), scalar(name, text)?);
            }
        }
    }
    Ok(Value::Object(object))
}

fn scalar(name: &str, text: &str) -> Result<Value, SqsError> {
    if INTEGER_PARAMETERS.contains(&name) {
        let number: i64 = text
            .trim()
            .parse()
            .map_err(|_| SqsError::invalid_parameter(name, text, "The value is not a valid integer."))?;
        return Ok(Value::from(number));
    }
    Ok(Value::String(text.to_string()))
}

/// Element name of each item of a flattened list in a response.
fn list_item_name(operation: SqsOperation, member: &str) -> Option<&'static str> {
    Some(match member {
        "Messages" => "Message",
        "QueueUrls" | "queueUrls" => "QueueUrl",
        "Failed" => "BatchResultErrorEntry",
        "Results" => "ListMessageMoveTasksResultEntry",
        "Successful" => match operation {
            SqsOperation::SendMessageBatch => "SendMessageBatchResultEntry",
            SqsOperation::DeleteMessageBatch => "DeleteMessageBatchResultEntry",
            _ => "ChangeMessageVisibilityBatchResultEntry",
        },
        _ => return None,
    })
}

/// Writes the XML response of `operation` for its JSON result document.
pub fn encode_response(operation: SqsOperation, result: &Value, request_id: &str) -> String {
    let name = operation.name();
    let mut writer = XmlWriter::new();
    writer.open_with_namespace(&format!("{name}Response"), NAMESPACE);
    let has_members = result.as_object().is_some_and(|object| !object.is_empty());
    if has_members {
        writer.open(&format!("{name}Result"));
        write_members(&mut writer, operation, result);
        writer.close(&format!("{name}Result"));
    } else if operation.has_output() {
        writer.empty(&format!("{name}Result"));
    }
    writer.open("ResponseMetadata");
    writer.element("RequestId", request_id);
    writer.close("ResponseMetadata");
    writer.close(&format!("{name}Response"));
    writer.finish()
}

fn write_members(writer: &mut XmlWriter, operation: SqsOperation, object: &Value) {
    let Some(object) = object.as_object() else { return };
    for (name, value) in object {
        match (name.as_str(), value) {
            ("Attributes", Value::Object(map)) => write_map(writer, "Attribute", "Name", map),
            ("Tags", Value::Object(map)) => write_map(writer, "Tag", "Key", map),
            ("MessageAttributes", Value::Object(map)) => write_map(writer, "MessageAttribute", "Name", map),
            (_, Value::Array(items)) => {
                let item_name = list_item_name(operation, name).unwrap_or(name);
                for item in items {
                    write_value(writer, operation, item_name, item);
                }
            }
            _ => write_value(writer, operation, name, value),
        }
    }
}

fn write_map(writer: &mut XmlWriter, entry: &str, key_name: &str, map: &Map<String, Value>) {
    for (key, value) in map {
        writer.open(entry);
        writer.element(key_name, key);
        match value {
            Value::Object(_) => {
                writer.open("Value");
                write_members(writer, SqsOperation::ReceiveMessage, value);
                writer.close("Value");
            }
            other => writer.element("Value", &text(other)),
        }
        writer.close(entry);
    }
}

fn write_value(writer: &mut XmlWriter, operation: SqsOperation, name: &str, value: &Value) {
    match value {
        Value::Object(_) => {
            writer.open(name);
            write_members(writer, operation, value);
            writer.close(name);
        }
        Value::Null => {}
        other => writer.element(name, &text(other)),
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Writes an `ErrorResponse` document.
pub fn encode_error(code: &str, message: &str, sender_fault: bool, request_id: &str) -> String {
    let mut writer = XmlWriter::new();
    writer.open_with_namespace("ErrorResponse", NAMESPACE);
    writer.open("Error");
    writer.element("Type", if sender_fault { "Sender" } else { "Receiver" });
    writer.element("Code", code);
    writer.element("Message", message);
    writer.empty("Detail");
    writer.close("Error");
    writer.element("RequestId", request_id);
    writer.close("ErrorResponse");
    writer.finish()
}

pub fn encode_sqs_error(error: &SqsError, request_id: &str) -> String {
    encode_error(error.kind.query_code(), &error.message, error.kind.is_sender_fault(), request_id)
}

/// Builds the error for a request whose `Action` names no SQS operation.
pub fn unknown_action(action: &str) -> SqsError {
    SqsError::new(ErrorKind::InvalidAction, format!("The action {action} is not valid for this endpoint."))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn nested_send_parameters() {
        let document = to_document(
            SqsOperation::SendMessage,
            &params(&[
                ("Action", "SendMessage"),
                ("QueueUrl", "http://h/000000000000/q"),
                ("MessageBody", "hi"),
                ("DelaySeconds", "5"),
                ("MessageAttribute.2.Name", "b"),
                ("MessageAttribute.2.Value.DataType", "Binary"),
                ("MessageAttribute.2.Value.BinaryValue", "AAE="),
                ("MessageAttribute.1.Name", "a"),
                ("MessageAttribute.1.Value.DataType", "String"),
                ("MessageAttribute.1.Value.StringValue", "x"),
            ]),
        )
        .expect("valid parameters");
        assert_eq!(
            document,
            json!({
                "QueueUrl": "http://h/000000000000/q",
                "MessageBody": "hi",
                "DelaySeconds": 5,
                "MessageAttributes": {
                    "a": {"DataType": "String", "StringValue": "x"},
                    "b": {"DataType": "Binary", "BinaryValue": "AAE="}
                }
            })
        );
    }

    #[test]
    fn batch_entries_in_index_order() {
        let document = to_document(
            SqsOperation::DeleteMessageBatch,
            &params(&[
                ("DeleteMessageBatchRequestEntry.10.Id", "ten"),
                ("DeleteMessageBatchRequestEntry.10.ReceiptHandle", "r10"),
                ("DeleteMessageBatchRequestEntry.2.Id", "two"),
                ("DeleteMessageBatchRequestEntry.2.ReceiptHandle", "r2"),
            ]),
        )
        .expect("valid parameters");
        assert_eq!(document["Entries"][0]["Id"], "two");
        assert_eq!(document["Entries"][1]["Id"], "ten");
    }

    #[test]
    fn lists_maps_and_tags() {
        let document = to_document(
            SqsOperation::CreateQueue,
            &params(&[
                ("QueueName", "q"),
                ("Attribute.1.Name", "DelaySeconds"),
                ("Attribute.1.Value", "3"),
                ("Tag.1.Key", "team"),
                ("Tag.1.Value", "ops"),
            ]),
        )
        .expect("valid parameters");
        assert_eq!(document["Attributes"]["DelaySeconds"], "3", "attribute values stay strings");
        assert_eq!(document["tags"]["team"], "ops");
        let document = to_document(SqsOperation::ReceiveMessage, &params(&[("AttributeName.1", "All")])).expect("valid");
        assert_eq!(document["AttributeNames"], json!(["All"]));
    }

    #[test]
    fn bad_integer_is_rejected() {
        let error = to_document(SqsOperation::ReceiveMessage, &params(&[("MaxNumberOfMessages", "ten")])).unwrap_err();
        assert_eq!(error.kind, ErrorKind::InvalidParameterValue);
    }

    #[test]
    fn receive_response_shape() {
        let result = json!({"Messages": [{
            "MessageId": "m1",
            "Body": "b",
            "Attributes": {"SentTimestamp": "1"},
            "MessageAttributes": {"a": {"DataType": "String", "StringValue": "x"}}
        }]});
        let xml = encode_response(SqsOperation::ReceiveMessage, &result, "r1");
        assert!(xml.contains("<ReceiveMessageResult><Message>"), "{xml}");
        assert!(xml.contains("<MessageId>m1</MessageId>"), "{xml}");
        assert!(xml.contains("<Attribute><Name>SentTimestamp</Name><Value>1</Value></Attribute>"), "{xml}");
        assert!(
            xml.contains("<MessageAttribute><Name>a</Name><Value><DataType>String</DataType><StringValue>x</StringValue></Value></MessageAttribute>"),
            "{xml}"
        );
        assert!(xml.ends_with("<ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></ReceiveMessageResponse>"));
    }

    #[test]
    fn empty_results() {
        let xml = encode_response(SqsOperation::DeleteQueue, &json!({}), "r1");
        assert!(!xml.contains("DeleteQueueResult"), "an operation without output has no result element: {xml}");
        let xml = encode_response(SqsOperation::ReceiveMessage, &json!({}), "r1");
        assert!(xml.contains("<ReceiveMessageResult/>"), "an empty output keeps its element: {xml}");
    }
}
