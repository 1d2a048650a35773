//! Long polling and time-based rules on a manual clock.

use postroom_queue::{Clock, OutgoingMessage, QueueEngine, ReceiveOptions, ReceiptError};
use postroom_store::embedded::EmbeddedStore;
use postroom_store::{CreateQueueOutcome, QueueKey, QueueRecord};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

async fn engine_with_queue(attributes: &[(&str, &str)]) -> (Arc<QueueEngine>, QueueRecord) {
    let engine = Arc::new(QueueEngine::new(Arc::new(EmbeddedStore::in_memory()), Clock::manual_at(1_000_000)));
    let key = QueueKey { account: "000000000000".into(), region: "us-east-1".into(), name: "orders".into() };
    let attributes = attributes.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let CreateQueueOutcome::Created(queue) = engine.create_queue(key, attributes, BTreeMap::new()).await.expect("create")
    else {
        panic!("queue must be new");
    };
    (engine, queue)
}

fn message(body: &str, delay_seconds: Option<u64>) -> OutgoingMessage {
    OutgoingMessage {
        body: body.into(),
        message_attributes: BTreeMap::new(),
        system_attributes: BTreeMap::new(),
        delay_seconds,
        sender_id: "000000000000".into(),
        message_group_id: None,
        message_deduplication_id: None,
    }
}

fn long_poll(seconds: u64) -> ReceiveOptions<'static> {
    ReceiveOptions { max_messages: 10, visibility_timeout: None, wait_time_seconds: Some(seconds), attempt_id: None }
}

async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn long_poll_wakes_on_send() {
    let (engine, queue) = engine_with_queue(&[]).await;
    let poll = tokio::spawn({
        let (engine, queue) = (engine.clone(), queue.clone());
        async move { engine.receive(&queue, long_poll(20)).await }
    });
    settle().await;
    assert!(!poll.is_finished());
    engine.send(&queue, vec![message("hello", None)]).await.expect("send");
    let received = tokio::time::timeout(Duration::from_secs(5), poll).await.expect("woken").expect("task").expect("receive");
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].content.body, "hello");
}

#[tokio::test]
async fn long_poll_wakes_when_delay_ends() {
    let (engine, queue) = engine_with_queue(&[]).await;
    engine.send(&queue, vec![message("later", Some(5))]).await.expect("send");
    let poll = tokio::spawn({
        let (engine, queue) = (engine.clone(), queue.clone());
        async move { engine.receive(&queue, long_poll(20)).await }
    });
    settle().await;
    engine.clock().advance(Duration::from_millis(4_999));
    settle().await;
    assert!(!poll.is_finished(), "the delay has one millisecond left");
    engine.clock().advance(Duration::from_millis(1));
    let received = tokio::time::timeout(Duration::from_secs(5), poll).await.expect("woken").expect("task").expect("receive");
    assert_eq!(received.len(), 1);
}

#[tokio::test]
async fn long_poll_times_out_empty() {
    let (engine, queue) = engine_with_queue(&[("ReceiveMessageWaitTimeSeconds", "20")]).await;
    let poll = tokio::spawn({
        let (engine, queue) = (engine.clone(), queue.clone());
        async move { engine.receive(&queue, ReceiveOptions { max_messages: 1, ..Default::default() }).await }
    });
    settle().await;
    engine.clock().advance(Duration::from_secs(19));
    settle().await;
    assert!(!poll.is_finished(), "the queue default wait time applies");
    engine.clock().advance(Duration::from_secs(1));
    let received = tokio::time::timeout(Duration::from_secs(5), poll).await.expect("woken").expect("task").expect("receive");
    assert!(received.is_empty());
}

#[tokio::test]
async fn visibility_expiry_and_zero_wake_polls() {
    let (engine, queue) = engine_with_queue(&[("VisibilityTimeout", "30")]).await;
    engine.send(&queue, vec![message("a", None)]).await.expect("send");
    let first = engine.receive(&queue, long_poll(0)).await.expect("receive");
    assert_eq!(first.len(), 1);

    let poll = tokio::spawn({
        let (engine, queue) = (engine.clone(), queue.clone());
        async move { engine.receive(&queue, long_poll(20)).await }
    });
    settle().await;
    let handle = first[0].receipt_handle.as_str();
    let results = engine.change_visibility(&queue, &[(handle, 0)]).await.expect("change");
    assert_eq!(results, [Ok(())]);
    let received = tokio::time::timeout(Duration::from_secs(5), poll).await.expect("woken").expect("task").expect("receive");
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].receive_count, 2);

    let results = engine.change_visibility(&queue, &[(handle, 10)]).await.expect("change");
    assert_eq!(results, [Err(ReceiptError::Expired)], "the first handle is stale");

    let poll = tokio::spawn({
        let (engine, queue) = (engine.clone(), queue.clone());
        async move { engine.receive(&queue, long_poll(20)).await }
    });
    settle().await;
    engine.clock().advance(Duration::from_secs(30));
    let received = tokio::time::timeout(Duration::from_secs(5), poll).await.expect("woken").expect("task").expect("receive");
    assert_eq!(received[0].receive_count, 3, "the visibility timeout expired");
}

#[tokio::test]
async fn visibility_limit_counts_from_receive() {
    let (engine, queue) = engine_with_queue(&[]).await;
    engine.send(&queue, vec![message("a", None)]).await.expect("send");
    let received = engine.receive(&queue, long_poll(0)).await.expect("receive");
    let handle = received[0].receipt_handle.as_str();
    engine.clock().advance(Duration::from_secs(20));
    assert_eq!(engine.change_visibility(&queue, &[(handle, 43_180)]).await.expect("change"), [Ok(())]);
    engine.clock().advance(Duration::from_secs(1));
    assert_eq!(
        engine.change_visibility(&queue, &[(handle, 43_180)]).await.expect("change"),
        [Err(ReceiptError::LimitExceeded)]
    );
}

#[tokio::test]
async fn concurrent_polls_get_distinct_messages() {
    let (engine, queue) = engine_with_queue(&[]).await;
    let polls: Vec<_> = (0..4)
        .map(|_| {
            let (engine, queue) = (engine.clone(), queue.clone());
            tokio::spawn(async move {
                engine.receive(&queue, ReceiveOptions { max_messages: 1, wait_time_seconds: Some(20), ..Default::default() }).await
            })
        })
        .collect();
    settle().await;
    engine.send(&queue, (0..4).map(|i| message(&format!("m{i}"), None)).collect()).await.expect("send");
    let mut bodies = Vec::new();
    for poll in polls {
        let received = tokio::time::timeout(Duration::from_secs(5), poll).await.expect("woken").expect("task").expect("receive");
        bodies.extend(received.into_iter().map(|m| m.content.body.clone()));
    }
    bodies.sort();
    assert_eq!(bodies, ["m0", "m1", "m2", "m3"]);
}

#[tokio::test]
async fn retention_sweep_deletes_expired_messages() {
    let (engine, queue) = engine_with_queue(&[("MessageRetentionPeriod", "60")]).await;
    engine.send(&queue, vec![message("old", None)]).await.expect("send");
    let sweeper = tokio::spawn(engine.clone().sweep_retention());
    settle().await;
    engine.clock().advance(Duration::from_secs(60));
    settle().await;
    let now = engine.clock().now();
    let left = engine.store().expire_messages(queue.id, now, 60_000).await.expect("expire");
    assert_eq!(left, 0, "the sweep deleted the expired message first");
    engine.stop_long_polls();
    tokio::time::timeout(Duration::from_secs(5), sweeper).await.expect("the sweep stops").expect("sweeper task");
}
