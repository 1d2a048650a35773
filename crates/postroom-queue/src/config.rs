//! Queue attributes: their names, ranges and defaults, and the typed view
//! that the engine reads.

use std::collections::BTreeMap;

/// Range and default of one numeric queue attribute, in seconds or bytes.
#[derive(Clone, Copy, Debug)]
pub struct NumericAttribute {
    pub name: &'static str,
    pub min: u64,
    pub max: u64,
    pub default: u64,
}

pub const VISIBILITY_TIMEOUT: NumericAttribute =
    NumericAttribute { name: "VisibilityTimeout", min: 0, max: 43_200, default: 30 };
pub const MESSAGE_RETENTION_PERIOD: NumericAttribute =
    NumericAttribute { name: "MessageRetentionPeriod", min: 60, max: 1_209_600, default: 345_600 };
pub const DELAY_SECONDS: NumericAttribute = NumericAttribute { name: "DelaySeconds", min: 0, max: 900, default: 0 };
pub const RECEIVE_MESSAGE_WAIT_TIME_SECONDS: NumericAttribute =
    NumericAttribute { name: "ReceiveMessageWaitTimeSeconds", min: 0, max: 20, default: 0 };
pub const MAXIMUM_MESSAGE_SIZE: NumericAttribute =
    NumericAttribute { name: "MaximumMessageSize", min: 1_024, max: 1_048_576, default: 1_048_576 };
pub const KMS_DATA_KEY_REUSE_PERIOD_SECONDS: NumericAttribute =
    NumericAttribute { name: "KmsDataKeyReusePeriodSeconds", min: 60, max: 86_400, default: 300 };

pub const NUMERIC_ATTRIBUTES: [NumericAttribute; 6] = [
    VISIBILITY_TIMEOUT,
    MESSAGE_RETENTION_PERIOD,
    DELAY_SECONDS,
    RECEIVE_MESSAGE_WAIT_TIME_SECONDS,
    MAXIMUM_MESSAGE_SIZE,
    KMS_DATA_KEY_REUSE_PERIOD_SECONDS,
];

/// Maximum time a message may stay invisible after one receive, in seconds.
pub const MAX_VISIBILITY_TOTAL_SECONDS: u64 = 43_200;
/// Maximum wait time of a long poll, in seconds.
pub const MAX_WAIT_TIME_SECONDS: u64 = 20;
/// Time after a deletion during which a queue of the same name cannot be
/// created, in seconds.
pub const RECREATE_AFTER_DELETE_SECONDS: u64 = 60;
/// Minimum time between two purges of one queue, in seconds.
pub const PURGE_COOLDOWN_SECONDS: u64 = 60;

/// Length of the FIFO deduplication window, in seconds.
pub const DEDUPLICATION_WINDOW_SECONDS: u64 = 300;
/// Time during which a retried FIFO receive attempt returns the same
/// messages, in seconds.
pub const RECEIVE_ATTEMPT_WINDOW_SECONDS: u64 = 300;

/// Returns whether the attributes describe a FIFO queue.
pub fn is_fifo(attributes: &BTreeMap<String, String>) -> bool {
    attributes.get("FifoQueue").is_some_and(|value| value == "true")
}

/// Formats a FIFO sequence number as SQS does: a string of digits that grows
/// with every message of the queue.
pub fn sequence_number(seq: u64) -> String {
    (10_000_000_000_000_000_000u128 + u128::from(seq)).to_string()
}

/// Typed values of the attributes that drive the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueConfig {
    pub visibility_timeout: u64,
    pub message_retention_period: u64,
    pub delay_seconds: u64,
    pub receive_message_wait_time_seconds: u64,
    pub maximum_message_size: u64,
}

impl QueueConfig {
    /// Reads the stored attributes, falling back to the defaults for any
    /// that are missing or unreadable.
    pub fn from_attributes(attributes: &BTreeMap<String, String>) -> Self {
        let read = |attribute: NumericAttribute| {
            attributes
                .get(attribute.name)
                .and_then(|value| value.parse::<u64>().ok())
                .unwrap_or(attribute.default)
        };
        Self {
            visibility_timeout: read(VISIBILITY_TIMEOUT),
            message_retention_period: read(MESSAGE_RETENTION_PERIOD),
            delay_seconds: read(DELAY_SECONDS),
            receive_message_wait_time_seconds: read(RECEIVE_MESSAGE_WAIT_TIME_SECONDS),
            maximum_message_size: read(MAXIMUM_MESSAGE_SIZE),
        }
    }
}

/// Attributes stored on every new queue before the requested ones apply.
pub fn default_attributes() -> BTreeMap<String, String> {
    let mut attributes = BTreeMap::new();
    for attribute in [
        VISIBILITY_TIMEOUT,
        MESSAGE_RETENTION_PERIOD,
        DELAY_SECONDS,
        RECEIVE_MESSAGE_WAIT_TIME_SECONDS,
        MAXIMUM_MESSAGE_SIZE,
    ] {
        attributes.insert(attribute.name.to_string(), attribute.default.to_string());
    }
    attributes.insert("SqsManagedSseEnabled".to_string(), "true".to_string());
    attributes
}

/// A parsed `RedrivePolicy`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedrivePolicy {
    pub dead_letter_target_arn: String,
    pub max_receive_count: u32,
}

/// Range of `maxReceiveCount` in a redrive policy.
pub const MAX_RECEIVE_COUNT_RANGE: std::ops::RangeInclusive<u32> = 1..=1000;

impl RedrivePolicy {
    /// Parses a redrive policy whose shape the service has checked:
    /// `{"deadLetterTargetArn": "...", "maxReceiveCount": N}`, with the count
    /// as a number or a string of digits.
    pub fn parse(text: &str) -> Option<Self> {
        let value: serde_json::Value = serde_json::from_str(text).ok()?;
        let arn = value.get("deadLetterTargetArn")?.as_str()?.to_string();
        let count = match value.get("maxReceiveCount")? {
            serde_json::Value::Number(number) => number.as_u64()?,
            serde_json::Value::String(text) => text.trim().parse().ok()?,
            _ => return None,
        };
        Some(Self { dead_letter_target_arn: arn, max_receive_count: u32::try_from(count).ok()? })
    }

    /// Writes the canonical form that SQS returns.
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "deadLetterTargetArn": self.dead_letter_target_arn,
            "maxReceiveCount": self.max_receive_count,
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redrive_policy_round_trip() {
        let policy = RedrivePolicy { dead_letter_target_arn: "arn:aws:sqs:us-east-1:000000000000:dlq".into(), max_receive_count: 5 };
        assert_eq!(RedrivePolicy::parse(&policy.to_json()), Some(policy));
        let spaced = r#"{ "maxReceiveCount" : 3, "deadLetterTargetArn" : "arn:aws:sqs:us-east-1:000000000000:d" }"#;
        assert_eq!(RedrivePolicy::parse(spaced).map(|p| p.max_receive_count), Some(3));
    }
}
