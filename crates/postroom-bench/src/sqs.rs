//! The SQS requests and responses that the scenarios use, in the AWS JSON
//! 1.0 shapes, and the message body that carries its send time.

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
    fn foreign_body_ignored() {
        assert_eq!(parse_body("hello"), None);
    }
}
