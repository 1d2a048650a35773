//! The SQS requests and responses that the scenarios use, in the AWS JSON
//! 1.0 shapes, and the message body that carries its send time.

use postroom_json as json;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt::Write as _;

/// Smallest body that fits the sequence number and the send time.
pub const MIN_BODY_SIZE: usize = 34;

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateQueue<'a> {
    pub queue_name: &'a str,
    pub attributes: HashMap<&'a str, String>,
}

/// Output of CreateQueue and GetQueueUrl.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueueUrlOutput {
    pub queue_url: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueueUrl<'a> {
    pub queue_url: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetQueueUrl<'a> {
    pub queue_name: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetQueueAttributes<'a> {
    pub queue_url: &'a str,
    pub attribute_names: &'a [&'a str],
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetQueueAttributesOutput {
    #[serde(default)]
    pub attributes: HashMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SendMessage<'a> {
    pub queue_url: &'a str,
    pub message_body: &'a str,
}

impl SendMessage<'_> {
    /// Serializes the request as `to_body` does, with a faster escaper for
    /// the message body.
    pub fn to_body(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.queue_url.len() + self.message_body.len() + 64);
        out.extend_from_slice(b"{\"QueueUrl\":");
        json::push_string(&mut out, self.queue_url);
        out.extend_from_slice(b",\"MessageBody\":");
        json::push_string(&mut out, self.message_body);
        out.push(b'}');
        out
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SendMessageBatch<'a> {
    pub queue_url: &'a str,
    pub entries: Vec<SendEntry>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SendEntry {
    pub id: String,
    pub message_body: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_group_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_deduplication_id: Option<String>,
}

impl SendMessageBatch<'_> {
    /// Serializes the request as `to_body` does, with a faster escaper for
    /// the message bodies.
    pub fn to_body(&self) -> Vec<u8> {
        let bodies: usize = self.entries.iter().map(|entry| entry.message_body.len() + 128).sum();
        let mut out = Vec::with_capacity(self.queue_url.len() + bodies + 64);
        out.extend_from_slice(b"{\"QueueUrl\":");
        json::push_string(&mut out, self.queue_url);
        out.extend_from_slice(b",\"Entries\":[");
        for (index, entry) in self.entries.iter().enumerate() {
            if index > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"Id\":");
            json::push_string(&mut out, &entry.id);
            out.extend_from_slice(b",\"MessageBody\":");
            json::push_string(&mut out, &entry.message_body);
            if let Some(group) = &entry.message_group_id {
                out.extend_from_slice(b",\"MessageGroupId\":");
                json::push_string(&mut out, group);
            }
            if let Some(deduplication_id) = &entry.message_deduplication_id {
                out.extend_from_slice(b",\"MessageDeduplicationId\":");
                json::push_string(&mut out, deduplication_id);
            }
            out.push(b'}');
        }
        out.extend_from_slice(b"]}");
        out
    }
}

/// Output of SendMessageBatch and DeleteMessageBatch. Only the failures
/// matter: a response without `Failed` counts every entry as sent, which
/// is how the null server's fixed body is counted.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchOutput {
    #[serde(default)]
    pub failed: Vec<BatchFailure>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchFailure {
    #[serde(default)]
    pub code: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReceiveMessage<'a> {
    pub queue_url: &'a str,
    pub max_number_of_messages: u32,
    pub wait_time_seconds: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReceiveMessageOutput {
    #[serde(default)]
    pub messages: Vec<ReceivedMessage>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReceivedMessage {
    pub receipt_handle: String,
    pub body: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteMessageBatch<'a> {
    pub queue_url: &'a str,
    pub entries: Vec<DeleteEntry>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteEntry {
    pub id: String,
    pub receipt_handle: String,
}

/// Serializes a request body. The shapes above contain only strings,
/// numbers and maps with string keys, so serialization cannot fail.
pub fn to_body<T: Serialize>(request: &T) -> Vec<u8> {
    serde_json::to_vec(request).unwrap_or_default()
}

/// Builds a message body of exactly `size` bytes (at least
/// `MIN_BODY_SIZE`): the sequence number and the send time in microseconds
/// since the start of the run, in hexadecimal, then padding.
pub fn message_body(sequence: u64, sent_micros: u64, size: usize) -> String {
    let mut body = String::with_capacity(size.max(MIN_BODY_SIZE));
    let _ = write!(body, "{sequence:016x}:{sent_micros:016x}:");
    if body.len() < size {
        // `str::repeat` copies in doubling blocks instead of pushing one
        // character at a time.
        body.push_str(&"x".repeat(size - body.len()));
    }
    body
}

/// Reads the sequence number and the send time from a body made by
/// `message_body`.
pub fn parse_body(body: &str) -> Option<(u64, u64)> {
    let sequence = u64::from_str_radix(body.get(..16)?, 16).ok()?;
    let sent = u64::from_str_radix(body.get(17..33)?, 16).ok()?;
    Some((sequence, sent))
}

/// Reads the sequence number and the send time from a received body: a
/// bench body as sent, an SNS notification that carries one in `Message`
/// (delivery that is not raw), or an EventBridge event that carries one in
/// `detail.b`.
pub fn parse_delivered_body(body: &str) -> Option<(u64, u64)> {
    if let Some(parsed) = parse_body(body) {
        return Some(parsed);
    }
    if !body.starts_with('{') {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let inner = value.get("Message").or_else(|| value.get("detail").and_then(|detail| detail.get("b")))?;
    parse_body(inner.as_str()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_round_trip() {
        let body = message_body(42, 1_234_567, 1024);
        assert_eq!(body.len(), 1024);
        assert_eq!(parse_body(&body), Some((42, 1_234_567)));
    }

    #[test]
    fn body_minimum_size() {
        let body = message_body(u64::MAX, u64::MAX, MIN_BODY_SIZE);
        assert_eq!(body.len(), MIN_BODY_SIZE);
        assert_eq!(parse_body(&body), Some((u64::MAX, u64::MAX)));
    }

    #[test]
    fn send_body_matches_serde_json() {
        let body = format!("{}\"quoted\"\n\u{1}é", message_body(7, 9, 64));
        let request = SendMessage { queue_url: "http://127.0.0.1:4566/000000000000/a\"b", message_body: &body };
        assert_eq!(String::from_utf8_lossy(&request.to_body()), String::from_utf8_lossy(&to_body(&request)));
    }

    #[test]
    fn batch_body_matches_serde_json() {
        let entry = |id: &str, body: String, group: Option<&str>| SendEntry {
            id: id.to_string(),
            message_body: body,
            message_group_id: group.map(str::to_string),
            message_deduplication_id: group.map(|_| format!("dedup-{id}")),
        };
        let entries = vec![
            entry("0", message_body(1, 2, 1024), None),
            entry("1", "tab\there \\ \u{7F} 😀".to_string(), Some("group-1")),
            entry("2", message_body(3, 4, MIN_BODY_SIZE), Some("group-2")),
        ];
        let request = SendMessageBatch { queue_url: "http://127.0.0.1:4566/000000000000/q", entries };
        assert_eq!(String::from_utf8_lossy(&request.to_body()), String::from_utf8_lossy(&to_body(&request)));

        let empty = SendMessageBatch { queue_url: "q", entries: Vec::new() };
        assert_eq!(String::from_utf8_lossy(&empty.to_body()), String::from_utf8_lossy(&to_body(&empty)));
    }

    #[test]
    fn foreign_body_ignored() {
        assert_eq!(parse_body("hello"), None);
    }

    #[test]
    fn delivered_bodies_in_envelopes() {
        let body = message_body(7, 99, 64);
        assert_eq!(parse_delivered_body(&body), Some((7, 99)));
        let notification = serde_json::json!({"Type": "Notification", "Message": body}).to_string();
        assert_eq!(parse_delivered_body(&notification), Some((7, 99)));
        let event = serde_json::json!({"source": "postroom.bench", "detail": {"b": body}}).to_string();
        assert_eq!(parse_delivered_body(&event), Some((7, 99)));
        assert_eq!(parse_delivered_body(r#"{"detail":{}}"#), None);
        assert_eq!(parse_delivered_body("not a bench body"), None);
    }
}
