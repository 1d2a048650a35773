//! `fanout` and `fanout-events`: producers publish to an SNS topic whose
//! subscriptions copy every message to several queues, or put events on an
//! EventBridge bus whose rule sends them to one queue, while consumers
//! receive and delete from the queues. Messages per second count the
//! deliveries received.

use super::cycle::{consume, split_connections, wait_for_room};
use super::queue;
use super::Scenario;
use crate::client::{Client, Service};
use crate::events::{self, DeleteRule, EventBusName, EventEntry, FailedEntries, PutEvents, PutRule, PutTargets};
use crate::runner::{Run, Stats};
use crate::sns;
use crate::sqs::{self, GetQueueAttributes, GetQueueAttributesOutput};
use anyhow::{bail, Context as _};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Notify;

/// Source and detail type of the events that producers put.
const EVENT_SOURCE: &str = "postroom.bench";
const EVENT_DETAIL_TYPE: &str = "bench";
/// Pattern of the rule: every event from the producers.
const EVENT_PATTERN: &str = r#"{"source":["postroom.bench"]}"#;
/// Id of the rule's one target.
const TARGET_ID: &str = "bench-queue";

/// Destination of the producers.
pub enum Source {
    /// An SNS topic with one raw-delivery subscription per queue.
    Topic { arn: String },
    /// An EventBridge bus with one rule that targets the only queue.
    Bus { name: String, rule: String },
}

/// The resources of a fan-out run.
pub struct Topology {
    /// Name of the topic or bus, shown in the report.
    pub name: String,
    /// `None` until it exists, so that a setup that fails halfway deletes
    /// only the queues.
    pub source: Option<Source>,
    pub queue_urls: Vec<String>,
}

impl Topology {
    /// Creates `queues` queues and the topic that fans out to them
    /// (`fanout`), or one queue, a bus and its rule (`fanout-events`).
    /// What was created is deleted again when a step fails.
    pub async fn create(client: &mut Client, scenario: Scenario, queues: usize) -> anyhow::Result<Self> {
        let name = queue::unique_name(scenario.name(), false);
        let queues = if scenario == Scenario::FanoutEvents { 1 } else { queues };
        let mut topology = Self { name: name.clone(), source: None, queue_urls: Vec::new() };
        let result = topology.build(client, scenario, queues).await;
        if let Err(error) = result {
            if let Err(cleanup) = topology.delete(client).await {
                eprintln!("warning: {cleanup:#}");
            }
            return Err(error);
        }
        Ok(topology)
    }

    async fn build(&mut self, client: &mut Client, scenario: Scenario, queues: usize) -> anyhow::Result<()> {
        let mut queue_arns = Vec::with_capacity(queues);
        for index in 0..queues {
            let url = queue::create(client, &format!("{}-{index}", self.name), false).await?;
            self.queue_urls.push(url.clone());
            queue_arns.push(queue_arn(client, &url).await?);
        }
        if scenario == Scenario::FanoutEvents {
            let name = self.name.clone();
            client
                .call_service(Service::Events, "CreateEventBus", sqs::to_body(&EventBusName { name: &name }))
                .await
                .with_context(|| format!("creating the event bus {name}"))?;
            let rule = format!("{name}-rule");
            self.source = Some(Source::Bus { name: name.clone(), rule: rule.clone() });
            let put_rule =
                PutRule { name: &rule, event_bus_name: &name, event_pattern: EVENT_PATTERN, state: "ENABLED" };
            client
                .call_service(Service::Events, "PutRule", sqs::to_body(&put_rule))
                .await
                .with_context(|| format!("creating the rule {rule}"))?;
            let targets = queue_arns.iter().map(|arn| events::Target { id: TARGET_ID, arn }).collect();
            let put_targets = PutTargets { rule: &rule, event_bus_name: &name, targets };
            let output: FailedEntries = client
                .call_service_json(Service::Events, "PutTargets", sqs::to_body(&put_targets))
                .await
                .with_context(|| format!("adding the queue as target of the rule {rule}"))?;
            if output.failed_entry_count > 0 {
                bail!("adding the queue as target of the rule {rule} failed");
            }
            return Ok(());
        }
        let response = client
            .call_service(Service::Sns, "CreateTopic", sns::form(&[("Name", &self.name)]))
            .await
            .with_context(|| format!("creating the topic {}", self.name))?;
        let arn = sns::xml_text(&String::from_utf8_lossy(&response), "TopicArn")
            .with_context(|| format!("the CreateTopic response names no TopicArn: {response:?}"))?;
        self.source = Some(Source::Topic { arn: arn.clone() });
        for queue_arn in &queue_arns {
            let params = [
                ("TopicArn", arn.as_str()),
                ("Protocol", "sqs"),
                ("Endpoint", queue_arn.as_str()),
                ("Attributes.entry.1.key", "RawMessageDelivery"),
                ("Attributes.entry.1.value", "true"),
            ];
            client
                .call_service(Service::Sns, "Subscribe", sns::form(&params))
                .await
                .with_context(|| format!("subscribing {queue_arn} to {arn}"))?;
        }
        Ok(())
    }

    /// Deliveries that one message sent by a producer makes.
    pub fn fan_out(&self) -> u64 {
        match self.source {
            Some(Source::Bus { .. }) => 1,
            _ => self.queue_urls.len() as u64,
        }
    }

    /// Deletes the topic (and so its subscriptions) or the rule and the
    /// bus, then the queues. It tries every step and returns the first
    /// error.
    pub async fn delete(&self, client: &mut Client) -> anyhow::Result<()> {
        let mut first_error = None;
        let mut keep = |result: anyhow::Result<()>| {
            if let Err(error) = result {
                first_error.get_or_insert(error);
            }
        };
        match &self.source {
            Some(Source::Topic { arn }) => keep(
                client
                    .call_service(Service::Sns, "DeleteTopic", sns::form(&[("TopicArn", arn)]))
                    .await
                    .map(drop)
                    .with_context(|| format!("deleting the topic {arn}")),
            ),
            Some(Source::Bus { name, rule }) => {
                let remove = events::RemoveTargets { rule, event_bus_name: name, ids: &[TARGET_ID] };
                keep(
                    client
                        .call_service(Service::Events, "RemoveTargets", sqs::to_body(&remove))
                        .await
                        .map(drop)
                        .with_context(|| format!("removing the target of the rule {rule}")),
                );
                keep(
                    client
                        .call_service(
                            Service::Events,
                            "DeleteRule",
                            sqs::to_body(&DeleteRule { name: rule, event_bus_name: name }),
                        )
                        .await
                        .map(drop)
                        .with_context(|| format!("deleting the rule {rule}")),
                );
                keep(
                    client
                        .call_service(Service::Events, "DeleteEventBus", sqs::to_body(&EventBusName { name }))
                        .await
                        .map(drop)
                        .with_context(|| format!("deleting the event bus {name}")),
                );
            }
            None => {}
        }
        for url in &self.queue_urls {
            keep(queue::delete(client, url).await);
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Reads the ARN of the queue at `url`, which subscriptions and targets
/// name.
async fn queue_arn(client: &mut Client, url: &str) -> anyhow::Result<String> {
    let request = GetQueueAttributes { queue_url: url, attribute_names: &["QueueArn"] };
    let output: GetQueueAttributesOutput = client
        .call_json("GetQueueAttributes", sqs::to_body(&request))
        .await
        .with_context(|| format!("reading the ARN of {url}"))?;
    output.attributes.get("QueueArn").cloned().with_context(|| format!("GetQueueAttributes of {url} names no QueueArn"))
}

/// Runs producers on half the connections (at least one) and consumers on
/// the rest. Each consumer takes the queues in turn, starting at its own.
pub async fn fanout(run: Arc<Run>, topology: Arc<Topology>) -> Stats {
    let (producers, consumers) = split_connections(&run);
    let received = Arc::new(Notify::new());
    let mut tasks = Vec::new();
    for index in 0..producers {
        let run = run.clone();
        let topology = topology.clone();
        let received = received.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = run.client(index);
            let mut stats = Stats::default();
            while !run.finished() {
                wait_for_room(&run, &received).await;
                match &topology.source {
                    Some(Source::Topic { arn }) => {
                        publish(&run, &mut client, &mut stats, arn, topology.fan_out()).await
                    }
                    Some(Source::Bus { name, .. }) => put_events(&run, &mut client, &mut stats, name).await,
                    None => break,
                }
            }
            stats
        }));
    }
    for (consumer, index) in (producers..producers + consumers).enumerate() {
        let run = run.clone();
        let topology = topology.clone();
        let received = received.clone();
        tasks.push(tokio::spawn(async move { consume(&run, &topology.queue_urls, consumer, index, &received).await }));
    }
    super::join_all(tasks).await
}

/// Publishes one message to the topic.
async fn publish(run: &Run, client: &mut Client, stats: &mut Stats, topic_arn: &str, fan_out: u64) {
    let sequence = run.next_sequences(1);
    let body = sqs::message_body(sequence, run.micros_since_base(Instant::now()), run.options.body_size);
    let params = [("TopicArn", topic_arn), ("Message", body.as_str())];
    let timed = run.call_service(client, stats, Service::Sns, "Publish", sns::form(&params)).await;
    if timed.result.is_ok() {
        run.counters.sent.fetch_add(fan_out, Ordering::Relaxed);
        if timed.counted {
            stats.messages_sent += 1;
        }
    }
}

/// Puts `--batch-size` events on the bus in one PutEvents.
async fn put_events(run: &Run, client: &mut Client, stats: &mut Stats, bus: &str) {
    let size = run.options.batch_size as u64;
    let first = run.next_sequences(size);
    let sent_micros = run.micros_since_base(Instant::now());
    let entries = (first..first + size)
        .map(|sequence| EventEntry {
            source: EVENT_SOURCE,
            detail_type: EVENT_DETAIL_TYPE,
            detail: events::detail(&sqs::message_body(sequence, sent_micros, run.options.body_size)),
            event_bus_name: bus,
        })
        .collect();
    let body = sqs::to_body(&PutEvents { entries });
    let timed = run.call_service(client, stats, Service::Events, "PutEvents", body).await;
    let Ok(response) = timed.result else {
        return;
    };
    let output = serde_json::from_slice::<FailedEntries>(&response)
        .unwrap_or(FailedEntries { failed_entry_count: 0, entries: Vec::new() });
    let sent = size.saturating_sub(output.failed_entry_count);
    run.counters.sent.fetch_add(sent, Ordering::Relaxed);
    if timed.counted {
        stats.messages_sent += sent;
        for code in output.entries.into_iter().filter_map(|entry| entry.error_code) {
            stats.count_error(format!("{code} (event entry)"));
        }
    }
}
