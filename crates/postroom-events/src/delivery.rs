//! Delivery of matched events to their targets.
//!
//! PutEvents writes one job per matched target into an internal queue of
//! the queue engine and returns once the jobs are durable. Workers on every
//! node receive jobs from that queue, more of them while jobs wait, and
//! deliver the jobs of each received batch together, then delete them. A
//! failed delivery stays in the queue with a visibility timeout that grows
//! exponentially, so the queue's receive count is the attempt count. When the
//! target's retry policy is used up, the event goes to the target's
//! dead-letter queue with the error in message attributes, and the job ends.
//! A failure that another attempt cannot mend, such as a target that does not
//! exist, goes to the dead-letter queue at once.
//! Clients cannot reach the internal queue: its account is not a number.

use crate::error::EventsError;
use crate::model::{bus_arn, Rule, TargetSpec};
use crate::service::{EventsContext, EventsService};
use crate::transform::{render, DeliveryContext};
use postroom_pattern::Pattern;
use postroom_queue::jobs::{self, JobOutcome, Receivers, Role};
use postroom_queue::{DeliveredMessage, EngineError, OutgoingMessage, ReceiveOptions};
use postroom_sns::ErrorKind as SnsErrorKind;
use postroom_store::{AttributeValue, CreateQueueOutcome, QueueKey, QueueRecord};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// Maximum wait between two attempts of one delivery, in seconds.
const MAX_BACKOFF_SECONDS: u64 = 300;
/// Most receivers of the delivery queue on one node, each delivering one
/// batch at a time.
const MAX_RECEIVERS: usize = 16;

fn outbox_key() -> QueueKey {
    QueueKey { account: "internal".into(), region: "events".into(), name: "deliveries".into() }
}

/// One delivery of one event to one target.
#[derive(Debug, Serialize, Deserialize)]
struct Job {
    event: Value,
    target: Value,
    rule_arn: String,
    rule_name: String,
    /// Milliseconds since the Unix epoch after which no attempt is made.
    deadline: u64,
    ingestion_time: String,
}

/// The failure of one attempt to deliver an event.
#[derive(Debug)]
struct DeliveryError {
    /// The code that EventBridge writes to the dead-letter record's `ERROR_CODE`.
    code: &'static str,
    message: String,
    /// Whether a later attempt can succeed without a change to the target.
    retryable: bool,
}

impl DeliveryError {
    fn no_resource(message: String) -> Self {
        Self { code: "NO_RESOURCE", message, retryable: false }
    }

    fn invalid_parameter(message: String) -> Self {
        Self { code: "INVALID_PARAMETER", message, retryable: false }
    }

    fn internal(message: String) -> Self {
        Self { code: "INTERNAL_ERROR", message, retryable: true }
    }
}

/// The next step for a job after a failed attempt.
#[derive(Debug, PartialEq, Eq)]
enum AfterFailure {
    /// Try again after this many seconds.
    Retry(u64),
    /// Send the event to the dead-letter queue. The condition names the
    /// limit of the retry policy that was reached, and is `None` for a
    /// failure that is not retried.
    DeadLetter(Option<&'static str>),
}

/// Decides between another attempt and the dead-letter queue after a failed
/// attempt, with `retries_used` attempts made before this one.
fn after_failure(retryable: bool, retries_used: u32, max_retries: u32, now: u64, deadline: u64) -> AfterFailure {
    if !retryable {
        AfterFailure::DeadLetter(None)
    } else if retries_used >= max_retries {
        AfterFailure::DeadLetter(Some("MaximumRetryAttempts"))
    } else if now >= deadline {
        AfterFailure::DeadLetter(Some("MaximumEventAgeInSeconds"))
    } else {
        AfterFailure::Retry((1u64 << retries_used.min(16)).min(MAX_BACKOFF_SECONDS))
    }
}

fn string_attribute(value: impl Into<String>) -> AttributeValue {
    AttributeValue { data_type: "String".into(), string_value: Some(value.into()), binary_value: None }
}

impl EventsService {
    async fn outbox(&self) -> Result<QueueRecord, EventsError> {
        let outcome = self.engine.create_queue(outbox_key(), BTreeMap::new(), BTreeMap::new()).await.map_err(EventsError::internal)?;
        match outcome {
            CreateQueueOutcome::Created(queue) | CreateQueueOutcome::Exists(queue) => Ok(queue),
            CreateQueueOutcome::DeletedRecently(_) => Err(EventsError::internal("the delivery queue was deleted")),
        }
    }

    /// Matches an event against the enabled rules of a bus and queues one
    /// delivery job per target of each matching rule.
    pub(crate) async fn route(&self, context: &EventsContext, bus: &str, event: &Value, now: u64) -> Result<(), EventsError> {
        let rules: Vec<Rule> =
            self.load_rules(context, bus).await?.into_iter().filter(|rule| rule.is_enabled() && matches(rule, event)).collect();
        self.queue_jobs(&rules, event, now).await
    }

    /// Queues one delivery job per target of each rule.
    pub(crate) async fn queue_jobs(&self, rules: &[Rule], event: &Value, now: u64) -> Result<(), EventsError> {
        let mut jobs = Vec::new();
        for rule in rules {
            for target in &rule.targets {
                let spec: TargetSpec = serde_json::from_value(target.clone()).unwrap_or_default();
                let job = Job {
                    event: event.clone(),
                    target: target.clone(),
                    rule_arn: rule.arn(),
                    rule_name: rule.name.clone(),
                    deadline: now + spec.max_event_age_seconds() * 1000,
                    ingestion_time: crate::put_events::iso8601(now),
                };
                jobs.push(OutgoingMessage {
                    body: serde_json::to_string(&job).map_err(EventsError::internal)?,
                    message_attributes: BTreeMap::new(),
                    system_attributes: BTreeMap::new(),
                    delay_seconds: Some(0),
                    sender_id: "events".into(),
                    message_group_id: None,
                    message_deduplication_id: None,
                });
            }
        }
        if jobs.is_empty() {
            return Ok(());
        }
        let outbox = self.outbox().await?;
        for chunk in jobs.chunks(10) {
            self.engine.send(&outbox, chunk.to_vec()).await.map_err(EventsError::internal)?;
        }
        Ok(())
    }

    /// Delivers queued jobs until the server stops.
    pub async fn run_deliveries(self: Arc<Self>) {
        let receivers = Receivers::new(MAX_RECEIVERS);
        self.receiver(Role::Permanent, receivers.clone()).await;
        receivers.others_ended().await;
    }

    /// Receives batches of jobs and delivers them. One receiver runs as
    /// long as the server, and others come and go by [`Role`], up to
    /// [`MAX_RECEIVERS`]. An idle node so keeps one poll, a busy one
    /// delivers many batches at once, whose deliveries share the store's
    /// syncs, and a slow batch holds up only itself.
    fn receiver(self: Arc<Self>, role: Role, receivers: Arc<Receivers>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(async move {
            let first = role == Role::Permanent;
            let start = |role: Role| {
                if receivers.try_add() {
                    tokio::spawn(self.clone().receiver(role, receivers.clone()));
                }
            };
            while !self.engine.is_stopping() {
                let outbox = match self.outbox().await {
                    Ok(outbox) => outbox,
                    Err(error) if first => {
                        tracing::warn!(%error, "opening the event delivery queue failed");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        continue;
                    }
                    Err(_) => break,
                };
                let options = ReceiveOptions {
                    max_messages: 10,
                    visibility_timeout: Some(30),
                    wait_time_seconds: Some(role.wait_seconds()),
                    attempt_id: None,
                };
                let received = match self.engine.receive(&outbox, options).await {
                    Ok(received) if !received.is_empty() => received,
                    Ok(_) if first => continue,
                    // A reset of the server deletes the queue, and the next
                    // pass of the loop creates it again.
                    Err(EngineError::QueueNotFound) if first => {
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                    Err(error) if first => {
                        tracing::warn!(%error, "receiving event deliveries failed");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        continue;
                    }
                    _ => break,
                };
                if received.len() == 10 {
                    start(Role::Burst);
                }
                let attempt = |delivery: DeliveredMessage| {
                    let service = self.clone();
                    async move {
                        let outcome = service.handle_job(&delivery.content.body, delivery.receive_count).await;
                        (delivery.receipt_handle, outcome)
                    }
                };
                let attempts = jobs::attempt_together(&self.engine, received, attempt, "event deliveries");
                let outcomes = jobs::noting_slow(attempts, || start(Role::Standby)).await;
                jobs::settle(&self.engine, &outbox, &outcomes, "event deliveries").await;
            }
            if !first {
                receivers.remove();
            }
        })
    }

    /// Runs one attempt of a job and returns whether the job is finished.
    async fn handle_job(&self, body: &str, attempt: u32) -> JobOutcome {
        let Ok(job) = serde_json::from_str::<Job>(body) else {
            tracing::error!("dropping an event delivery job that cannot be read");
            return JobOutcome::Done;
        };
        let spec: TargetSpec = serde_json::from_value(job.target.clone()).unwrap_or_default();
        let target_arn = spec.arn.clone().unwrap_or_default();
        match self.deliver(&job, &spec).await {
            Ok(()) => {
                self.engine.count_delivery("events", "delivered");
                JobOutcome::Done
            }
            Err(error) => {
                let retries_used = attempt.saturating_sub(1);
                let now = self.engine.clock().now();
                let message = &error.message;
                match after_failure(error.retryable, retries_used, spec.max_retries(), now, job.deadline) {
                    AfterFailure::Retry(seconds) => {
                        tracing::warn!(rule = %job.rule_arn, target = %target_arn, attempt, code = error.code, error = %message, "delivering an event failed; retrying");
                        self.engine.count_delivery("events", "retried");
                        JobOutcome::Retry(seconds)
                    }
                    AfterFailure::DeadLetter(condition) => {
                        // The receive count also counts an attempt cut short by a
                        // crash, which can take it past the policy's limit.
                        let retries = retries_used.min(spec.max_retries());
                        self.dead_letter(&job, &spec, &error, condition, retries).await;
                        JobOutcome::Done
                    }
                }
            }
        }
    }

    async fn deliver(&self, job: &Job, spec: &TargetSpec) -> Result<(), DeliveryError> {
        let arn = spec.arn.as_deref().unwrap_or_default();
        let context = DeliveryContext { rule_arn: &job.rule_arn, rule_name: &job.rule_name, ingestion_time: &job.ingestion_time };
        if let Some(key) = postroom_queue::arn::parse_queue_arn(arn) {
            let queue = self.engine.get_queue(&key).await.map_err(|error| queue_error(arn, error))?;
            let fifo = postroom_queue::config::is_fifo(&queue.attributes);
            let message = OutgoingMessage {
                body: render(spec, &job.event, &context),
                message_attributes: BTreeMap::new(),
                system_attributes: BTreeMap::new(),
                delay_seconds: None,
                sender_id: "events.amazonaws.com".into(),
                message_group_id: if fifo { spec.sqs_parameters.as_ref().and_then(|p| p.message_group_id.clone()) } else { None },
                // The event id deduplicates retries into a FIFO queue.
                message_deduplication_id: fifo.then(|| job.event["id"].as_str().unwrap_or_default().to_string()),
            };
            return self.engine.send(&queue, vec![message]).await.map(|_| ()).map_err(|error| queue_error(arn, error));
        }
        if let Some((prefix, bus)) = arn.split_once(":event-bus/") {
            let mut parts = prefix.split(':').skip(3);
            let (Some(region), Some(account)) = (parts.next(), parts.next()) else {
                return Err(DeliveryError::invalid_parameter(format!("{arn} is not an event bus ARN.")));
            };
            let context = EventsContext { account: account.to_string(), region: region.to_string() };
            if self.load_bus(&context, bus).await.map_err(|error| DeliveryError::internal(error.message))?.is_none() {
                return Err(DeliveryError::no_resource(format!("The event bus {} does not exist.", bus_arn(account, region, bus))));
            }
            let now = self.engine.clock().now();
            return self.route(&context, bus, &job.event, now).await.map_err(|error| DeliveryError::internal(error.message));
        }
        if arn.starts_with("arn:aws:sns:") {
            let message = render(spec, &job.event, &context);
            let group = spec.sqs_parameters.as_ref().and_then(|p| p.message_group_id.as_deref());
            return self.sns.publish_message(arn, &message, group).await.map(|_| ()).map_err(|error| match error.kind {
                SnsErrorKind::NotFound => DeliveryError::no_resource(format!("The topic {arn} does not exist.")),
                SnsErrorKind::InternalError => DeliveryError::internal(error.message),
                _ => DeliveryError::invalid_parameter(error.message),
            });
        }
        // TODO: Step Functions and functions as targets.
        Err(DeliveryError::invalid_parameter(format!("The target {arn} is of a service this server does not deliver to yet.")))
    }

    /// Sends the event of a failed job to the target's dead-letter queue, or
    /// drops it, and logs one line either way.
    async fn dead_letter(&self, job: &Job, spec: &TargetSpec, error: &DeliveryError, condition: Option<&str>, retries: u32) {
        let target = spec.arn.as_deref().unwrap_or_default();
        let Some(arn) = spec.dead_letter_config.as_ref().and_then(|config| config.arn.clone()) else {
            tracing::error!(rule = %job.rule_arn, %target, code = error.code, error = %error.message, "dropping an event whose delivery failed: the target has no dead-letter queue");
            self.engine.count_delivery("events", "dropped");
            return;
        };
        let queue = match postroom_queue::arn::parse_queue_arn(&arn) {
            Some(key) => self.engine.get_queue(&key).await.ok(),
            None => None,
        };
        let Some(queue) = queue else {
            tracing::error!(rule = %job.rule_arn, %target, dead_letter_queue = %arn, code = error.code, error = %error.message, "dropping an event whose delivery failed: its dead-letter queue does not exist");
            self.engine.count_delivery("events", "dropped");
            return;
        };
        let mut attributes = BTreeMap::new();
        attributes.insert("RULE_ARN".to_string(), string_attribute(job.rule_arn.clone()));
        attributes.insert("TARGET_ARN".to_string(), string_attribute(spec.arn.clone().unwrap_or_default()));
        attributes.insert("ERROR_CODE".to_string(), string_attribute(error.code));
        attributes.insert("ERROR_MESSAGE".to_string(), string_attribute(error.message.chars().take(256).collect::<String>()));
        if let Some(condition) = condition {
            attributes.insert("EXHAUSTED_RETRY_CONDITION".to_string(), string_attribute(condition));
        }
        attributes.insert("RETRY_ATTEMPTS".to_string(), string_attribute(retries.to_string()));
        let fifo = postroom_queue::config::is_fifo(&queue.attributes);
        let message = OutgoingMessage {
            body: job.event.to_string(),
            message_attributes: attributes,
            system_attributes: BTreeMap::new(),
            delay_seconds: None,
            sender_id: "events.amazonaws.com".into(),
            message_group_id: fifo.then(|| job.rule_name.clone()),
            message_deduplication_id: fifo.then(|| job.event["id"].as_str().unwrap_or_default().to_string()),
        };
        match self.engine.send(&queue, vec![message]).await {
            Ok(_) => {
                tracing::warn!(rule = %job.rule_arn, %target, dead_letter_queue = %arn, code = error.code, error = %error.message, "delivering an event failed; sent it to the dead-letter queue");
                self.engine.count_delivery("events", "dead_lettered");
            }
            Err(send_error) => {
                tracing::error!(rule = %job.rule_arn, %target, %send_error, error = %error.message, "dropping an event whose delivery failed: sending it to its dead-letter queue failed");
                self.engine.count_delivery("events", "dropped");
            }
        }
    }
}

/// Classifies an error of the queue engine while delivering to the queue `arn`.
fn queue_error(arn: &str, error: EngineError) -> DeliveryError {
    match error {
        EngineError::QueueNotFound | EngineError::DeletedRecently => DeliveryError::no_resource(format!("The queue {arn} does not exist.")),
        error => DeliveryError::internal(error.to_string()),
    }
}

pub(crate) fn matches(rule: &Rule, event: &Value) -> bool {
    rule.event_pattern.as_deref().and_then(|text| Pattern::event_pattern(text).ok()).is_some_and(|pattern| pattern.matches_json(event))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_until_policy_ends() {
        let deadline = 100_000;
        assert_eq!(after_failure(true, 0, 3, 0, deadline), AfterFailure::Retry(1));
        assert_eq!(after_failure(true, 1, 3, 0, deadline), AfterFailure::Retry(2));
        assert_eq!(after_failure(true, 2, 3, 0, deadline), AfterFailure::Retry(4));
        assert_eq!(after_failure(true, 3, 3, 0, deadline), AfterFailure::DeadLetter(Some("MaximumRetryAttempts")));
        assert_eq!(after_failure(true, 1, 3, deadline, deadline), AfterFailure::DeadLetter(Some("MaximumEventAgeInSeconds")));
        assert_eq!(after_failure(true, 12, 185, 0, deadline), AfterFailure::Retry(MAX_BACKOFF_SECONDS));
        assert_eq!(after_failure(true, 0, 0, 0, deadline), AfterFailure::DeadLetter(Some("MaximumRetryAttempts")));
    }

    #[test]
    fn permanent_failures_skip_retries() {
        assert_eq!(after_failure(false, 0, 185, 0, u64::MAX), AfterFailure::DeadLetter(None));
        let missing = queue_error("arn:aws:sqs:us-east-1:000000000000:gone", EngineError::QueueNotFound);
        assert_eq!((missing.code, missing.retryable), ("NO_RESOURCE", false));
        assert!(missing.message.contains(":gone"));
    }
}
