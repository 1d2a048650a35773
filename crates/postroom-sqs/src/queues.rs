//! Handlers of the queue operations.

use crate::attributes;
use crate::error::{ErrorKind, SqsError};
use crate::service::{queue_arn, ranged, Empty, RequestContext, SqsService};
use crate::types::*;
use crate::validate;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use postroom_store::{CreateQueueOutcome, QueueKey, QueueUpdate};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

const MAX_TAGS: usize = 50;
const MAX_LIST_RESULTS: i64 = 1000;
const PERMISSION_ACTIONS: &[&str] = &[
    "*",
    "ChangeMessageVisibility",
    "DeleteMessage",
    "GetQueueAttributes",
    "GetQueueUrl",
    "ListDeadLetterSourceQueues",
    "PurgeQueue",
    "ReceiveMessage",
    "SendMessage",
];

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueueUrlOutput {
    queue_url: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListQueuesOutput {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    queue_urls: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Serialize)]
pub struct ListDeadLetterSourceQueuesOutput {
    #[serde(rename = "queueUrls")]
    queue_urls: Vec<String>,
    #[serde(rename = "NextToken", skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributesOutput {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    attributes: BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagsOutput {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    tags: BTreeMap<String, String>,
}

fn encode_token(name: &str) -> String {
    URL_SAFE_NO_PAD.encode(name)
}

fn decode_token(token: &str) -> Result<String, SqsError> {
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| SqsError::invalid_parameter("NextToken", token, "Invalid NextToken value."))
}

fn validate_tags(tags: &BTreeMap<String, String>) -> Result<(), SqsError> {
    for (key, value) in tags {
        if key.is_empty() || key.chars().count() > 128 {
            return Err(SqsError::new(ErrorKind::InvalidParameterValue, "Tag keys must be between 1 and 128 characters in length."));
        }
        if value.chars().count() > 256 {
            return Err(SqsError::new(ErrorKind::InvalidParameterValue, "Tag values must be between 0 and 256 characters in length."));
        }
        if key.to_ascii_lowercase().starts_with("aws:") {
            return Err(SqsError::new(ErrorKind::InvalidParameterValue, format!("Tag key {key} uses the reserved prefix aws:.")));
        }
    }
    Ok(())
}

fn label(label: Option<&str>) -> Result<&str, SqsError> {
    let label = label.ok_or_else(|| SqsError::missing_parameter("Label"))?;
    if label.is_empty() || label.len() > 80 || !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(SqsError::invalid_parameter(
            "Label",
            label,
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
        ));
    }
    Ok(label)
}

impl SqsService {
    pub(crate) async fn create_queue(&self, context: &RequestContext, input: CreateQueueInput) -> Result<QueueUrlOutput, SqsError> {
        let name = input.queue_name.ok_or_else(|| SqsError::missing_parameter("QueueName"))?;
        let validated = attributes::validate(&input.attributes, true)?;
        let fifo = validated.set.get("FifoQueue").is_some_and(|value| value == "true");
        match (fifo, name.strip_suffix(".fifo")) {
            (true, Some(base)) if !base.is_empty() && validate::queue_name(base).is_ok() && name.len() <= 80 => {}
            (true, _) => {
                return Err(SqsError::new(
                    ErrorKind::InvalidParameterValue,
                    "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, \
                     must end with .fifo suffix and be 1 to 80 in length.",
                ))
            }
            (false, _) => validate::queue_name(&name)?,
        }
        let key = QueueKey { account: context.account.clone(), region: context.region.clone(), name };
        let mut validated = validated;
        if let Some(policy) = validated.set.get("RedrivePolicy").cloned() {
            let canonical = self.check_redrive_policy(&key, fifo, &policy).await?;
            validated.set.insert("RedrivePolicy".into(), canonical);
        }
        let mut requested = if fifo { attributes::fifo_defaults() } else { BTreeMap::new() };
        requested.extend(validated.set.clone());
        attributes::check_combination(&requested)?;
        validate_tags(&input.tags)?;
        if input.tags.len() > MAX_TAGS {
            return Err(SqsError::new(ErrorKind::InvalidParameterValue, format!("A queue can have at most {MAX_TAGS} tags.")));
        }
        let outcome = self.engine.create_queue(key.clone(), requested, input.tags).await?;
        if let CreateQueueOutcome::Exists(existing) = outcome {
            let mut requested = validated.set;
            for removed in validated.remove {
                requested.insert(removed, String::new());
            }
            let differing = attributes::differing(&existing, &requested);
            if let Some(name) = differing.first() {
                return Err(SqsError::new(
                    ErrorKind::QueueNameExists,
                    format!("A queue already exists with the same name and a different value for attribute {name}"),
                ));
            }
        }
        Ok(QueueUrlOutput { queue_url: context.queue_url(&key) })
    }

    pub(crate) async fn delete_queue(&self, context: &RequestContext, input: QueueUrlInput) -> Result<Empty, SqsError> {
        let queue = self.resolve(context, input.queue_url.as_deref()).await?;
        self.engine.delete_queue(&queue.key).await?;
        Ok(Empty {})
    }

    pub(crate) async fn get_queue_url(&self, context: &RequestContext, input: GetQueueUrlInput) -> Result<QueueUrlOutput, SqsError> {
        let name = input.queue_name.ok_or_else(|| SqsError::missing_parameter("QueueName"))?;
        let account = input.queue_owner_aws_account_id.unwrap_or_else(|| context.account.clone());
        let key = QueueKey { account, region: context.region.clone(), name };
        let queue = self.engine.get_queue(&key).await?;
        Ok(QueueUrlOutput { queue_url: context.queue_url(&queue.key) })
    }

    pub(crate) async fn list_queues(&self, context: &RequestContext, input: ListQueuesInput) -> Result<ListQueuesOutput, SqsError> {
        let max_results = ranged("MaxResults", input.max_results, 1, MAX_LIST_RESULTS, "MaxResults must be an integer between 1 and 1000.")?;
        let after = input.next_token.as_deref().map(decode_token).transpose()?;
        let prefix = input.queue_name_prefix.unwrap_or_default();
        let limit = max_results.unwrap_or(MAX_LIST_RESULTS as u64) as usize;
        // One extra record shows whether another page follows.
        let mut queues = self
            .engine
            .list_queues(&context.account, &context.region, &prefix, after.as_deref(), limit + 1)
            .await?;
        let more = queues.len() > limit;
        queues.truncate(limit);
        let next_token = match (more, max_results) {
            (true, Some(_)) => queues.last().map(|queue| encode_token(&queue.key.name)),
            _ => None,
        };
        Ok(ListQueuesOutput { queue_urls: queues.iter().map(|queue| context.queue_url(&queue.key)).collect(), next_token })
    }

    pub(crate) async fn get_queue_attributes(
        &self,
        context: &RequestContext,
        input: GetQueueAttributesInput,
    ) -> Result<AttributesOutput, SqsError> {
        let queue = self.resolve(context, input.queue_url.as_deref()).await?;
        let names = attributes::requested_names(&input.attribute_names)?;
        let counts = self.engine.counts(&queue).await?;
        Ok(AttributesOutput { attributes: attributes::render(&queue, counts, &names) })
    }

    pub(crate) async fn set_queue_attributes(
        &self,
        context: &RequestContext,
        input: SetQueueAttributesInput,
    ) -> Result<Empty, SqsError> {
        let queue = self.resolve(context, input.queue_url.as_deref()).await?;
        let requested = input.attributes.ok_or_else(|| SqsError::missing_parameter("Attributes"))?;
        let mut validated = attributes::validate(&requested, false)?;
        if let Some(policy) = validated.set.get("RedrivePolicy").cloned() {
            let fifo = postroom_queue::config::is_fifo(&queue.attributes);
            let canonical = self.check_redrive_policy(&queue.key, fifo, &policy).await?;
            validated.set.insert("RedrivePolicy".into(), canonical);
        }
        let mut resulting = queue.attributes.clone();
        resulting.extend(validated.set.clone());
        attributes::check_combination(&resulting)?;
        let update = QueueUpdate { set_attributes: validated.set, remove_attributes: validated.remove, ..QueueUpdate::default() };
        self.engine.update_queue(&queue.key, update).await?;
        Ok(Empty {})
    }

    pub(crate) async fn purge_queue(&self, context: &RequestContext, input: QueueUrlInput) -> Result<Empty, SqsError> {
        let queue = self.resolve(context, input.queue_url.as_deref()).await?;
        let count = self.engine.purge(&queue).await?;
        tracing::info!(queue = %queue_arn(&queue.key), count, "purged queue");
        Ok(Empty {})
    }

    pub(crate) async fn tag_queue(&self, context: &RequestContext, input: TagQueueInput) -> Result<Empty, SqsError> {
        let queue = self.resolve(context, input.queue_url.as_deref()).await?;
        let tags = input.tags.ok_or_else(|| SqsError::missing_parameter("Tags"))?;
        validate_tags(&tags)?;
        let total = queue.tags.keys().chain(tags.keys()).collect::<std::collections::BTreeSet<_>>().len();
        if total > MAX_TAGS {
            return Err(SqsError::new(
                ErrorKind::InvalidParameterValue,
                format!("Too many tags added for queue {}. A queue can have at most {MAX_TAGS} tags.", queue.key.name),
            ));
        }
        let update = QueueUpdate { set_tags: tags, ..QueueUpdate::default() };
        self.engine.update_queue(&queue.key, update).await?;
        Ok(Empty {})
    }

    pub(crate) async fn untag_queue(&self, context: &RequestContext, input: UntagQueueInput) -> Result<Empty, SqsError> {
        let queue = self.resolve(context, input.queue_url.as_deref()).await?;
        let keys = input.tag_keys.ok_or_else(|| SqsError::missing_parameter("TagKeys"))?;
        let update = QueueUpdate { remove_tags: keys, ..QueueUpdate::default() };
        self.engine.update_queue(&queue.key, update).await?;
        Ok(Empty {})
    }

    pub(crate) async fn list_queue_tags(&self, context: &RequestContext, input: QueueUrlInput) -> Result<TagsOutput, SqsError> {
        let queue = self.resolve(context, input.queue_url.as_deref()).await?;
        Ok(TagsOutput { tags: queue.tags.clone() })
    }

    /// Adds a statement to the queue policy. Postroom stores the policy but
    /// does not enforce it.
    pub(crate) async fn add_permission(&self, context: &RequestContext, input: AddPermissionInput) -> Result<Empty, SqsError> {
        let queue = self.resolve(context, input.queue_url.as_deref()).await?;
        let label = label(input.label.as_deref())?;
        let accounts = input.aws_account_ids.filter(|a| !a.is_empty()).ok_or_else(|| SqsError::missing_parameter("AWSAccountIds"))?;
        let actions = input.actions.filter(|a| !a.is_empty()).ok_or_else(|| SqsError::missing_parameter("Actions"))?;
        for account in &accounts {
            if account.len() != 12 || !account.chars().all(|c| c.is_ascii_digit()) {
                return Err(SqsError::invalid_parameter("AWSAccountIds", account, "An AWS account ID is 12 digits."));
            }
        }
        for action in &actions {
            if !PERMISSION_ACTIONS.contains(&action.as_str()) {
                return Err(SqsError::invalid_parameter("ActionName", action, "Only SQS actions can be shared: *, ChangeMessageVisibility, DeleteMessage, GetQueueAttributes, GetQueueUrl, ListDeadLetterSourceQueues, PurgeQueue, ReceiveMessage, SendMessage."));
            }
        }
        let arn = queue_arn(&queue.key);
        let mut policy: Value = match queue.attributes.get("Policy") {
            Some(text) => serde_json::from_str(text).map_err(SqsError::internal)?,
            None => json!({"Version": "2012-10-17", "Id": format!("{arn}/SQSDefaultPolicy"), "Statement": []}),
        };
        let statements = statements_mut(&mut policy)?;
        if statements.iter().any(|statement| statement["Sid"] == label) {
            return Err(SqsError::invalid_parameter("Label", label, "Already exists."));
        }
        let principals: Vec<String> = accounts.iter().map(|account| format!("arn:aws:iam::{account}:root")).collect();
        let action_names: Vec<String> = actions.iter().map(|action| format!("SQS:{action}")).collect();
        statements.push(json!({
            "Sid": label,
            "Effect": "Allow",
            "Principal": {"AWS": one_or_many(principals)},
            "Action": one_or_many(action_names),
            "Resource": arn,
        }));
        self.store_policy(&queue.key, Some(policy)).await
    }

    pub(crate) async fn remove_permission(
        &self,
        context: &RequestContext,
        input: RemovePermissionInput,
    ) -> Result<Empty, SqsError> {
        let queue = self.resolve(context, input.queue_url.as_deref()).await?;
        let label = label(input.label.as_deref())?;
        let not_found = || SqsError::invalid_parameter("Label", label, "can't find label on existing policy.");
        let text = queue.attributes.get("Policy").ok_or_else(not_found)?;
        let mut policy: Value = serde_json::from_str(text).map_err(SqsError::internal)?;
        let statements = statements_mut(&mut policy)?;
        let before = statements.len();
        statements.retain(|statement| statement["Sid"] != label);
        if statements.len() == before {
            return Err(not_found());
        }
        let empty = statements.is_empty();
        self.store_policy(&queue.key, (!empty).then_some(policy)).await
    }

    async fn store_policy(&self, key: &QueueKey, policy: Option<Value>) -> Result<Empty, SqsError> {
        let mut update = QueueUpdate::default();
        match policy {
            Some(policy) => {
                update.set_attributes.insert("Policy".into(), policy.to_string());
            }
            None => update.remove_attributes.push("Policy".into()),
        }
        self.engine.update_queue(key, update).await?;
        Ok(Empty {})
    }

    /// Checks a `RedrivePolicy` against the queues it names and returns its
    /// canonical form.
    async fn check_redrive_policy(&self, source: &QueueKey, source_fifo: bool, text: &str) -> Result<String, SqsError> {
        let invalid = |reason: &str| SqsError::invalid_parameter("RedrivePolicy", text, reason);
        let value: Value = serde_json::from_str(text).map_err(|_| invalid("Redrive policy is not a valid JSON map."))?;
        let object = value.as_object().ok_or_else(|| invalid("Redrive policy is not a valid JSON map."))?;
        if let Some(key) = object.keys().find(|key| *key != "deadLetterTargetArn" && *key != "maxReceiveCount") {
            return Err(invalid(&format!("Redrive policy contains the unknown key {key}.")));
        }
        let arn = object
            .get("deadLetterTargetArn")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("Redrive policy does not contain mandatory attribute: deadLetterTargetArn."))?;
        let count = match object.get("maxReceiveCount") {
            Some(Value::Number(number)) => number.as_i64(),
            Some(Value::String(text)) => text.trim().parse::<i64>().ok(),
            _ => return Err(invalid("Redrive policy does not contain mandatory attribute: maxReceiveCount.")),
        }
        .ok_or_else(|| invalid("Invalid value for maxReceiveCount: valid values are from 1 to 1000 both inclusive."))?;
        let range = postroom_queue::config::MAX_RECEIVE_COUNT_RANGE;
        if count < i64::from(*range.start()) || count > i64::from(*range.end()) {
            return Err(invalid(&format!(
                "Invalid value for maxReceiveCount: {count}, valid values are from 1 to 1000 both inclusive."
            )));
        }
        let target_key = postroom_queue::arn::parse_queue_arn(arn).ok_or_else(|| invalid("Invalid value for deadLetterTargetArn."))?;
        if target_key.account != source.account || target_key.region != source.region {
            return Err(invalid("Dead-letter queue must be in the same account and region as the source queue."));
        }
        if &target_key == source {
            return Err(invalid("A queue cannot be its own dead-letter queue."));
        }
        let target = self.engine.store().get_queue(&target_key).await.map_err(SqsError::internal)?;
        let target = target.ok_or_else(|| invalid("Dead letter target does not exist."))?;
        if postroom_queue::config::is_fifo(&target.attributes) != source_fifo {
            return Err(invalid("Dead-letter queue must be same type of queue as the source."));
        }
        if let Some(allow) = target.attributes.get("RedriveAllowPolicy").and_then(|t| attributes::RedriveAllowPolicy::parse(t)) {
            if !allow.allows(&queue_arn(source)) {
                return Err(invalid("The RedriveAllowPolicy of the dead-letter queue does not allow this source queue."));
            }
        }
        let policy = postroom_queue::config::RedrivePolicy { dead_letter_target_arn: arn.to_string(), max_receive_count: count as u32 };
        Ok(policy.to_json())
    }

    /// Lists the queues whose `RedrivePolicy` names this queue as their
    /// dead-letter queue.
    pub(crate) async fn list_dead_letter_source_queues(
        &self,
        context: &RequestContext,
        input: ListDeadLetterSourceQueuesInput,
    ) -> Result<ListDeadLetterSourceQueuesOutput, SqsError> {
        let queue = self.resolve(context, input.queue_url.as_deref()).await?;
        let max_results = ranged("MaxResults", input.max_results, 1, MAX_LIST_RESULTS, "MaxResults must be an integer between 1 and 1000.")?;
        let after = input.next_token.as_deref().map(decode_token).transpose()?;
        let arn = queue_arn(&queue.key);
        let all = self
            .engine
            .list_queues(&queue.key.account, &queue.key.region, "", after.as_deref(), usize::MAX)
            .await?;
        let mut sources = all.into_iter().filter(|candidate| is_source_of(candidate, &arn));
        let limit = max_results.unwrap_or(MAX_LIST_RESULTS as u64) as usize;
        let page: Vec<_> = sources.by_ref().take(limit).collect();
        let next_token = match (sources.next().is_some(), max_results) {
            (true, Some(_)) => page.last().map(|queue| encode_token(&queue.key.name)),
            _ => None,
        };
        Ok(ListDeadLetterSourceQueuesOutput {
            queue_urls: page.iter().map(|queue| context.queue_url(&queue.key)).collect(),
            next_token,
        })
    }
}

fn statements_mut(policy: &mut Value) -> Result<&mut Vec<Value>, SqsError> {
    let object = policy
        .as_object_mut()
        .ok_or_else(|| SqsError::new(ErrorKind::InvalidAttributeValue, "Invalid value for the parameter Policy."))?;
    let statements = object.entry("Statement").or_insert_with(|| Value::Array(Vec::new()));
    if statements.is_object() {
        let single = statements.take();
        *statements = Value::Array(vec![single]);
    }
    statements
        .as_array_mut()
        .ok_or_else(|| SqsError::new(ErrorKind::InvalidAttributeValue, "Invalid value for the parameter Policy."))
}

fn one_or_many(mut values: Vec<String>) -> Value {
    if values.len() == 1 {
        Value::String(values.remove(0))
    } else {
        Value::from(values)
    }
}

/// Returns whether `candidate` names the queue of `arn` as its dead-letter
/// queue.
pub(crate) fn is_source_of(candidate: &postroom_store::QueueRecord, arn: &str) -> bool {
    candidate
        .attributes
        .get("RedrivePolicy")
        .and_then(|text| postroom_queue::config::RedrivePolicy::parse(text))
        .is_some_and(|policy| policy.dead_letter_target_arn == arn)
}
