//! [`SnsService`]: topics, subscriptions, tags and permissions.

use crate::delivery_policy::{self, EffectivePolicy};
use crate::error::{ErrorKind, SnsError};
use crate::model::*;
use crate::operation::SnsOperation;
use postroom_pattern::{FilterPolicyScope, Pattern};
use postroom_queue::QueueEngine;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Sender and location of a request.
#[derive(Clone, Debug)]
pub struct SnsContext {
    pub account: String,
    pub region: String,
    /// `Host` header of the request, for the URLs in messages.
    pub host: String,
}

/// The SNS API over the store and the queue engine.
pub struct SnsService {
    pub(crate) engine: Arc<QueueEngine>,
    pub(crate) signer: tokio::sync::OnceCell<crate::signing::KeyPair>,
    /// Client of the HTTP deliveries, whose pool keeps connections to the
    /// endpoints open between posts.
    pub(crate) http: tokio::sync::OnceCell<reqwest::Client>,
}

pub(crate) fn text<'a>(input: &'a Value, name: &str) -> Option<&'a str> {
    input.get(name).and_then(Value::as_str)
}

pub(crate) fn required<'a>(input: &'a Value, name: &str) -> Result<&'a str, SnsError> {
    text(input, name).filter(|v| !v.is_empty()).ok_or_else(|| SnsError::invalid(name))
}

fn flag(input: &Value, name: &str) -> bool {
    match input.get(name) {
        Some(Value::Bool(value)) => *value,
        Some(Value::String(value)) => value.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

fn string_map(input: &Value, name: &str) -> BTreeMap<String, String> {
    input
        .get(name)
        .and_then(Value::as_object)
        .map(|map| map.iter().filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string()))).collect())
        .unwrap_or_default()
}

fn tags_from(input: &Value) -> Result<BTreeMap<String, String>, SnsError> {
    let mut tags = BTreeMap::new();
    for tag in input.get("Tags").and_then(Value::as_array).into_iter().flatten() {
        let key = text(tag, "Key").filter(|k| !k.is_empty() && k.chars().count() <= 128).ok_or_else(|| SnsError::invalid("Tags.Key"))?;
        let value = text(tag, "Value").unwrap_or_default();
        if value.chars().count() > 256 {
            return Err(SnsError::invalid("Tags.Value"));
        }
        tags.insert(key.to_string(), value.to_string());
    }
    if tags.len() > 50 {
        return Err(SnsError::new(ErrorKind::InvalidParameter, "Could not complete request: tag quota of per resource exceeded"));
    }
    Ok(tags)
}

const TOPIC_ATTRIBUTES: &[&str] = &[
    "DisplayName",
    "Policy",
    "DeliveryPolicy",
    "FifoTopic",
    "ContentBasedDeduplication",
    "SignatureVersion",
    "KmsMasterKeyId",
    "TracingConfig",
    "FifoThroughputScope",
    "ArchivePolicy",
];

const SUBSCRIPTION_ATTRIBUTES: &[&str] =
    &["RawMessageDelivery", "FilterPolicy", "FilterPolicyScope", "RedrivePolicy", "DeliveryPolicy", "SubscriptionRoleArn"];

fn check_topic_attribute(name: &str, value: &str) -> Result<(), SnsError> {
    let invalid = |reason: &str| SnsError::invalid(format!("Attributes Reason: {reason}"));
    match name {
        "FifoTopic" | "ContentBasedDeduplication" if !matches!(value, "true" | "false") => {
            Err(invalid(&format!("{name} must be true or false")))
        }
        "SignatureVersion" if !matches!(value, "1" | "2") => Err(invalid("SignatureVersion must be 1 or 2")),
        "Policy" if !value.is_empty() && serde_json::from_str::<Value>(value).map_or(true, |v| !v.is_object()) => {
            Err(invalid(&format!("{name}: the policy is not a valid JSON object")))
        }
        "DeliveryPolicy" if !value.is_empty() => {
            delivery_policy::check_topic_policy(value).map_err(|reason| invalid(&format!("DeliveryPolicy: {reason}")))
        }
        "DisplayName" if value.chars().count() > 100 => Err(invalid("DisplayName must be at most 100 characters")),
        _ if TOPIC_ATTRIBUTES.contains(&name) => Ok(()),
        _ => Err(SnsError::invalid(format!("AttributeName Reason: Unknown attribute {name}"))),
    }
}

fn default_policy(arn: &str, account: &str) -> String {
    json!({
        "Version": "2008-10-17",
        "Id": "__default_policy_ID",
        "Statement": [{
            "Sid": "__default_statement_ID",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": ["SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:AddPermission", "SNS:RemovePermission",
                       "SNS:DeleteTopic", "SNS:Subscribe", "SNS:ListSubscriptionsByTopic", "SNS:Publish"],
            "Resource": arn,
            "Condition": {"StringEquals": {"AWS:SourceOwner": account}}
        }]
    })
    .to_string()
}

/// Checks a subscription attribute and returns the value to store.
fn check_subscription_attribute(name: &str, value: &str, scope: &str) -> Result<String, SnsError> {
    match name {
        "RawMessageDelivery" => match value.to_ascii_lowercase().as_str() {
            flag @ ("true" | "false") => Ok(flag.to_string()),
            _ => Err(SnsError::invalid(format!("Attributes Reason: RawMessageDelivery: Invalid value [{value}]. Must be true or false."))),
        },
        "FilterPolicyScope" => match value {
            "MessageAttributes" | "MessageBody" => Ok(value.to_string()),
            _ => Err(SnsError::invalid(format!(
                "Attributes Reason: FilterPolicyScope: Invalid value [{value}]. Please use either MessageBody or MessageAttributes"
            ))),
        },
        "FilterPolicy" => {
            if value.is_empty() {
                return Ok(String::new());
            }
            Pattern::filter_policy(value, scope_of(scope)).map_err(|error| {
                // The pattern engine writes its own prefix for the nesting
                // error of the attribute scope.
                if error.message.starts_with("Filter policy scope") {
                    SnsError::invalid(error.message)
                } else {
                    SnsError::invalid(format!("FilterPolicy: {}", error.message))
                }
            })?;
            Ok(value.to_string())
        }
        "RedrivePolicy" => {
            if value.is_empty() {
                return Ok(String::new());
            }
            let policy = serde_json::from_str::<Value>(value)
                .ok()
                .filter(Value::is_object)
                .ok_or_else(|| SnsError::invalid("RedrivePolicy: invalid JSON"))?;
            if let Some(unknown) = policy.as_object().into_iter().flat_map(|map| map.keys()).find(|key| *key != "deadLetterTargetArn") {
                return Err(SnsError::invalid(format!("RedrivePolicy: invalid JSON. Attribute {unknown} is unknown.")));
            }
            let target = policy
                .get("deadLetterTargetArn")
                .and_then(Value::as_str)
                .filter(|arn| postroom_queue::arn::parse_queue_arn(arn).is_some())
                .ok_or_else(|| SnsError::invalid("RedrivePolicy: Invalid deadLetterTargetArn"))?;
            Ok(json!({"deadLetterTargetArn": target}).to_string())
        }
        "DeliveryPolicy" => {
            if !value.is_empty() {
                delivery_policy::check_subscription_policy(value)
                    .map_err(|reason| SnsError::invalid(format!("DeliveryPolicy: {reason}")))?;
            }
            Ok(value.to_string())
        }
        "SubscriptionRoleArn" => Ok(value.to_string()),
        _ => Err(SnsError::invalid(format!("AttributeName Reason: Unknown attribute {name}"))),
    }
}

/// Returns a new confirmation token of 64 hexadecimal digits.
fn new_token() -> String {
    format!("{:032x}{:032x}", uuid::Uuid::new_v4().as_u128(), uuid::Uuid::new_v4().as_u128())
}

/// Compares two attribute values, as JSON documents when both are JSON, so
/// that spacing and key order do not count.
fn same_attribute_value(left: &str, right: &str) -> bool {
    match (serde_json::from_str::<Value>(left), serde_json::from_str::<Value>(right)) {
        (Ok(left), Ok(right)) => left == right,
        _ => left == right,
    }
}

/// Value that a subscription attribute has until it is set.
fn default_subscription_attribute(name: &str) -> &'static str {
    match name {
        "RawMessageDelivery" => "false",
        "FilterPolicyScope" => "MessageAttributes",
        _ => "",
    }
}

/// Checks a subscription's dead-letter queue against its topic and
/// endpoint. The queue is in the topic's account and Region, a FIFO queue
/// subscribed to a FIFO topic needs a FIFO dead-letter queue, and a standard
/// topic needs a standard one.
fn check_dead_letter_target(topic: &Topic, protocol: &str, endpoint: &str, policy: &str) -> Result<(), SnsError> {
    let target = serde_json::from_str::<Value>(policy)
        .ok()
        .and_then(|policy| policy.get("deadLetterTargetArn").and_then(Value::as_str).map(str::to_string))
        .and_then(|arn| postroom_queue::arn::parse_queue_arn(&arn))
        .ok_or_else(|| SnsError::invalid("RedrivePolicy: Invalid deadLetterTargetArn"))?;
    if target.account != topic.account || target.region != topic.region {
        return Err(SnsError::invalid(
            "RedrivePolicy: the dead-letter queue must be in the same account and Region as the subscription",
        ));
    }
    let fifo_endpoint = protocol == "sqs" && endpoint.ends_with(".fifo");
    if topic.is_fifo() && fifo_endpoint && !target.name.ends_with(".fifo") {
        return Err(SnsError::invalid("RedrivePolicy: must use a FIFO queue as DLQ for a FIFO Subscription to a FIFO Topic."));
    }
    if !topic.is_fifo() && target.name.ends_with(".fifo") {
        return Err(SnsError::invalid("RedrivePolicy: must use a standard queue as DLQ for a subscription to a standard topic."));
    }
    Ok(())
}

pub(crate) fn scope_of(scope: &str) -> FilterPolicyScope {
    if scope == "MessageBody" {
        FilterPolicyScope::MessageBody
    } else {
        FilterPolicyScope::MessageAttributes
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

impl SnsService {
    pub fn new(engine: Arc<QueueEngine>) -> Self {
        Self { engine, signer: tokio::sync::OnceCell::new(), http: tokio::sync::OnceCell::new() }
    }

    /// Runs one operation on a request document (the Query parameters as
    /// JSON, with lists and maps expanded).
    pub async fn call(&self, operation: SnsOperation, context: &SnsContext, input: Value) -> Result<Value, SnsError> {
        use SnsOperation::*;
        match operation {
            CreateTopic => self.create_topic(context, &input).await,
            DeleteTopic => self.delete_topic(&input).await,
            ListTopics => self.list_topics(context, &input).await,
            GetTopicAttributes => self.get_topic_attributes(&input).await,
            SetTopicAttributes => self.set_topic_attributes(&input).await,
            Subscribe => self.subscribe(context, &input).await,
            ConfirmSubscription => self.confirm_subscription(&input).await,
            Unsubscribe => self.unsubscribe(&input).await,
            ListSubscriptions => self.list_subscriptions(context, None, &input).await,
            ListSubscriptionsByTopic => {
                let arn = required(&input, "TopicArn")?;
                self.load_topic(arn).await?;
                self.list_subscriptions(context, Some(arn), &input).await
            }
            GetSubscriptionAttributes => self.get_subscription_attributes(&input).await,
            SetSubscriptionAttributes => self.set_subscription_attributes(&input).await,
            Publish => self.publish(context, &input).await,
            PublishBatch => self.publish_batch(context, &input).await,
            TagResource => self.tag(&input, true).await,
            UntagResource => self.tag(&input, false).await,
            ListTagsForResource => {
                let topic = self.load_topic(required(&input, "ResourceArn")?).await?;
                Ok(json!({"Tags": topic.tags.iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect::<Vec<_>>()}))
            }
            AddPermission => self.add_permission(&input).await,
            RemovePermission => self.remove_permission(&input).await,
            other => Err(SnsError::new(
                ErrorKind::InvalidAction,
                format!("The operation {} is not supported by this server yet.", other.name()),
            )),
        }
    }

    pub(crate) async fn load_topic(&self, arn: &str) -> Result<Topic, SnsError> {
        let (account, region, name) = parse_topic_arn(arn).ok_or_else(|| SnsError::invalid("TopicArn"))?;
        let stored = self.engine.store().get_resource(TOPIC_KIND, &topic_key(&account, &region, &name)).await?;
        let bytes = stored.ok_or_else(|| SnsError::not_found("Topic does not exist"))?;
        serde_json::from_slice(&bytes).map_err(SnsError::internal)
    }

    async fn save_topic(&self, topic: &Topic) -> Result<(), SnsError> {
        let bytes = serde_json::to_vec(topic).map_err(SnsError::internal)?;
        Ok(self.engine.store().put_resource(TOPIC_KIND, &topic.key(), bytes).await?)
    }

    pub(crate) async fn subscriptions_of(&self, topic_arn: &str) -> Result<Vec<Subscription>, SnsError> {
        let stored = self.engine.store().list_resources(SUBSCRIPTION_KIND, &format!("{topic_arn}|")).await?;
        stored.iter().map(|(_, bytes)| serde_json::from_slice(bytes).map_err(SnsError::internal)).collect()
    }

    /// Returns the delivery policy of an HTTP subscription, from its own
    /// `DeliveryPolicy` and its topic's. A topic that no longer exists adds
    /// nothing.
    pub(crate) async fn effective_delivery_policy(&self, subscription: &Subscription) -> Result<EffectivePolicy, SnsError> {
        let topic_policy = match self.load_topic(&subscription.topic_arn).await {
            Ok(topic) => topic.attributes.get("DeliveryPolicy").cloned(),
            Err(error) if error.kind == ErrorKind::NotFound => None,
            Err(error) => return Err(error),
        };
        let subscription_policy = subscription.attributes.get("DeliveryPolicy").map(String::as_str);
        Ok(EffectivePolicy::of(topic_policy.as_deref(), subscription_policy))
    }

    pub(crate) async fn load_subscription(&self, arn: &str) -> Result<Subscription, SnsError> {
        let (topic, id) = parse_subscription_arn(arn).ok_or_else(|| SnsError::invalid("SubscriptionArn"))?;
        let stored = self.engine.store().get_resource(SUBSCRIPTION_KIND, &subscription_key(&topic, &id)).await?;
        let bytes = stored.ok_or_else(|| SnsError::not_found("Subscription does not exist"))?;
        serde_json::from_slice(&bytes).map_err(SnsError::internal)
    }

    pub(crate) async fn save_subscription(&self, subscription: &Subscription) -> Result<(), SnsError> {
        let bytes = serde_json::to_vec(subscription).map_err(SnsError::internal)?;
        Ok(self.engine.store().put_resource(SUBSCRIPTION_KIND, &subscription.key(), bytes).await?)
    }

    async fn create_topic(&self, context: &SnsContext, input: &Value) -> Result<Value, SnsError> {
        let name = required(input, "Name").map_err(|_| SnsError::invalid("Topic Name"))?;
        let attributes = string_map(input, "Attributes");
        for (attribute, value) in &attributes {
            check_topic_attribute(attribute, value)?;
        }
        let fifo = attributes.get("FifoTopic").is_some_and(|v| v == "true");
        let base = if fifo { name.strip_suffix(".fifo").ok_or_else(|| SnsError::invalid("Topic Name: a FIFO topic name must end with .fifo"))? } else { name };
        let valid = !base.is_empty() && name.len() <= 256 && base.chars().all(is_name_char);
        if !valid {
            return Err(SnsError::invalid("Topic Name"));
        }
        if attributes.contains_key("ContentBasedDeduplication") && !fifo {
            return Err(SnsError::invalid("Attributes Reason: ContentBasedDeduplication is valid only for FIFO topics"));
        }
        let topic = Topic {
            account: context.account.clone(),
            region: context.region.clone(),
            name: name.to_string(),
            attributes: attributes.clone(),
            tags: tags_from(input)?,
        };
        let bytes = serde_json::to_vec(&topic).map_err(SnsError::internal)?;
        if !self.engine.store().create_resource(TOPIC_KIND, &topic.key(), bytes).await? {
            // Creating a topic again returns it, unless the attributes differ.
            let existing = self.load_topic(&topic.arn()).await?;
            if attributes.iter().any(|(k, v)| existing.attributes.get(k) != Some(v)) {
                return Err(SnsError::invalid("Attributes Reason: Topic already exists with different attributes"));
            }
        }
        Ok(json!({"TopicArn": topic.arn()}))
    }

    async fn delete_topic(&self, input: &Value) -> Result<Value, SnsError> {
        let arn = required(input, "TopicArn")?;
        let (account, region, name) = parse_topic_arn(arn).ok_or_else(|| SnsError::invalid("TopicArn"))?;
        for subscription in self.subscriptions_of(arn).await? {
            self.engine.store().delete_resource(SUBSCRIPTION_KIND, &subscription.key()).await?;
        }
        for (key, _) in self.engine.store().list_resources(UNSUBSCRIBED_KIND, &format!("{arn}|")).await? {
            self.engine.store().delete_resource(UNSUBSCRIBED_KIND, &key).await?;
        }
        // Deleting a topic that does not exist succeeds, as in SNS.
        self.engine.store().delete_resource(TOPIC_KIND, &topic_key(&account, &region, &name)).await?;
        Ok(json!({}))
    }

    async fn list_topics(&self, context: &SnsContext, input: &Value) -> Result<Value, SnsError> {
        let start: usize = match text(input, "NextToken") {
            Some(token) => token.parse().map_err(|_| SnsError::invalid("NextToken"))?,
            None => 0,
        };
        let prefix = format!("{}/{}/", context.account, context.region);
        let stored = self.engine.store().list_resources(TOPIC_KIND, &prefix).await?;
        let arns: Vec<Value> = stored
            .iter()
            .skip(start)
            .take(100)
            .filter_map(|(_, bytes)| serde_json::from_slice::<Topic>(bytes).ok())
            .map(|topic| json!({"TopicArn": topic.arn()}))
            .collect();
        let mut output = json!({"Topics": arns});
        if start + 100 < stored.len() {
            output["NextToken"] = json!((start + 100).to_string());
        }
        Ok(output)
    }

    async fn get_topic_attributes(&self, input: &Value) -> Result<Value, SnsError> {
        let topic = self.load_topic(required(input, "TopicArn")?).await?;
        let subscriptions = self.subscriptions_of(&topic.arn()).await?;
        let confirmed = subscriptions.iter().filter(|s| s.confirmed).count();
        let mut attributes: BTreeMap<String, String> = BTreeMap::new();
        attributes.insert("TopicArn".into(), topic.arn());
        attributes.insert("Owner".into(), topic.account.clone());
        attributes.insert("Policy".into(), default_policy(&topic.arn(), &topic.account));
        attributes.insert("DisplayName".into(), String::new());
        attributes.insert("SubscriptionsConfirmed".into(), confirmed.to_string());
        attributes.insert("SubscriptionsPending".into(), (subscriptions.len() - confirmed).to_string());
        attributes.insert("SubscriptionsDeleted".into(), "0".into());
        let effective = delivery_policy::effective_topic_policy(topic.attributes.get("DeliveryPolicy").map(String::as_str));
        attributes.insert("EffectiveDeliveryPolicy".into(), effective.to_string());
        attributes.insert("SignatureVersion".into(), "1".into());
        if topic.is_fifo() {
            attributes.insert("ContentBasedDeduplication".into(), "false".into());
        }
        attributes.extend(topic.attributes.clone());
        Ok(json!({"Attributes": attributes}))
    }

    async fn set_topic_attributes(&self, input: &Value) -> Result<Value, SnsError> {
        let mut topic = self.load_topic(required(input, "TopicArn")?).await?;
        let name = required(input, "AttributeName")?;
        let value = text(input, "AttributeValue").unwrap_or_default();
        check_topic_attribute(name, value)?;
        if name == "FifoTopic" {
            return Err(SnsError::invalid("AttributeName Reason: FifoTopic cannot be changed"));
        }
        if name == "ContentBasedDeduplication" && !topic.is_fifo() {
            return Err(SnsError::invalid("AttributeName Reason: ContentBasedDeduplication is valid only for FIFO topics"));
        }
        topic.attributes.insert(name.to_string(), value.to_string());
        self.save_topic(&topic).await?;
        Ok(json!({}))
    }

    async fn subscribe(&self, context: &SnsContext, input: &Value) -> Result<Value, SnsError> {
        let topic = self.load_topic(required(input, "TopicArn")?).await?;
        let protocol = required(input, "Protocol")?.to_ascii_lowercase();
        let endpoint = text(input, "Endpoint").unwrap_or_default();
        match protocol.as_str() {
            "sqs" => {
                postroom_queue::arn::parse_queue_arn(endpoint).ok_or_else(|| SnsError::invalid("SQS endpoint ARN"))?;
            }
            "http" | "https" => {
                if !endpoint.starts_with(&format!("{protocol}://")) {
                    return Err(SnsError::invalid("Endpoint must match the specified protocol"));
                }
                // URL parsing forgives what a subscriber should not send: an
                // empty host before the path, and unencoded spaces.
                let rest = &endpoint[protocol.len() + 3..];
                let url = reqwest::Url::parse(endpoint).ok().filter(|url| url.host_str().is_some_and(|host| !host.is_empty()));
                if url.is_none() || rest.starts_with('/') || endpoint.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(SnsError::invalid(format!("Endpoint: {endpoint} is not a valid URL")));
                }
            }
            "lambda" => {
                if !endpoint.starts_with("arn:aws:lambda:") {
                    return Err(SnsError::invalid("Lambda endpoint ARN"));
                }
            }
            _ => return Err(SnsError::invalid(format!("Amazon SNS does not support this protocol string: {protocol}"))),
        }
        // FIFO topics deliver to SQS queues only, and FIFO queues take
        // messages from FIFO topics only.
        if topic.is_fifo() && protocol != "sqs" {
            return Err(SnsError::invalid(format!("Invalid protocol type: {protocol}")));
        }
        if !topic.is_fifo() && protocol == "sqs" && endpoint.ends_with(".fifo") {
            return Err(SnsError::invalid(
                "Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be subscribed to standard SNS topics",
            ));
        }
        let requested = string_map(input, "Attributes");
        let scope = requested.get("FilterPolicyScope").map(String::as_str).unwrap_or("MessageAttributes").to_string();
        let mut attributes = BTreeMap::new();
        for (name, value) in &requested {
            attributes.insert(name.clone(), check_subscription_attribute(name, value, &scope)?);
        }
        if let Some(policy) = attributes.get("RedrivePolicy") {
            check_dead_letter_target(&topic, &protocol, endpoint, policy)?;
        }
        // Subscribing the same endpoint again returns the subscription, unless
        // the request sets an attribute to another value.
        let existing = self.subscriptions_of(&topic.arn()).await?;
        if let Some(found) = existing.iter().find(|s| s.protocol == protocol && s.endpoint == endpoint) {
            let differs = attributes.iter().any(|(name, value)| {
                let current = found.attributes.get(name).map(String::as_str);
                !same_attribute_value(current.unwrap_or_else(|| default_subscription_attribute(name)), value)
            });
            if differs {
                return Err(SnsError::invalid("Attributes Reason: Subscription already exists with different attributes"));
            }
            return Ok(json!({"SubscriptionArn": self.reported_arn(found, input)}));
        }
        let http = protocol == "http" || protocol == "https";
        let subscription = Subscription {
            id: uuid::Uuid::new_v4().to_string(),
            topic_arn: topic.arn(),
            owner: context.account.clone(),
            protocol,
            endpoint: endpoint.to_string(),
            attributes,
            confirmed: !http,
            token: http.then(new_token),
            host: context.host.clone(),
        };
        self.save_subscription(&subscription).await?;
        if http {
            self.queue_confirmation(&subscription).await?;
        }
        Ok(json!({"SubscriptionArn": self.reported_arn(&subscription, input)}))
    }

    fn reported_arn(&self, subscription: &Subscription, input: &Value) -> String {
        if subscription.confirmed || flag(input, "ReturnSubscriptionArn") {
            subscription.arn()
        } else {
            "pending confirmation".to_string()
        }
    }

    async fn confirm_subscription(&self, input: &Value) -> Result<Value, SnsError> {
        let topic_arn = required(input, "TopicArn")?;
        let token = required(input, "Token")?;
        self.load_topic(topic_arn).await?;
        let subscriptions = self.subscriptions_of(topic_arn).await?;
        let mut subscription = match subscriptions.iter().find(|s| s.token.as_deref() == Some(token)) {
            Some(subscription) => subscription.clone(),
            None => {
                let removed = self.take_unsubscribed(topic_arn, token).await?.ok_or_else(|| SnsError::invalid("Token"))?;
                // The endpoint was subscribed again since, and one topic has
                // one subscription per endpoint.
                if subscriptions.iter().any(|s| s.protocol == removed.protocol && s.endpoint == removed.endpoint) {
                    return Err(SnsError::invalid("Token"));
                }
                removed
            }
        };
        subscription.confirmed = true;
        self.save_subscription(&subscription).await?;
        Ok(json!({"SubscriptionArn": subscription.arn()}))
    }

    /// Removes and returns the HTTP subscription whose unsubscribe
    /// confirmation carried `token`, if there is one.
    async fn take_unsubscribed(&self, topic_arn: &str, token: &str) -> Result<Option<Subscription>, SnsError> {
        let key = unsubscribed_key(topic_arn, token);
        let Some(bytes) = self.engine.store().get_resource(UNSUBSCRIBED_KIND, &key).await? else { return Ok(None) };
        let subscription = serde_json::from_slice::<Subscription>(&bytes).map_err(SnsError::internal)?;
        self.engine.store().delete_resource(UNSUBSCRIBED_KIND, &key).await?;
        Ok(Some(subscription))
    }

    async fn unsubscribe(&self, input: &Value) -> Result<Value, SnsError> {
        let arn = required(input, "SubscriptionArn")?;
        let (topic, id) = parse_subscription_arn(arn).ok_or_else(|| SnsError::invalid("SubscriptionArn"))?;
        let removed = self.load_subscription(arn).await.ok();
        self.engine.store().delete_resource(SUBSCRIPTION_KIND, &subscription_key(&topic, &id)).await?;
        // An HTTP endpoint gets an unsubscribe confirmation, with a token
        // that restores the subscription.
        if let Some(subscription) = removed.filter(|s| s.confirmed && s.protocol.starts_with("http")) {
            let token = new_token();
            let bytes = serde_json::to_vec(&subscription).map_err(SnsError::internal)?;
            self.engine.store().put_resource(UNSUBSCRIBED_KIND, &unsubscribed_key(&topic, &token), bytes).await?;
            self.queue_unsubscribe_confirmation(&subscription, &token).await?;
        }
        Ok(json!({}))
    }

    async fn list_subscriptions(&self, context: &SnsContext, topic: Option<&str>, input: &Value) -> Result<Value, SnsError> {
        let start: usize = match text(input, "NextToken") {
            Some(token) => token.parse().map_err(|_| SnsError::invalid("NextToken"))?,
            None => 0,
        };
        let prefix = match topic {
            Some(arn) => format!("{arn}|"),
            None => format!("arn:aws:sns:{}:{}:", context.region, context.account),
        };
        let stored = self.engine.store().list_resources(SUBSCRIPTION_KIND, &prefix).await?;
        let listed: Vec<Value> = stored
            .iter()
            .skip(start)
            .take(100)
            .filter_map(|(_, bytes)| serde_json::from_slice::<Subscription>(bytes).ok())
            .map(|s| {
                json!({
                    "SubscriptionArn": if s.confirmed { s.arn() } else { "PendingConfirmation".to_string() },
                    "Owner": s.owner,
                    "Protocol": s.protocol,
                    "Endpoint": s.endpoint,
                    "TopicArn": s.topic_arn,
                })
            })
            .collect();
        let mut output = json!({"Subscriptions": listed});
        if start + 100 < stored.len() {
            output["NextToken"] = json!((start + 100).to_string());
        }
        Ok(output)
    }

    async fn get_subscription_attributes(&self, input: &Value) -> Result<Value, SnsError> {
        let subscription = self.load_subscription(required(input, "SubscriptionArn")?).await?;
        let mut attributes: BTreeMap<String, String> = BTreeMap::new();
        attributes.insert("SubscriptionArn".into(), subscription.arn());
        attributes.insert("TopicArn".into(), subscription.topic_arn.clone());
        attributes.insert("Owner".into(), subscription.owner.clone());
        attributes.insert("Protocol".into(), subscription.protocol.clone());
        attributes.insert("Endpoint".into(), subscription.endpoint.clone());
        attributes.insert("ConfirmationWasAuthenticated".into(), subscription.confirmed.to_string());
        attributes.insert("PendingConfirmation".into(), (!subscription.confirmed).to_string());
        attributes.insert("RawMessageDelivery".into(), "false".into());
        if subscription.protocol.starts_with("http") {
            let effective = self.effective_delivery_policy(&subscription).await?;
            attributes.insert("EffectiveDeliveryPolicy".into(), effective.to_json().to_string());
        }
        for (name, value) in &subscription.attributes {
            if !value.is_empty() {
                attributes.insert(name.clone(), value.clone());
            }
        }
        if attributes.contains_key("FilterPolicy") && !attributes.contains_key("FilterPolicyScope") {
            attributes.insert("FilterPolicyScope".into(), "MessageAttributes".into());
        }
        Ok(json!({"Attributes": attributes}))
    }

    async fn set_subscription_attributes(&self, input: &Value) -> Result<Value, SnsError> {
        let mut subscription = self.load_subscription(required(input, "SubscriptionArn")?).await?;
        let name = required(input, "AttributeName")?;
        if !SUBSCRIPTION_ATTRIBUTES.contains(&name) {
            return Err(SnsError::invalid(format!("AttributeName Reason: Unknown attribute {name}")));
        }
        let value = text(input, "AttributeValue").unwrap_or_default();
        let scope = if name == "FilterPolicyScope" {
            value.to_string()
        } else {
            subscription.attributes.get("FilterPolicyScope").cloned().unwrap_or_else(|| "MessageAttributes".into())
        };
        let checked = check_subscription_attribute(name, value, &scope)?;
        if name == "RedrivePolicy" && !checked.is_empty() {
            let topic = self.load_topic(&subscription.topic_arn).await?;
            check_dead_letter_target(&topic, &subscription.protocol, &subscription.endpoint, &checked)?;
        }
        if name == "FilterPolicyScope" {
            if let Some(policy) = subscription.attributes.get("FilterPolicy").filter(|p| !p.is_empty()) {
                check_subscription_attribute("FilterPolicy", policy, &scope)?;
            }
        }
        subscription.attributes.insert(name.to_string(), checked);
        self.save_subscription(&subscription).await?;
        Ok(json!({}))
    }

    async fn tag(&self, input: &Value, add: bool) -> Result<Value, SnsError> {
        let mut topic = self.load_topic(required(input, "ResourceArn")?).await?;
        if add {
            topic.tags.extend(tags_from(input)?);
        } else {
            for key in input.get("TagKeys").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
                topic.tags.remove(key);
            }
        }
        self.save_topic(&topic).await?;
        Ok(json!({}))
    }

    async fn add_permission(&self, input: &Value) -> Result<Value, SnsError> {
        let mut topic = self.load_topic(required(input, "TopicArn")?).await?;
        let label = required(input, "Label")?;
        let accounts: Vec<String> = input.get("AWSAccountId").and_then(Value::as_array).into_iter().flatten().filter_map(|v| v.as_str().map(str::to_string)).collect();
        let actions: Vec<String> = input.get("ActionName").and_then(Value::as_array).into_iter().flatten().filter_map(|v| v.as_str().map(str::to_string)).collect();
        if accounts.is_empty() {
            return Err(SnsError::invalid("AWSAccountId"));
        }
        if actions.is_empty() {
            return Err(SnsError::invalid("ActionName"));
        }
        let current = topic.attributes.get("Policy").cloned().unwrap_or_else(|| default_policy(&topic.arn(), &topic.account));
        let mut policy: Value = serde_json::from_str(&current).map_err(SnsError::internal)?;
        let statements = policy["Statement"].as_array_mut().ok_or_else(|| SnsError::internal("the policy has no statements"))?;
        if statements.iter().any(|s| s["Sid"] == label) {
            return Err(SnsError::invalid("Statement already exists"));
        }
        statements.push(json!({
            "Sid": label,
            "Effect": "Allow",
            "Principal": {"AWS": accounts.iter().map(|a| format!("arn:aws:iam::{a}:root")).collect::<Vec<_>>()},
            "Action": actions.iter().map(|a| format!("SNS:{a}")).collect::<Vec<_>>(),
            "Resource": topic.arn(),
        }));
        topic.attributes.insert("Policy".into(), policy.to_string());
        self.save_topic(&topic).await?;
        Ok(json!({}))
    }

    async fn remove_permission(&self, input: &Value) -> Result<Value, SnsError> {
        let mut topic = self.load_topic(required(input, "TopicArn")?).await?;
        let label = required(input, "Label")?;
        let Some(current) = topic.attributes.get("Policy").cloned() else {
            return Err(SnsError::invalid("Label"));
        };
        let mut policy: Value = serde_json::from_str(&current).map_err(SnsError::internal)?;
        let statements = policy["Statement"].as_array_mut().ok_or_else(|| SnsError::internal("the policy has no statements"))?;
        let before = statements.len();
        statements.retain(|s| s["Sid"] != label);
        if statements.len() == before {
            return Err(SnsError::invalid("Label"));
        }
        topic.attributes.insert("Policy".into(), policy.to_string());
        self.save_topic(&topic).await?;
        Ok(json!({}))
    }
}
