//! Publish and PublishBatch.

use crate::error::{ErrorKind, SnsError};
use crate::model::{Subscription, Topic};
use crate::service::{required, scope_of, text, SnsContext, SnsService};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use postroom_pattern::{MessageAttribute, Pattern};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

/// Largest message, attributes included, in bytes.
const MAX_MESSAGE_BYTES: usize = 262_144;
const MAX_ATTRIBUTES: usize = 10;
/// Length of the FIFO deduplication window, in milliseconds.
const DEDUPLICATION_WINDOW_MS: u64 = 300_000;
const DEDUPLICATION_KIND: &str = "sns/deduplication";

/// A message attribute as published.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Attribute {
    pub data_type: String,
    /// The string value, or the base64 text of a binary value.
    pub value: String,
}

/// A published message, as delivery jobs carry it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Published {
    pub message_id: String,
    pub topic_arn: String,
    pub message: String,
    /// Per-protocol messages of `MessageStructure` `json`.
    pub structured: Option<BTreeMap<String, String>>,
    pub subject: Option<String>,
    pub attributes: BTreeMap<String, Attribute>,
    pub group_id: Option<String>,
    pub deduplication_id: Option<String>,
    pub sequence_number: Option<String>,
    pub timestamp: u64,
    pub signature_version: String,
}

impl Published {
    /// Returns the message for one protocol: its entry of a structured message, or
    /// the default.
    pub fn message_for(&self, protocol: &str) -> String {
        match &self.structured {
            Some(messages) => messages.get(protocol).or_else(|| messages.get("default")).cloned().unwrap_or_default(),
            None => self.message.clone(),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct DeduplicationRecord {
    message_id: String,
    sequence_number: Option<String>,
    expires_at: u64,
}

/// Sequence numbers of FIFO topics: the clock in milliseconds times 10^6
/// plus a counter, so they grow within this process.
// NOTE: nodes sharing a database number independently, so their sequence
// numbers interleave by time, not by a shared counter.
fn next_sequence_number(now: u64) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed) % 1_000_000;
    (u128::from(now) * 1_000_000 + u128::from(count)).to_string()
}

fn check_attributes(input: &Value) -> Result<BTreeMap<String, Attribute>, SnsError> {
    let mut attributes = BTreeMap::new();
    let Some(map) = input.get("MessageAttributes").and_then(Value::as_object) else { return Ok(attributes) };
    if map.len() > MAX_ATTRIBUTES {
        return Err(SnsError::invalid(format!("MessageAttributes Reason: Number of message attributes [{}] exceeds the allowed maximum [{MAX_ATTRIBUTES}].", map.len())));
    }
    for (name, value) in map {
        let invalid = |reason: &str| SnsError::invalid(format!("The message attribute '{name}' {reason}"));
        let data_type = text(value, "DataType").filter(|t| !t.is_empty()).ok_or_else(|| invalid("must contain non-empty message attribute type."))?;
        let base = data_type.split('.').next().unwrap_or_default();
        let stored = match base {
            "Binary" => {
                let encoded = text(value, "BinaryValue").filter(|v| !v.is_empty()).ok_or_else(|| invalid("must contain non-empty binary value."))?;
                STANDARD.decode(encoded).map_err(|_| invalid("has a binary value that is not base64."))?;
                encoded.to_string()
            }
            "String" | "Number" => {
                let string = text(value, "StringValue").filter(|v| !v.is_empty()).ok_or_else(|| invalid(&format!("must contain non-empty message attribute value for message attribute type '{data_type}'.")))?;
                if data_type == "String.Array" && serde_json::from_str::<Value>(string).map_or(true, |v| !v.is_array()) {
                    return Err(invalid("has an invalid message attribute value for type String.Array."));
                }
                if base == "Number" && string.parse::<f64>().is_err() {
                    return Err(invalid("has an invalid message attribute value for type Number."));
                }
                string.to_string()
            }
            _ => return Err(invalid("has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.")),
        };
        attributes.insert(name.clone(), Attribute { data_type: data_type.to_string(), value: stored });
    }
    Ok(attributes)
}

fn check_subject(subject: &str) -> Result<(), SnsError> {
    let valid = !subject.is_empty()
        && subject.chars().count() <= 100
        && subject.chars().all(|c| !c.is_control())
        && subject.chars().next().is_some_and(|c| c.is_ascii_graphic() || c.is_alphanumeric());
    if valid {
        Ok(())
    } else {
        Err(SnsError::invalid("Subject"))
    }
}

/// Returns whether a subscription's filter policy lets a message through.
pub(crate) fn passes_filter(subscription: &Subscription, published: &Published) -> bool {
    let Some(policy) = subscription.attributes.get("FilterPolicy").filter(|p| !p.is_empty()) else { return true };
    let scope = subscription.attributes.get("FilterPolicyScope").map(String::as_str).unwrap_or("MessageAttributes");
    let Ok(pattern) = Pattern::filter_policy(policy, scope_of(scope)) else { return false };
    if scope == "MessageBody" {
        return serde_json::from_str::<Value>(&published.message_for(&subscription.protocol))
            .is_ok_and(|body| pattern.matches_json(&body));
    }
    let attributes: BTreeMap<String, MessageAttribute> = published
        .attributes
        .iter()
        .map(|(name, attribute)| (name.clone(), MessageAttribute { data_type: attribute.data_type.clone(), value: attribute.value.clone() }))
        .collect();
    pattern.matches_attributes(&attributes)
}

impl SnsService {
    /// Checks one message and builds it, without queueing it.
    fn build(&self, topic: &Topic, input: &Value, now: u64) -> Result<Published, SnsError> {
        let message = text(input, "Message").ok_or_else(|| SnsError::invalid("Message"))?;
        if message.is_empty() {
            return Err(SnsError::invalid("Empty message"));
        }
        let subject = text(input, "Subject");
        if let Some(subject) = subject {
            check_subject(subject)?;
        }
        let structured = match text(input, "MessageStructure") {
            None => None,
            Some("json") => {
                let parsed: Value = serde_json::from_str(message)
                    .ok()
                    .filter(Value::is_object)
                    .ok_or_else(|| SnsError::invalid("Message Structure - JSON message body failed to parse"))?;
                let messages: BTreeMap<String, String> =
                    parsed.as_object().into_iter().flatten().filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string()))).collect();
                if !messages.contains_key("default") {
                    return Err(SnsError::invalid("Message Structure - No default entry in JSON message body"));
                }
                Some(messages)
            }
            Some(_) => return Err(SnsError::invalid("MessageStructure")),
        };
        let attributes = check_attributes(input)?;
        let size = message.len() + attributes.iter().map(|(n, a)| n.len() + a.data_type.len() + a.value.len()).sum::<usize>();
        if size > MAX_MESSAGE_BYTES {
            return Err(SnsError::invalid("Message too long"));
        }
        let group_id = text(input, "MessageGroupId").map(str::to_string);
        let mut deduplication_id = text(input, "MessageDeduplicationId").map(str::to_string);
        for (name, value) in [("MessageGroupId", &group_id), ("MessageDeduplicationId", &deduplication_id)] {
            if value.as_ref().is_some_and(|v| v.is_empty() || v.len() > 128 || !v.chars().all(|c| c.is_ascii_graphic())) {
                return Err(SnsError::invalid(name));
            }
        }
        if topic.is_fifo() {
            if group_id.is_none() {
                return Err(SnsError::invalid("The MessageGroupId parameter is required for FIFO topics"));
            }
            if deduplication_id.is_none() {
                if topic.attributes.get("ContentBasedDeduplication").is_some_and(|v| v == "true") {
                    use sha2::Digest;
                    let digest = sha2::Sha256::digest(message.as_bytes());
                    deduplication_id = Some(digest.iter().map(|b| format!("{b:02x}")).collect());
                } else {
                    return Err(SnsError::invalid(
                        "The topic should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly",
                    ));
                }
            }
        } else if deduplication_id.is_some() {
            return Err(SnsError::invalid("MessageDeduplicationId Reason: The request includes MessageDeduplicationId parameter that is not valid for this topic type"));
        }
        Ok(Published {
            message_id: uuid::Uuid::new_v4().to_string(),
            topic_arn: topic.arn(),
            message: message.to_string(),
            structured,
            subject: subject.map(str::to_string),
            attributes,
            sequence_number: topic.is_fifo().then(|| next_sequence_number(now)),
            group_id,
            deduplication_id,
            timestamp: now,
            signature_version: topic.attributes.get("SignatureVersion").cloned().unwrap_or_else(|| "1".into()),
        })
    }

    /// Queues a message for every confirmed subscription that its filter
    /// lets through, or returns the original of a FIFO duplicate.
    async fn accept(&self, topic: &Topic, published: Published) -> Result<Published, SnsError> {
        if let Some(id) = &published.deduplication_id {
            let key = format!("{}|{id}", topic.arn());
            let record = DeduplicationRecord {
                message_id: published.message_id.clone(),
                sequence_number: published.sequence_number.clone(),
                expires_at: published.timestamp + DEDUPLICATION_WINDOW_MS,
            };
            let bytes = serde_json::to_vec(&record).map_err(SnsError::internal)?;
            if !self.engine.store().create_resource(DEDUPLICATION_KIND, &key, bytes.clone()).await? {
                let stored = self.engine.store().get_resource(DEDUPLICATION_KIND, &key).await?.unwrap_or_default();
                match serde_json::from_slice::<DeduplicationRecord>(&stored) {
                    Ok(original) if original.expires_at > published.timestamp => {
                        return Ok(Published { message_id: original.message_id, sequence_number: original.sequence_number, ..published });
                    }
                    _ => self.engine.store().put_resource(DEDUPLICATION_KIND, &key, bytes).await?,
                }
            }
        }
        let subscriptions = self.subscriptions_of(&topic.arn()).await?;
        let targets: Vec<&Subscription> =
            subscriptions.iter().filter(|s| s.confirmed && passes_filter(s, &published)).collect();
        self.queue_deliveries(topic, &published, &targets).await?;
        Ok(published)
    }

    /// Publishes a message on behalf of another service, such as an
    /// EventBridge target. Returns the message id.
    pub async fn publish_message(&self, topic_arn: &str, message: &str, message_group_id: Option<&str>) -> Result<String, SnsError> {
        let topic = self.load_topic(topic_arn).await?;
        let mut input = json!({"Message": message});
        if topic.is_fifo() {
            input["MessageGroupId"] = json!(message_group_id.unwrap_or("default"));
            if topic.attributes.get("ContentBasedDeduplication").is_none_or(|v| v != "true") {
                input["MessageDeduplicationId"] = json!(uuid::Uuid::new_v4().simple().to_string());
            }
        }
        let published = self.build(&topic, &input, self.engine.clock().now())?;
        Ok(self.accept(&topic, published).await?.message_id)
    }

    pub(crate) async fn publish(&self, _context: &SnsContext, input: &Value) -> Result<Value, SnsError> {
        let arn = text(input, "TopicArn").or_else(|| text(input, "TargetArn")).ok_or_else(|| SnsError::invalid("TopicArn or TargetArn Reason: no value for required parameter"))?;
        let topic = self.load_topic(arn).await?;
        let published = self.build(&topic, input, self.engine.clock().now())?;
        let accepted = self.accept(&topic, published).await?;
        let mut output = json!({"MessageId": accepted.message_id});
        if let Some(sequence) = accepted.sequence_number {
            output["SequenceNumber"] = json!(sequence);
        }
        Ok(output)
    }

    pub(crate) async fn publish_batch(&self, _context: &SnsContext, input: &Value) -> Result<Value, SnsError> {
        let topic = self.load_topic(required(input, "TopicArn")?).await?;
        let entries = input.get("PublishBatchRequestEntries").and_then(Value::as_array).cloned().unwrap_or_default();
        if entries.is_empty() {
            return Err(SnsError::new(ErrorKind::EmptyBatchRequest, "The batch request doesn't contain any entries"));
        }
        if entries.len() > 10 {
            return Err(SnsError::new(ErrorKind::TooManyEntriesInBatchRequest, "The batch request contains more entries than permissible"));
        }
        let mut seen = HashSet::new();
        for entry in &entries {
            let id = text(entry, "Id").unwrap_or_default();
            if id.is_empty() || id.len() > 80 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                return Err(SnsError::new(ErrorKind::InvalidBatchEntryId, "The Id of a batch entry in a batch request doesn't abide by the specification"));
            }
            if !seen.insert(id) {
                return Err(SnsError::new(ErrorKind::BatchEntryIdsNotDistinct, "Two or more batch entries in the request have the same Id"));
            }
        }
        let now = self.engine.clock().now();
        let mut successful = Vec::new();
        let mut failed = Vec::new();
        for entry in &entries {
            let id = text(entry, "Id").unwrap_or_default();
            match self.build(&topic, entry, now) {
                Ok(published) => {
                    let accepted = self.accept(&topic, published).await?;
                    let mut result = json!({"Id": id, "MessageId": accepted.message_id});
                    if let Some(sequence) = accepted.sequence_number {
                        result["SequenceNumber"] = json!(sequence);
                    }
                    successful.push(result);
                }
                Err(error) => failed.push(json!({"Id": id, "Code": error.kind.code(), "Message": error.message, "SenderFault": true})),
            }
        }
        Ok(json!({"Successful": successful, "Failed": failed}))
    }
}
