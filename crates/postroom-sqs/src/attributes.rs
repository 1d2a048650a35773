//! Queue attributes: validation of settable ones and the rendering of
//! `GetQueueAttributes`.

use crate::error::{ErrorKind, SqsError};
use crate::service::queue_arn;
use postroom_queue::config::{NumericAttribute, NUMERIC_ATTRIBUTES};
use postroom_store::{QueueCounts, QueueRecord};
use std::collections::BTreeMap;

/// Attributes that `GetQueueAttributes` returns for `All`, in this order.
const READABLE: &[&str] = &[
    "Policy",
    "VisibilityTimeout",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
    "ApproximateNumberOfMessagesDelayed",
    "DelaySeconds",
    "ReceiveMessageWaitTimeSeconds",
    "RedrivePolicy",
    "RedriveAllowPolicy",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "SqsManagedSseEnabled",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
];

/// Attributes that belong to FIFO queues only.
const FIFO_ONLY: &[&str] = &["ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"];

/// Attributes of a new FIFO queue before the requested ones apply.
pub fn fifo_defaults() -> BTreeMap<String, String> {
    [
        ("FifoQueue", "true"),
        ("ContentBasedDeduplication", "false"),
        ("DeduplicationScope", "messageQueue"),
        ("FifoThroughputLimit", "perQueue"),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value.to_string()))
    .collect()
}

/// Checks the attributes that a queue would have after a change: FIFO-only
/// attributes on a FIFO queue, and a valid pair of deduplication scope and
/// throughput limit.
pub fn check_combination(resulting: &BTreeMap<String, String>) -> Result<(), SqsError> {
    let fifo = resulting.get("FifoQueue").is_some_and(|value| value == "true");
    if !fifo {
        if let Some(name) = FIFO_ONLY.iter().find(|name| resulting.contains_key(**name)) {
            return Err(unknown_attribute(name));
        }
        return Ok(());
    }
    let per_group_limit = resulting.get("FifoThroughputLimit").is_some_and(|v| v == "perMessageGroupId");
    let per_group_scope = resulting.get("DeduplicationScope").is_some_and(|v| v == "messageGroup");
    if per_group_limit && !per_group_scope {
        return Err(SqsError::new(
            ErrorKind::InvalidAttributeValue,
            "Invalid value for the parameter FifoThroughputLimit. Reason: perMessageGroupId is valid only when DeduplicationScope is messageGroup.",
        ));
    }
    Ok(())
}

fn unknown_attribute(name: &str) -> SqsError {
    SqsError::new(ErrorKind::InvalidAttributeName, format!("Unknown Attribute {name}."))
}

fn invalid_value(name: &str) -> SqsError {
    SqsError::new(ErrorKind::InvalidAttributeValue, format!("Invalid value for the parameter {name}."))
}

fn numeric(attribute: &NumericAttribute, value: &str) -> Result<String, SqsError> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid_value(attribute.name));
    }
    let parsed: u64 = value.parse().map_err(|_| invalid_value(attribute.name))?;
    if parsed < attribute.min || parsed > attribute.max {
        return Err(invalid_value(attribute.name));
    }
    Ok(parsed.to_string())
}

fn json_object(name: &str, value: &str) -> Result<String, SqsError> {
    match serde_json::from_str::<serde_json::Value>(value) {
        Ok(serde_json::Value::Object(_)) => Ok(value.to_string()),
        _ => Err(invalid_value(name)),
    }
}

/// Settable attributes after validation: values to store, and attributes to
/// remove because they were set to an empty string.
#[derive(Debug, Default)]
pub struct ValidatedAttributes {
    pub set: BTreeMap<String, String>,
    pub remove: Vec<String>,
}

/// Checks settable attributes and returns their canonical values.
pub fn validate(attributes: &BTreeMap<String, String>, creating: bool) -> Result<ValidatedAttributes, SqsError> {
    let mut validated = ValidatedAttributes::default();
    for (name, value) in attributes {
        if let Some(attribute) = NUMERIC_ATTRIBUTES.iter().find(|a| a.name == name) {
            validated.set.insert(name.clone(), numeric(attribute, value)?);
            continue;
        }
        match name.as_str() {
            // The service checks a redrive policy against the queues it
            // names before storing it.
            "RedrivePolicy" if !value.is_empty() => {
                validated.set.insert(name.clone(), value.clone());
            }
            "RedriveAllowPolicy" if !value.is_empty() => {
                validated.set.insert(name.clone(), redrive_allow_policy(value)?);
            }
            "Policy" | "RedrivePolicy" | "RedriveAllowPolicy" => {
                if value.is_empty() {
                    validated.remove.push(name.clone());
                } else {
                    validated.set.insert(name.clone(), json_object(name, value)?);
                }
            }
            "KmsMasterKeyId" => {
                if value.is_empty() {
                    validated.remove.push(name.clone());
                } else {
                    validated.set.insert(name.clone(), value.clone());
                }
            }
            "SqsManagedSseEnabled" => {
                let flag = value.to_ascii_lowercase();
                if flag != "true" && flag != "false" {
                    return Err(invalid_value(name));
                }
                validated.set.insert(name.clone(), flag);
            }
            "FifoQueue" => {
                let flag = value.to_ascii_lowercase();
                if !creating {
                    return Err(SqsError::new(
                        ErrorKind::InvalidAttributeValue,
                        "Invalid value for the parameter FifoQueue. Reason: Modifying queue type is not supported.",
                    ));
                }
                match flag.as_str() {
                    "true" => {
                        validated.set.insert(name.clone(), flag);
                    }
                    "false" => {}
                    _ => return Err(invalid_value(name)),
                }
            }
            "ContentBasedDeduplication" => {
                let flag = value.to_ascii_lowercase();
                if flag != "true" && flag != "false" {
                    return Err(invalid_value(name));
                }
                validated.set.insert(name.clone(), flag);
            }
            "DeduplicationScope" => {
                if value != "messageQueue" && value != "messageGroup" {
                    return Err(invalid_value(name));
                }
                validated.set.insert(name.clone(), value.clone());
            }
            "FifoThroughputLimit" => {
                if value != "perQueue" && value != "perMessageGroupId" {
                    return Err(invalid_value(name));
                }
                validated.set.insert(name.clone(), value.clone());
            }
            _ => return Err(unknown_attribute(name)),
        }
    }
    Ok(validated)
}

/// Sources allowed to use a queue as their dead-letter queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RedriveAllowPolicy {
    AllowAll,
    DenyAll,
    ByQueue(Vec<String>),
}

impl RedriveAllowPolicy {
    /// Reads the canonical form stored by [`redrive_allow_policy`].
    pub fn parse(text: &str) -> Option<Self> {
        let value: serde_json::Value = serde_json::from_str(text).ok()?;
        match value.get("redrivePermission")?.as_str()? {
            "allowAll" => Some(Self::AllowAll),
            "denyAll" => Some(Self::DenyAll),
            "byQueue" => Some(Self::ByQueue(
                value.get("sourceQueueArns")?.as_array()?.iter().filter_map(|arn| arn.as_str().map(str::to_string)).collect(),
            )),
            _ => None,
        }
    }

    pub fn allows(&self, source_arn: &str) -> bool {
        match self {
            Self::AllowAll => true,
            Self::DenyAll => false,
            Self::ByQueue(arns) => arns.iter().any(|arn| arn == source_arn),
        }
    }
}

/// Maximum number of source queues in a `byQueue` redrive allow policy.
const MAX_ALLOWED_SOURCE_QUEUES: usize = 10;

/// Checks a `RedriveAllowPolicy` and returns its canonical form.
fn redrive_allow_policy(text: &str) -> Result<String, SqsError> {
    let invalid = |reason: &str| SqsError::invalid_parameter("RedriveAllowPolicy", text, reason);
    let value: serde_json::Value = serde_json::from_str(text).map_err(|_| invalid("The policy is not valid JSON."))?;
    let object = value.as_object().ok_or_else(|| invalid("The policy must be a JSON object."))?;
    if let Some(key) = object.keys().find(|key| *key != "redrivePermission" && *key != "sourceQueueArns") {
        return Err(invalid(&format!("Unknown key {key}; the policy takes redrivePermission and sourceQueueArns.")));
    }
    let permission = object
        .get("redrivePermission")
        .and_then(|p| p.as_str())
        .ok_or_else(|| invalid("The policy must contain redrivePermission: allowAll, denyAll or byQueue."))?;
    let arns = object.get("sourceQueueArns");
    match permission {
        "allowAll" | "denyAll" => {
            if arns.is_some() {
                return Err(invalid("sourceQueueArns is allowed only when redrivePermission is byQueue."));
            }
            Ok(serde_json::json!({"redrivePermission": permission}).to_string())
        }
        "byQueue" => {
            let arns = arns
                .and_then(|a| a.as_array())
                .filter(|a| !a.is_empty())
                .ok_or_else(|| invalid("byQueue needs sourceQueueArns with 1 to 10 queue ARNs."))?;
            if arns.len() > MAX_ALLOWED_SOURCE_QUEUES {
                return Err(invalid("sourceQueueArns can list at most 10 queue ARNs."));
            }
            for arn in arns {
                let valid = arn.as_str().and_then(postroom_queue::arn::parse_queue_arn).is_some();
                if !valid {
                    return Err(invalid(&format!("{arn} is not a queue ARN.")));
                }
            }
            Ok(serde_json::json!({"redrivePermission": "byQueue", "sourceQueueArns": arns}).to_string())
        }
        other => Err(invalid(&format!("{other} is not a redrive permission; use allowAll, denyAll or byQueue."))),
    }
}

/// Checks the names of a `GetQueueAttributes` request and expands `All`.
pub fn requested_names(names: &[String]) -> Result<Vec<&'static str>, SqsError> {
    let mut requested = Vec::new();
    for name in names {
        if name == "All" {
            return Ok(READABLE.to_vec());
        }
        let known = READABLE.iter().find(|known| **known == name).ok_or_else(|| unknown_attribute(name))?;
        if !requested.contains(known) {
            requested.push(*known);
        }
    }
    Ok(requested)
}

/// Renders the requested attributes of a queue. Attributes that have no
/// value on this queue are left out, as SQS leaves them out.
pub fn render(queue: &QueueRecord, counts: QueueCounts, names: &[&str]) -> BTreeMap<String, String> {
    let mut rendered = BTreeMap::new();
    for &name in names {
        let value = match name {
            "ApproximateNumberOfMessages" => Some(counts.visible.to_string()),
            "ApproximateNumberOfMessagesNotVisible" => Some(counts.in_flight.to_string()),
            "ApproximateNumberOfMessagesDelayed" => Some(counts.delayed.to_string()),
            "CreatedTimestamp" => Some((queue.created_at / 1000).to_string()),
            "LastModifiedTimestamp" => Some((queue.last_modified_at / 1000).to_string()),
            "QueueArn" => Some(queue_arn(&queue.key)),
            "KmsDataKeyReusePeriodSeconds" if queue.attributes.contains_key("KmsMasterKeyId") => Some(
                queue.attributes.get(name).cloned().unwrap_or_else(|| "300".to_string()),
            ),
            "KmsDataKeyReusePeriodSeconds" => None,
            other => queue.attributes.get(other).cloned(),
        };
        if let Some(value) = value {
            rendered.insert(name.to_string(), value);
        }
    }
    rendered
}

/// Names of the requested attributes whose values differ from the queue's.
pub fn differing(queue: &QueueRecord, requested: &BTreeMap<String, String>) -> Vec<String> {
    requested
        .iter()
        .filter(|(name, value)| queue.attributes.get(*name) != Some(*value))
        .map(|(name, _)| name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn ranges_are_enforced() {
        let cases = [
            ("VisibilityTimeout", "0", true),
            ("VisibilityTimeout", "43200", true),
            ("VisibilityTimeout", "43201", false),
            ("VisibilityTimeout", "-1", false),
            ("VisibilityTimeout", "ten", false),
            ("VisibilityTimeout", " 5", false),
            ("VisibilityTimeout", "+5", false),
            ("MessageRetentionPeriod", "59", false),
            ("MessageRetentionPeriod", "1209600", true),
            ("DelaySeconds", "901", false),
            ("ReceiveMessageWaitTimeSeconds", "20", true),
            ("ReceiveMessageWaitTimeSeconds", "21", false),
            ("MaximumMessageSize", "1023", false),
            ("MaximumMessageSize", "1048576", true),
            ("MaximumMessageSize", "1048577", false),
        ];
        for (name, value, ok) in cases {
            let result = validate(&map(&[(name, value)]), true);
            assert_eq!(result.is_ok(), ok, "{name}={value}");
            if let Err(error) = result {
                assert_eq!(error.kind, ErrorKind::InvalidAttributeValue);
            }
        }
    }

    #[test]
    fn redrive_allow_policies() {
        let by_queue = r#"{"redrivePermission":"byQueue","sourceQueueArns":["arn:aws:sqs:us-east-1:000000000000:a"]}"#;
        let canonical = redrive_allow_policy(by_queue).expect("valid policy");
        let parsed = RedriveAllowPolicy::parse(&canonical).expect("parses");
        assert!(parsed.allows("arn:aws:sqs:us-east-1:000000000000:a"));
        assert!(!parsed.allows("arn:aws:sqs:us-east-1:000000000000:b"));
        for bad in [
            "not json",
            r#"{"redrivePermission":"maybe"}"#,
            r#"{"redrivePermission":"byQueue"}"#,
            r#"{"redrivePermission":"byQueue","sourceQueueArns":["nope"]}"#,
            r#"{"redrivePermission":"allowAll","sourceQueueArns":["arn:aws:sqs:us-east-1:000000000000:a"]}"#,
            r#"{"redrivePermission":"allowAll","extra":1}"#,
        ] {
            let error = redrive_allow_policy(bad).unwrap_err();
            assert_eq!(error.kind, ErrorKind::InvalidParameterValue, "{bad}");
        }
        let eleven: Vec<String> = (0..11).map(|i| format!("arn:aws:sqs:us-east-1:000000000000:q{i}")).collect();
        let too_many = serde_json::json!({"redrivePermission": "byQueue", "sourceQueueArns": eleven}).to_string();
        assert!(redrive_allow_policy(&too_many).is_err());
    }

    #[test]
    fn fifo_combinations() {
        let mut attributes = fifo_defaults();
        assert!(check_combination(&attributes).is_ok());
        attributes.insert("FifoThroughputLimit".into(), "perMessageGroupId".into());
        assert_eq!(check_combination(&attributes).unwrap_err().kind, ErrorKind::InvalidAttributeValue);
        attributes.insert("DeduplicationScope".into(), "messageGroup".into());
        assert!(check_combination(&attributes).is_ok(), "high-throughput mode");
        let error = validate(&map(&[("FifoQueue", "true")]), false).unwrap_err();
        assert_eq!(error.kind, ErrorKind::InvalidAttributeValue, "the queue type cannot change");
        assert!(validate(&map(&[("DeduplicationScope", "queue")]), true).is_err());
    }

    #[test]
    fn names_are_checked() {
        let error = validate(&map(&[("QueueArn", "x")]), false).unwrap_err();
        assert_eq!(error.kind, ErrorKind::InvalidAttributeName);
        let error = check_combination(&map(&[("ContentBasedDeduplication", "true")])).unwrap_err();
        assert_eq!(error.kind, ErrorKind::InvalidAttributeName, "FIFO attributes on a standard queue");
        assert_eq!(validate(&map(&[("Policy", "[]")]), true).unwrap_err().kind, ErrorKind::InvalidAttributeValue);
        let cleared = validate(&map(&[("Policy", "")]), false).expect("empty clears");
        assert_eq!(cleared.remove, ["Policy"]);
        assert!(requested_names(&["Nope".into()]).is_err());
        assert_eq!(requested_names(&["All".into()]).expect("all").len(), READABLE.len());
    }
}
