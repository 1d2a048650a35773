//! Creating and deleting the queues that the scenarios use.

use crate::client::Client;
use crate::sqs::{self, CreateQueue, QueueUrl, QueueUrlOutput};
use anyhow::Context as _;
use std::collections::HashMap;

/// Builds a queue name that no other run uses from the scenario, the
/// process id and the time in milliseconds.
pub fn unique_name(scenario: &str, fifo: bool) -> String {
    let millis = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let suffix = if fifo { ".fifo" } else { "" };
    format!("bench-{scenario}-{}-{millis}{suffix}", std::process::id())
}

/// Creates the queue `name` and returns its URL. A FIFO queue gets no
/// content-based deduplication, because the producers set explicit
/// deduplication ids.
pub async fn create(client: &mut Client, name: &str, fifo: bool) -> anyhow::Result<String> {
    let mut attributes = HashMap::new();
    if fifo {
        attributes.insert("FifoQueue", "true".to_string());
    }
    let request = CreateQueue { queue_name: name, attributes };
    let output: QueueUrlOutput = client
        .call_json("CreateQueue", sqs::to_body(&request))
        .await
        .with_context(|| format!("creating the queue {name} on {}", client.endpoint().url))?;
    // NOTE: an endpoint that omits QueueUrl (the null server does not) gets
    // the URL form that SQS and its emulators use.
    Ok(output.queue_url.unwrap_or_else(|| format!("{}/000000000000/{name}", client.endpoint().url)))
}

pub async fn delete(client: &mut Client, queue_url: &str) -> anyhow::Result<()> {
    client
        .call("DeleteQueue", sqs::to_body(&QueueUrl { queue_url }))
        .await
        .with_context(|| format!("deleting the queue {queue_url}"))?;
    Ok(())
}
