//! Delivery of published messages to subscriptions.
//!
//! Publish queues one job per subscription in an internal queue of the
//! queue engine and returns once the jobs are durable. FIFO topics use an
//! internal FIFO queue whose message groups are the pairs of subscription
//! and message group, which keeps each subscription's order. Workers on
//! every node deliver the jobs: to SQS queues as the JSON envelope of SNS or
//! as the raw message, and to HTTP endpoints as signed posts. More workers
//! receive while jobs wait. Within a received batch, the jobs of a standard
//! topic run together, and those of a FIFO topic run one at a time, in the
//! order of each group. A failed
//! delivery waits with a growing visibility timeout and is retried; HTTP
//! endpoints get the retries of the delivery policy (3, 20 seconds apart, by
//! default) and queues and functions are retried for 23 days. Then the
//! message goes to the subscription's dead-letter queue, when it has one.
//! A failure that no retry can fix goes there at once: a subscribed queue
//! that does not exist, or an HTTP response other than 2xx, 5xx or 429.

use crate::delivery_policy::{Backoff, EffectivePolicy, RetryPolicy, DEFAULT_CONTENT_TYPE};
use crate::error::SnsError;
use crate::model::{Subscription, Topic};
use crate::publish::Published;
use crate::service::SnsService;
use crate::signing::{canonical_string, KeyPair, CERTIFICATE_PATH, KEY_KIND, KEY_NAME};
use postroom_queue::jobs::{self, JobOutcome, Receivers, Role};
use postroom_queue::{DeliveredMessage, EngineError, OutgoingMessage, ReceiveOptions};
use postroom_store::{AttributeValue, CreateQueueOutcome, QueueKey, QueueRecord};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// Retries of deliveries to queues and functions, which AWS fixes: 3 at
/// once, 2 one second apart, 10 with a backoff from 1 to 20 seconds, then
/// 100,000 20 seconds apart, over 23 days in all.
const MANAGED_ENDPOINT_RETRIES: RetryPolicy = RetryPolicy {
    min_delay: 1,
    max_delay: 20,
    retries: 100_015,
    no_delay_retries: 3,
    min_delay_retries: 2,
    max_delay_retries: 100_000,
    backoff: Backoff::Exponential,
};
const HTTP_TIMEOUT: Duration = Duration::from_secs(15);
/// Most receivers of one delivery queue on one node, each delivering one
/// batch at a time.
const MAX_RECEIVERS: usize = 16;

/// Returns the order group of a FIFO job: its subscription and message
/// group, as in the message group of the delivery queue. A job that cannot
/// be read is a group of its own.
fn order_group(body: &str) -> String {
    match serde_json::from_str::<Job>(body) {
        Ok(Job { kind: JobKind::Notification(published), subscription_arn, .. }) => {
            format!("{subscription_arn}/{}", published.group_id.unwrap_or_default())
        }
        Ok(job) => job.subscription_arn,
        Err(_) => body.to_string(),
    }
}

fn outbox_key(fifo: bool) -> QueueKey {
    let name = if fifo { "deliveries.fifo" } else { "deliveries" };
    QueueKey { account: "internal".into(), region: "sns".into(), name: name.into() }
}

#[derive(Debug, Serialize, Deserialize)]
enum JobKind {
    Notification(Published),
    Confirmation { topic_arn: String, token: String, message_id: String, timestamp: u64 },
    /// The message to an HTTP endpoint whose subscription was removed. It
    /// carries the subscription, which is no longer stored.
    UnsubscribeConfirmation { subscription: Box<Subscription>, token: String, message_id: String, timestamp: u64 },
}

/// The parts of a subscription or unsubscribe confirmation that differ
/// between messages.
struct ConfirmationFields<'a> {
    kind: &'a str,
    topic_arn: &'a str,
    token: &'a str,
    message_id: &'a str,
    timestamp: u64,
    message: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Job {
    kind: JobKind,
    subscription_arn: String,
}

/// The failure of one attempt to deliver a message.
#[derive(Debug)]
struct DeliveryError {
    message: String,
    /// Whether a later attempt can succeed. A client-side error, such as a
    /// subscribed queue that was deleted, cannot, so it is not retried.
    retryable: bool,
}

impl DeliveryError {
    fn client_side(message: String) -> Self {
        Self { message, retryable: false }
    }
}

impl From<String> for DeliveryError {
    fn from(message: String) -> Self {
        Self { message, retryable: true }
    }
}

fn string_attribute(value: impl Into<String>) -> AttributeValue {
    AttributeValue { data_type: "String".into(), string_value: Some(value.into()), binary_value: None }
}

fn url_query(pairs: &[(&str, &str)]) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        serializer.append_pair(name, value);
    }
    serializer.finish()
}

impl SnsService {
    async fn outbox(&self, fifo: bool) -> Result<QueueRecord, SnsError> {
        let mut attributes = BTreeMap::new();
        if fifo {
            attributes.insert("FifoQueue".to_string(), "true".to_string());
            attributes.insert("ContentBasedDeduplication".to_string(), "false".to_string());
            attributes.insert("DeduplicationScope".to_string(), "messageQueue".to_string());
            attributes.insert("FifoThroughputLimit".to_string(), "perQueue".to_string());
        }
        let outcome = self.engine.create_queue(outbox_key(fifo), attributes, BTreeMap::new()).await.map_err(SnsError::internal)?;
        match outcome {
            CreateQueueOutcome::Created(queue) | CreateQueueOutcome::Exists(queue) => Ok(queue),
            CreateQueueOutcome::DeletedRecently(_) => Err(SnsError::internal("the delivery queue was deleted")),
        }
    }

    pub(crate) async fn queue_deliveries(&self, topic: &Topic, published: &Published, targets: &[&Subscription]) -> Result<(), SnsError> {
        if targets.is_empty() {
            return Ok(());
        }
        let fifo = topic.is_fifo();
        let outbox = self.outbox(fifo).await?;
        let mut jobs = Vec::new();
        for subscription in targets {
            let job = Job { kind: JobKind::Notification(published.clone()), subscription_arn: subscription.arn() };
            jobs.push(OutgoingMessage {
                body: serde_json::to_string(&job).map_err(SnsError::internal)?,
                message_attributes: BTreeMap::new(),
                system_attributes: BTreeMap::new(),
                delay_seconds: None,
                sender_id: "sns".into(),
                message_group_id: fifo.then(|| format!("{}/{}", subscription.id, published.group_id.clone().unwrap_or_default())),
                message_deduplication_id: fifo.then(|| format!("{}/{}", published.message_id, subscription.id)),
            });
        }
        for chunk in jobs.chunks(10) {
            self.engine.send(&outbox, chunk.to_vec()).await.map_err(SnsError::internal)?;
        }
        Ok(())
    }

    pub(crate) async fn queue_confirmation(&self, subscription: &Subscription) -> Result<(), SnsError> {
        let now = self.engine.clock().now();
        let kind = JobKind::Confirmation {
            topic_arn: subscription.topic_arn.clone(),
            token: subscription.token.clone().unwrap_or_default(),
            message_id: uuid::Uuid::new_v4().to_string(),
            timestamp: now,
        };
        self.queue_job(Job { kind, subscription_arn: subscription.arn() }).await
    }

    /// Queues the unsubscribe confirmation to the endpoint of a removed
    /// HTTP subscription, whose `token` restores the subscription.
    pub(crate) async fn queue_unsubscribe_confirmation(&self, subscription: &Subscription, token: &str) -> Result<(), SnsError> {
        let now = self.engine.clock().now();
        let kind = JobKind::UnsubscribeConfirmation {
            subscription: Box::new(subscription.clone()),
            token: token.to_string(),
            message_id: uuid::Uuid::new_v4().to_string(),
            timestamp: now,
        };
        self.queue_job(Job { kind, subscription_arn: subscription.arn() }).await
    }

    async fn queue_job(&self, job: Job) -> Result<(), SnsError> {
        let message = OutgoingMessage {
            body: serde_json::to_string(&job).map_err(SnsError::internal)?,
            message_attributes: BTreeMap::new(),
            system_attributes: BTreeMap::new(),
            delay_seconds: None,
            sender_id: "sns".into(),
            message_group_id: None,
            message_deduplication_id: None,
        };
        let outbox = self.outbox(false).await?;
        self.engine.send(&outbox, vec![message]).await.map_err(SnsError::internal)?;
        Ok(())
    }

    /// Returns the signing key, creating it on first use.
    pub(crate) async fn signer(&self) -> Result<&KeyPair, SnsError> {
        self.signer
            .get_or_try_init(|| async {
                if let Some(bytes) = self.engine.store().get_resource(KEY_KIND, KEY_NAME).await? {
                    return KeyPair::from_bytes(&bytes).map_err(SnsError::internal);
                }
                let now = self.engine.clock().now();
                let generated = tokio::task::spawn_blocking(move || KeyPair::generate(now)).await.map_err(SnsError::internal)?.map_err(SnsError::internal)?;
                let bytes = generated.to_bytes().map_err(SnsError::internal)?;
                if !self.engine.store().create_resource(KEY_KIND, KEY_NAME, bytes).await? {
                    // Another node stored its key first; everyone signs with it.
                    let stored = self.engine.store().get_resource(KEY_KIND, KEY_NAME).await?.unwrap_or_default();
                    return KeyPair::from_bytes(&stored).map_err(SnsError::internal);
                }
                Ok(generated)
            })
            .await
    }

    /// Returns the PEM certificate that verifies message signatures.
    pub async fn certificate(&self) -> Result<String, SnsError> {
        Ok(self.signer().await?.certificate_pem.clone())
    }

    /// Delivers queued jobs until the server stops.
    pub async fn run_deliveries(self: Arc<Self>) {
        let fifo = tokio::spawn(self.clone().deliver_from(true));
        self.deliver_from(false).await;
        let _ = fifo.await;
    }

    async fn deliver_from(self: Arc<Self>, fifo: bool) {
        let receivers = Receivers::new(MAX_RECEIVERS);
        self.receiver(fifo, Role::Permanent, receivers.clone()).await;
        receivers.others_ended().await;
    }

    /// Receives batches of jobs from one delivery queue and delivers them.
    /// One receiver per queue runs as long as the server, and others come
    /// and go by [`Role`], up to [`MAX_RECEIVERS`]. An idle node so keeps
    /// one poll per queue, a busy one delivers many batches at once, whose
    /// deliveries share the store's syncs, and a slow endpoint holds up only
    /// its own batch. A FIFO queue hands out no job of a message group while
    /// another of that group is in flight, so batches running side by side
    /// never share a group.
    fn receiver(self: Arc<Self>, fifo: bool, role: Role, receivers: Arc<Receivers>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(async move {
            let first = role == Role::Permanent;
            let start = |role: Role| {
                if receivers.try_add() {
                    tokio::spawn(self.clone().receiver(fifo, role, receivers.clone()));
                }
            };
            while !self.engine.is_stopping() {
                let outbox = match self.outbox(fifo).await {
                    Ok(outbox) => outbox,
                    Err(error) if first => {
                        tracing::warn!(%error, "opening the SNS delivery queue failed");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                    Err(_) => break,
                };
                let options =
                    ReceiveOptions { max_messages: 10, visibility_timeout: Some(60), wait_time_seconds: Some(role.wait_seconds()), attempt_id: None };
                let received = match self.engine.receive(&outbox, options).await {
                    Ok(received) if !received.is_empty() => received,
                    Ok(_) if first => continue,
                    // A reset of the server deletes the queue, and the next
                    // pass of the loop creates it again.
                    Err(EngineError::QueueNotFound) if first => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                    Err(error) if first => {
                        tracing::warn!(%error, "receiving SNS deliveries failed");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                    _ => break,
                };
                if received.len() == 10 {
                    start(Role::Burst);
                }
                let outcomes = if fifo {
                    jobs::noting_slow(self.handle_in_order(received), || start(Role::Standby)).await
                } else {
                    let attempt = |delivery: DeliveredMessage| {
                        let service = self.clone();
                        async move {
                            let outcome = service.handle(&delivery.content.body, delivery.receive_count).await;
                            (delivery.receipt_handle, outcome)
                        }
                    };
                    let attempts = jobs::attempt_together(&self.engine, received, attempt, "SNS deliveries");
                    jobs::noting_slow(attempts, || start(Role::Standby)).await
                };
                jobs::settle(&self.engine, &outbox, &outcomes, "SNS deliveries").await;
            }
            if !first {
                receivers.remove();
            }
        })
    }

    /// Handles the jobs of a FIFO topic one at a time, in the order of each
    /// message group. After a job whose delivery is retried, the later jobs
    /// of its group wait as long as it does, so that none overtakes it. The
    /// wait raises their receive counts, which is harmless: FIFO topics
    /// deliver to queues only, whose retries are bounded by age, not count.
    /// Once the server has been stopping for its grace period, the jobs
    /// not yet handled are cut short ([`jobs::cut_short`]).
    async fn handle_in_order(&self, received: Vec<DeliveredMessage>) -> Vec<(String, JobOutcome)> {
        let handles: Vec<String> = received.iter().map(|delivery| delivery.receipt_handle.clone()).collect();
        let mut outcomes = Vec::with_capacity(received.len());
        tokio::select! {
            () = self.handle_each_in_order(received, &mut outcomes) => {}
            () = self.engine.stop_deadline() => jobs::cut_short(&handles, &mut outcomes, "SNS deliveries"),
        }
        outcomes
    }

    async fn handle_each_in_order(&self, received: Vec<DeliveredMessage>, outcomes: &mut Vec<(String, JobOutcome)>) {
        let mut waiting: BTreeMap<String, u64> = BTreeMap::new();
        for delivery in received {
            let group = order_group(&delivery.content.body);
            let outcome = match waiting.get(&group) {
                Some(&backoff) => JobOutcome::Retry(backoff),
                None => self.handle(&delivery.content.body, delivery.receive_count).await,
            };
            if let JobOutcome::Retry(backoff) = outcome {
                waiting.insert(group, backoff);
            }
            outcomes.push((delivery.receipt_handle, outcome));
        }
    }

    /// Runs one attempt of a job and returns whether the job is finished.
    async fn handle(&self, body: &str, attempt: u32) -> JobOutcome {
        let Ok(job) = serde_json::from_str::<Job>(body) else {
            tracing::error!("dropping an SNS delivery job that cannot be read");
            return JobOutcome::Done;
        };
        let subscription = match &job.kind {
            JobKind::UnsubscribeConfirmation { subscription, .. } => subscription.as_ref().clone(),
            _ => match self.load_subscription(&job.subscription_arn).await {
                Ok(subscription) => subscription,
                // The subscription is gone: nothing to deliver to.
                Err(_) => return JobOutcome::Done,
            },
        };
        let confirmation = !matches!(job.kind, JobKind::Notification(_));
        if matches!(job.kind, JobKind::Confirmation { .. }) && subscription.confirmed {
            return JobOutcome::Done;
        }
        let http_policy =
            if subscription.protocol.starts_with("http") { Some(self.delivery_policy(&subscription).await) } else { None };
        let content_type = http_policy.as_ref().map_or(DEFAULT_CONTENT_TYPE, |policy| policy.content_type.as_str());
        match self.deliver(&job, &subscription, content_type).await {
            Ok(()) => {
                self.engine.count_delivery("sns", "delivered");
                JobOutcome::Done
            }
            Err(DeliveryError { message: error, retryable }) => {
                let retries = http_policy.map_or(MANAGED_ENDPOINT_RETRIES, |policy| policy.retry);
                let next_retry = u64::from(attempt.max(1));
                match retries.delay_before(next_retry).filter(|_| retryable) {
                    // A dead-letter queue keeps messages, not confirmations.
                    None if confirmation => {
                        tracing::warn!(subscription = %job.subscription_arn, %error, "delivering a confirmation failed; giving up");
                        self.engine.count_delivery("sns", "dropped");
                        JobOutcome::Done
                    }
                    None => {
                        self.dead_letter(&job, &subscription, &error).await;
                        JobOutcome::Done
                    }
                    Some(delay) => {
                        tracing::warn!(subscription = %job.subscription_arn, attempt, %error, "an SNS delivery failed; retrying");
                        self.engine.count_delivery("sns", "retried");
                        JobOutcome::Retry(delay)
                    }
                }
            }
        }
    }

    /// Returns the `SignatureVersion` of a topic, "1" when it sets none or
    /// cannot be read.
    async fn topic_signature_version(&self, topic_arn: &str) -> String {
        let topic = self.load_topic(topic_arn).await.ok();
        topic.and_then(|topic| topic.attributes.get("SignatureVersion").cloned()).unwrap_or_else(|| "1".into())
    }

    /// Returns the delivery policy of an HTTP subscription. When its topic
    /// cannot be read, the subscription's own policy applies alone.
    async fn delivery_policy(&self, subscription: &Subscription) -> EffectivePolicy {
        self.effective_delivery_policy(subscription).await.unwrap_or_else(|error| {
            tracing::warn!(topic = %subscription.topic_arn, %error, "reading the topic's delivery policy failed");
            EffectivePolicy::of(None, subscription.attributes.get("DeliveryPolicy").map(String::as_str))
        })
    }

    /// Runs one attempt of a job. `content_type` is that of notifications
    /// to HTTP endpoints.
    async fn deliver(&self, job: &Job, subscription: &Subscription, content_type: &str) -> Result<(), DeliveryError> {
        match &job.kind {
            JobKind::Confirmation { message_id, .. } => {
                let envelope = self.envelope(job, subscription).await?;
                self.post(subscription, &envelope, "SubscriptionConfirmation", Some(message_id), DEFAULT_CONTENT_TYPE).await
            }
            JobKind::UnsubscribeConfirmation { message_id, .. } => {
                let envelope = self.envelope(job, subscription).await?;
                self.post(subscription, &envelope, "UnsubscribeConfirmation", Some(message_id), DEFAULT_CONTENT_TYPE).await
            }
            JobKind::Notification(published) => match subscription.protocol.as_str() {
                "sqs" => self.deliver_to_queue(job, published, subscription).await,
                "http" | "https" => {
                    let body =
                        if subscription.is_raw() { published.message_for(&subscription.protocol) } else { self.envelope(job, subscription).await?.to_string() };
                    self.post(subscription, &Value::String(body), "Notification", Some(&published.message_id), content_type).await
                }
                // TODO: functions as subscribers.
                other => Err(DeliveryError::client_side(format!("delivery to {other} endpoints is not supported by this server yet"))),
            },
        }
    }

    async fn deliver_to_queue(&self, job: &Job, published: &Published, subscription: &Subscription) -> Result<(), DeliveryError> {
        let endpoint = &subscription.endpoint;
        let key = postroom_queue::arn::parse_queue_arn(endpoint)
            .ok_or_else(|| DeliveryError::client_side(format!("the endpoint {endpoint} is not a queue ARN")))?;
        let queue = self.engine.get_queue(&key).await.map_err(|error| queue_error(endpoint, error))?;
        let fifo = postroom_queue::config::is_fifo(&queue.attributes);
        let (body, message_attributes) = if subscription.is_raw() {
            let mut attributes = BTreeMap::new();
            for (name, attribute) in &published.attributes {
                let value = if attribute.data_type.starts_with("Binary") {
                    use base64::Engine as _;
                    let bytes = base64::engine::general_purpose::STANDARD.decode(&attribute.value).unwrap_or_default();
                    AttributeValue { data_type: attribute.data_type.clone(), string_value: None, binary_value: Some(bytes) }
                } else {
                    AttributeValue { data_type: attribute.data_type.clone(), string_value: Some(attribute.value.clone()), binary_value: None }
                };
                attributes.insert(name.clone(), value);
            }
            (published.message_for("sqs"), attributes)
        } else {
            (self.envelope(job, subscription).await?.to_string(), BTreeMap::new())
        };
        let message = OutgoingMessage {
            body,
            message_attributes,
            system_attributes: BTreeMap::new(),
            delay_seconds: None,
            sender_id: "sns.amazonaws.com".into(),
            message_group_id: if fifo { Some(published.group_id.clone().unwrap_or_else(|| published.topic_arn.clone())) } else { None },
            message_deduplication_id: fifo.then(|| published.deduplication_id.clone().unwrap_or_else(|| published.message_id.clone())),
        };
        self.engine.send(&queue, vec![message]).await.map(|_| ()).map_err(|error| queue_error(endpoint, error))
    }

    /// Builds the signed JSON envelope of a job.
    async fn envelope(&self, job: &Job, subscription: &Subscription) -> Result<Value, String> {
        let signer = self.signer().await.map_err(|error| error.to_string())?;
        let base = format!("http://{}", subscription.host);
        let certificate_url = format!("{base}{CERTIFICATE_PATH}");
        let mut envelope = Map::new();
        match &job.kind {
            JobKind::Notification(published) => {
                let message = published.message_for(&subscription.protocol);
                let timestamp = postroom_queue::time::iso8601(published.timestamp, true);
                let version = published.signature_version.as_str();
                let fields = [
                    ("Message", Some(message.as_str())),
                    ("MessageId", Some(published.message_id.as_str())),
                    ("Subject", published.subject.as_deref()),
                    ("Timestamp", Some(timestamp.as_str())),
                    ("TopicArn", Some(published.topic_arn.as_str())),
                    ("Type", Some("Notification")),
                ];
                let signature = signer.sign(&canonical_string(&fields), version);
                envelope.insert("Type".into(), json!("Notification"));
                envelope.insert("MessageId".into(), json!(published.message_id));
                if let Some(sequence) = &published.sequence_number {
                    envelope.insert("SequenceNumber".into(), json!(sequence));
                }
                envelope.insert("TopicArn".into(), json!(published.topic_arn));
                if let Some(subject) = &published.subject {
                    envelope.insert("Subject".into(), json!(subject));
                }
                envelope.insert("Message".into(), json!(message));
                envelope.insert("Timestamp".into(), json!(timestamp));
                envelope.insert("SignatureVersion".into(), json!(version));
                envelope.insert("Signature".into(), json!(signature));
                envelope.insert("SigningCertURL".into(), json!(certificate_url));
                let unsubscribe = format!("{base}/?{}", url_query(&[("Action", "Unsubscribe"), ("SubscriptionArn", &subscription.arn())]));
                envelope.insert("UnsubscribeURL".into(), json!(unsubscribe));
                if !published.attributes.is_empty() {
                    let attributes: Map<String, Value> = published
                        .attributes
                        .iter()
                        .map(|(name, attribute)| (name.clone(), json!({"Type": attribute.data_type, "Value": attribute.value})))
                        .collect();
                    envelope.insert("MessageAttributes".into(), Value::Object(attributes));
                }
            }
            JobKind::Confirmation { topic_arn, token, message_id, timestamp } => {
                let message = format!(
                    "You have chosen to subscribe to the topic {topic_arn}.\nTo confirm the subscription, visit the SubscribeURL included in this message."
                );
                let fields =
                    ConfirmationFields { kind: "SubscriptionConfirmation", topic_arn, token, message_id, timestamp: *timestamp, message };
                self.sign_confirmation(&mut envelope, fields, &base, signer).await;
                envelope.insert("SigningCertURL".into(), json!(certificate_url));
            }
            JobKind::UnsubscribeConfirmation { subscription, token, message_id, timestamp } => {
                let message = format!(
                    "You have chosen to deactivate subscription {}.\nTo cancel this operation and restore the subscription, visit the SubscribeURL included in this message.",
                    subscription.arn()
                );
                let topic_arn = &subscription.topic_arn;
                let fields =
                    ConfirmationFields { kind: "UnsubscribeConfirmation", topic_arn, token, message_id, timestamp: *timestamp, message };
                self.sign_confirmation(&mut envelope, fields, &base, signer).await;
                envelope.insert("SigningCertURL".into(), json!(certificate_url));
            }
        }
        Ok(Value::Object(envelope))
    }

    /// Adds the signed fields of a subscription or unsubscribe confirmation
    /// to `envelope`, with the topic's signature version.
    async fn sign_confirmation(&self, envelope: &mut Map<String, Value>, fields: ConfirmationFields<'_>, base: &str, signer: &KeyPair) {
        let ConfirmationFields { kind, topic_arn, token, message_id, timestamp, message } = fields;
        let message = message.as_str();
        let subscribe_url = format!("{base}/?{}", url_query(&[("Action", "ConfirmSubscription"), ("TopicArn", topic_arn), ("Token", token)]));
        let timestamp = postroom_queue::time::iso8601(timestamp, true);
        let signed = [
            ("Message", Some(message)),
            ("MessageId", Some(message_id)),
            ("SubscribeURL", Some(subscribe_url.as_str())),
            ("Timestamp", Some(timestamp.as_str())),
            ("Token", Some(token)),
            ("TopicArn", Some(topic_arn)),
            ("Type", Some(kind)),
        ];
        let version = self.topic_signature_version(topic_arn).await;
        let signature = signer.sign(&canonical_string(&signed), &version);
        envelope.insert("Type".into(), json!(kind));
        envelope.insert("MessageId".into(), json!(message_id));
        envelope.insert("Token".into(), json!(token));
        envelope.insert("TopicArn".into(), json!(topic_arn));
        envelope.insert("Message".into(), json!(message));
        envelope.insert("SubscribeURL".into(), json!(subscribe_url));
        envelope.insert("Timestamp".into(), json!(timestamp));
        envelope.insert("SignatureVersion".into(), json!(version));
        envelope.insert("Signature".into(), json!(signature));
    }

    /// Posts one message to an HTTP endpoint. A 2xx response delivers it. As
    /// on AWS, a 5xx or 429 response, a timeout and a failed connection are
    /// retried under the delivery policy, and every other response is a
    /// permanent failure. Redirects are not followed.
    async fn post(
        &self,
        subscription: &Subscription,
        body: &Value,
        message_type: &str,
        message_id: Option<&str>,
        content_type: &str,
    ) -> Result<(), DeliveryError> {
        let text = match body {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        // NOTE: https endpoints are checked against the public web PKI roots,
        // so one with a self-signed certificate fails every delivery.
        let client = self
            .http
            .get_or_try_init(|| async {
                reqwest::Client::builder().timeout(HTTP_TIMEOUT).redirect(reqwest::redirect::Policy::none()).build()
            })
            .await
            .map_err(|error| format!("the HTTP client could not start: {error}"))?;
        let mut request = client
            .post(&subscription.endpoint)
            .header("content-type", content_type)
            .header("x-amz-sns-message-type", message_type)
            .header("x-amz-sns-topic-arn", &subscription.topic_arn)
            .header("user-agent", "Amazon Simple Notification Service Agent");
        if let Some(id) = message_id {
            request = request.header("x-amz-sns-message-id", id);
        }
        if message_type != "SubscriptionConfirmation" {
            request = request.header("x-amz-sns-subscription-arn", subscription.arn());
        }
        if message_type == "Notification" && subscription.is_raw() {
            request = request.header("x-amz-sns-rawdelivery", "true");
        }
        let response = request.body(text).send().await.map_err(|error| {
            if error.is_timeout() {
                format!("the endpoint did not answer within {} seconds", HTTP_TIMEOUT.as_secs())
            } else {
                format!("the endpoint did not answer: {error}")
            }
        })?;
        let status = response.status();
        let error = format!("the endpoint answered HTTP {}", status.as_u16());
        if status.is_success() {
            Ok(())
        } else if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            Err(error.into())
        } else {
            Err(DeliveryError::client_side(error))
        }
    }

    async fn dead_letter(&self, job: &Job, subscription: &Subscription, error: &str) {
        let target = subscription
            .attributes
            .get("RedrivePolicy")
            .and_then(|policy| serde_json::from_str::<Value>(policy).ok())
            .and_then(|policy| policy["deadLetterTargetArn"].as_str().map(str::to_string));
        let Some(arn) = target else {
            tracing::error!(subscription = %job.subscription_arn, %error, "dropping a message whose delivery failed; the subscription has no dead-letter queue");
            self.engine.count_delivery("sns", "dropped");
            return;
        };
        let queue = match postroom_queue::arn::parse_queue_arn(&arn) {
            Some(key) => self.engine.get_queue(&key).await.ok(),
            None => None,
        };
        let Some(queue) = queue else {
            tracing::error!(subscription = %job.subscription_arn, dead_letter_queue = %arn, %error, "dropping a message whose delivery failed: its dead-letter queue does not exist");
            self.engine.count_delivery("sns", "dropped");
            return;
        };
        let body = match self.envelope(job, subscription).await {
            Ok(envelope) => envelope.to_string(),
            Err(error) => {
                tracing::error!(%error, "building the envelope for the dead-letter queue failed");
                return;
            }
        };
        let mut attributes = BTreeMap::new();
        attributes.insert("ErrorCode".to_string(), string_attribute("DeliveryFailed"));
        attributes.insert("ErrorMessage".to_string(), string_attribute(error.chars().take(256).collect::<String>()));
        attributes.insert("SubscriptionArn".to_string(), string_attribute(subscription.arn()));
        attributes.insert("TopicArn".to_string(), string_attribute(subscription.topic_arn.clone()));
        let fifo = postroom_queue::config::is_fifo(&queue.attributes);
        let message = OutgoingMessage {
            body,
            message_attributes: attributes,
            system_attributes: BTreeMap::new(),
            delay_seconds: None,
            sender_id: "sns.amazonaws.com".into(),
            message_group_id: fifo.then(|| subscription.id.clone()),
            message_deduplication_id: fifo.then(|| uuid::Uuid::new_v4().to_string()),
        };
        match self.engine.send(&queue, vec![message]).await {
            Ok(_) => {
                tracing::warn!(subscription = %job.subscription_arn, dead_letter_queue = %arn, %error, "an SNS delivery failed; sent the message to the dead-letter queue");
                self.engine.count_delivery("sns", "dead_lettered");
            }
            Err(send_error) => {
                tracing::error!(subscription = %job.subscription_arn, %send_error, %error, "dropping a message whose delivery failed: sending it to the dead-letter queue failed");
                self.engine.count_delivery("sns", "dropped");
            }
        }
    }
}

/// Classifies an error of the queue engine while delivering to the queue `arn`.
fn queue_error(arn: &str, error: EngineError) -> DeliveryError {
    match error {
        EngineError::QueueNotFound | EngineError::DeletedRecently => DeliveryError::client_side(format!("the queue {arn} does not exist")),
        error => DeliveryError::from(error.to_string()),
    }
}

/// Retries and delay of a subscription: HTTP endpoints follow the delivery
/// policy (`numRetries` and `minDelayTarget`, 3 and 20 seconds by default);
/// other endpoints have no retry limit and back off exponentially.
#[cfg(test)]
mod tests {
    use super::*;

    fn job(subscription: &str, group: Option<&str>) -> String {
        let published = Published {
            message_id: "id".into(),
            topic_arn: "arn:aws:sns:us-east-1:000000000000:t.fifo".into(),
            message: "m".into(),
            structured: None,
            subject: None,
            attributes: BTreeMap::new(),
            group_id: group.map(Into::into),
            deduplication_id: None,
            sequence_number: None,
            timestamp: 0,
            signature_version: "1".into(),
        };
        let job = Job { kind: JobKind::Notification(published), subscription_arn: subscription.into() };
        serde_json::to_string(&job).expect("serializable job")
    }

    #[test]
    fn order_groups_pair_subscription_and_message_group() {
        assert_eq!(order_group(&job("s1", Some("a"))), order_group(&job("s1", Some("a"))));
        assert_ne!(order_group(&job("s1", Some("a"))), order_group(&job("s1", Some("b"))));
        assert_ne!(order_group(&job("s1", Some("a"))), order_group(&job("s2", Some("a"))));
        assert_eq!(order_group("not a job"), "not a job");
    }
}
