//! Checks that every [`Store`] backend must pass.
//!
//! Each backend's tests call [`run_all`] with a factory of fresh, empty
//! stores. The checks drive the store with explicit instants, so they cover
//! the time-based rules without waiting.

use crate::*;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

const NO_RETENTION_LIMIT: u64 = u64::MAX;

/// Runs every check, each on a new store from `factory`.
pub async fn run_all<F, Fut>(factory: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn Store>>,
{
    create_is_idempotent(factory().await.as_ref()).await;
    deleted_queue_blocks_recreation(factory().await.as_ref()).await;
    list_filters_and_pages(factory().await.as_ref()).await;
    update_changes_attributes_and_tags(factory().await.as_ref()).await;
    receive_takes_oldest_and_hides(factory().await.as_ref()).await;
    delay_and_visibility_expire(factory().await.as_ref()).await;
    retention_drops_old_messages(factory().await.as_ref()).await;
    delete_by_receipt(factory().await.as_ref()).await;
    change_visibility_rules(factory().await.as_ref()).await;
    purge_and_cooldown(factory().await.as_ref()).await;
    unknown_queue_fails(factory().await.as_ref()).await;
    reset_removes_everything(factory().await.as_ref()).await;
    fifo_order_and_group_lock(factory().await.as_ref()).await;
    deduplication_returns_original(factory().await.as_ref()).await;
    receive_attempt_repeats(factory().await.as_ref()).await;
    redrive_after_max_receives(factory().await.as_ref()).await;
    fifo_redrive_restarts_retention(factory().await.as_ref()).await;
    move_resets_delivery_state(factory().await.as_ref()).await;
    move_tasks_are_stored(factory().await.as_ref()).await;
    leases_exclude_other_holders(factory().await.as_ref()).await;
    resources_by_kind_and_prefix(factory().await.as_ref()).await;
}

fn key(name: &str) -> QueueKey {
    QueueKey { account: "000000000000".into(), region: "us-east-1".into(), name: name.into() }
}

/// Creates a queue with no attributes and returns its id.
pub async fn create(store: &dyn Store, key: &QueueKey) -> QueueId {
    let request = CreateQueueRequest {
        key: key.clone(),
        attributes: BTreeMap::new(),
        tags: BTreeMap::new(),
        now: 0,
        deleted_after: 0,
    };
    match store.create_queue(request).await.expect("create queue") {
        CreateQueueOutcome::Created(record) | CreateQueueOutcome::Exists(record) => record.id,
        CreateQueueOutcome::DeletedRecently(at) => panic!("queue deleted recently at {at}"),
    }
}

/// Builds `count` messages sent at `sent_at` and visible at once.
pub fn messages(count: usize, sent_at: Timestamp) -> Vec<NewMessage> {
    (0..count)
        .map(|i| NewMessage {
            content: Arc::new(MessageContent {
                message_id: format!("message-{sent_at}-{i}"),
                body: format!("body {i}"),
                message_attributes: BTreeMap::new(),
                system_attributes: BTreeMap::new(),
                md5_of_body: String::new(),
                md5_of_message_attributes: None,
                md5_of_message_system_attributes: None,
                sender_id: "AIDATEST".into(),
                sent_at,
                message_group_id: None,
                message_deduplication_id: None,
                dead_letter_source_arn: None,
            }),
            visible_at: sent_at,
            deduplication: None,
        })
        .collect()
}

/// Builds a standard-queue receive with no retention limit.
pub fn receive(now: Timestamp, max_messages: usize, visibility_timeout_ms: u64) -> ReceiveRequest<'static> {
    ReceiveRequest {
        now,
        max_messages,
        visibility_timeout_ms,
        retention_ms: NO_RETENTION_LIMIT,
        fifo: false,
        attempt_id: None,
        attempt_window_ms: 0,
        redrive: None,
    }
}

async fn create_is_idempotent(store: &dyn Store) {
    let mut attributes = BTreeMap::new();
    attributes.insert("VisibilityTimeout".to_string(), "45".to_string());
    let request = CreateQueueRequest {
        key: key("orders"),
        attributes,
        tags: BTreeMap::new(),
        now: 5,
        deleted_after: 0,
    };
    let CreateQueueOutcome::Created(created) = store.create_queue(request.clone()).await.expect("create") else {
        panic!("first create must create");
    };
    assert_eq!(created.created_at, 5);
    assert_eq!(created.attributes["VisibilityTimeout"], "45");
    let again = store.create_queue(request).await.expect("create again");
    assert_eq!(again, CreateQueueOutcome::Exists(created.clone()));
    let fetched = store.get_queue(&key("orders")).await.expect("get");
    assert_eq!(fetched.as_deref(), Some(&created));
    assert_eq!(store.get_queue(&key("Orders")).await.expect("get"), None, "names are case-sensitive");
}

async fn deleted_queue_blocks_recreation(store: &dyn Store) {
    let first = create(store, &key("orders")).await;
    let deleted = store.delete_queue(&key("orders"), 1_000).await.expect("delete");
    assert_eq!(deleted.map(|record| record.id), Some(first));
    assert_eq!(store.delete_queue(&key("orders"), 1_000).await.expect("delete again"), None);

    let mut request = CreateQueueRequest {
        key: key("orders"),
        attributes: BTreeMap::new(),
        tags: BTreeMap::new(),
        now: 2_000,
        deleted_after: 500,
    };
    let outcome = store.create_queue(request.clone()).await.expect("create");
    assert_eq!(outcome, CreateQueueOutcome::DeletedRecently(1_000));

    request.deleted_after = 1_000;
    let CreateQueueOutcome::Created(record) = store.create_queue(request).await.expect("create") else {
        panic!("creation after the window must succeed");
    };
    assert_ne!(record.id, first, "a new incarnation gets a new id");
}

async fn list_filters_and_pages(store: &dyn Store) {
    for name in ["b-orders", "a-orders", "a-payments", "c"] {
        create(store, &key(name)).await;
    }
    let mut other = key("a-other-region");
    other.region = "eu-west-1".into();
    create(store, &other).await;

    let names = |records: Vec<QueueRecord>| records.into_iter().map(|r| r.key.name).collect::<Vec<_>>();
    let all = store.list_queues("000000000000", "us-east-1", "", None, 100).await.expect("list");
    assert_eq!(names(all), ["a-orders", "a-payments", "b-orders", "c"]);
    let prefixed = store.list_queues("000000000000", "us-east-1", "a-", None, 100).await.expect("list");
    assert_eq!(names(prefixed), ["a-orders", "a-payments"]);
    let page = store.list_queues("000000000000", "us-east-1", "", Some("a-payments"), 1).await.expect("list");
    assert_eq!(names(page), ["b-orders"]);
    let other_account = store.list_queues("111111111111", "us-east-1", "", None, 100).await.expect("list");
    assert!(other_account.is_empty());
    let everything = store.all_queues().await.expect("all queues");
    assert_eq!(everything.len(), 5, "every account and region");
}

async fn update_changes_attributes_and_tags(store: &dyn Store) {
    create(store, &key("orders")).await;
    let mut update = QueueUpdate { now: 77, ..QueueUpdate::default() };
    update.set_attributes.insert("DelaySeconds".into(), "5".into());
    update.set_tags.insert("team".into(), "billing".into());
    let record = store.update_queue(&key("orders"), update).await.expect("update").expect("queue exists");
    assert_eq!(record.attributes["DelaySeconds"], "5");
    assert_eq!(record.tags["team"], "billing");
    assert_eq!(record.last_modified_at, 77);

    let update = QueueUpdate { remove_tags: vec!["team".into()], now: 99, ..QueueUpdate::default() };
    let record = store.update_queue(&key("orders"), update).await.expect("update").expect("queue exists");
    assert!(record.tags.is_empty());
    assert_eq!(record.last_modified_at, 77, "tags do not move LastModifiedTimestamp");
    let missing = store.update_queue(&key("missing"), QueueUpdate::default()).await.expect("update");
    assert!(missing.is_none());
}

async fn receive_takes_oldest_and_hides(store: &dyn Store) {
    let queue = create(store, &key("orders")).await;
    let seqs: Vec<u64> = store.send_messages(queue, messages(3, 0)).await.expect("send").iter().map(SendOutcome::seq).collect();
    assert_eq!(seqs.len(), 3);
    assert!(seqs.windows(2).all(|pair| pair[0] < pair[1]), "sequence numbers increase");

    let first = store.receive_messages(queue, receive(10, 2, 1_000)).await.expect("receive");
    let bodies: Vec<_> = first.messages.iter().map(|m| m.content.body.as_str()).collect();
    assert_eq!(bodies, ["body 0", "body 1"]);
    assert!(first.messages.iter().all(|m| m.receive_count == 1 && m.first_received_at == 10));

    let second = store.receive_messages(queue, receive(10, 10, 1_000)).await.expect("receive");
    assert_eq!(second.messages.len(), 1, "in-flight messages are hidden");
    assert_eq!(second.messages[0].content.body, "body 2");
    let third = store.receive_messages(queue, receive(10, 10, 1_000)).await.expect("receive");
    assert!(third.messages.is_empty());
    assert_eq!(third.next_visible_at, Some(1_010));

    let counts = store.queue_counts(queue, 10, NO_RETENTION_LIMIT).await.expect("counts");
    assert_eq!(counts, QueueCounts { visible: 0, in_flight: 3, delayed: 0 });
}

async fn delay_and_visibility_expire(store: &dyn Store) {
    let queue = create(store, &key("orders")).await;
    let mut delayed = messages(1, 0);
    delayed[0].visible_at = 500;
    store.send_messages(queue, delayed).await.expect("send");
    assert_eq!(
        store.queue_counts(queue, 0, NO_RETENTION_LIMIT).await.expect("counts"),
        QueueCounts { visible: 0, in_flight: 0, delayed: 1 }
    );
    let early = store.receive_messages(queue, receive(499, 10, 100)).await.expect("receive");
    assert!(early.messages.is_empty());
    assert_eq!(early.next_visible_at, Some(500));

    let received = store.receive_messages(queue, receive(500, 10, 100)).await.expect("receive");
    assert_eq!(received.messages.len(), 1);
    let again = store.receive_messages(queue, receive(599, 10, 100)).await.expect("receive");
    assert!(again.messages.is_empty(), "still in flight one millisecond before expiry");
    let redelivered = store.receive_messages(queue, receive(600, 10, 0)).await.expect("receive");
    assert_eq!(redelivered.messages.len(), 1);
    assert_eq!(redelivered.messages[0].receive_count, 2);
    assert_eq!(redelivered.messages[0].first_received_at, 500);
    assert_ne!(redelivered.messages[0].receipt, received.messages[0].receipt);

    let zero = store.receive_messages(queue, receive(600, 10, 0)).await.expect("receive");
    assert_eq!(zero.messages.len(), 1, "a zero visibility timeout leaves the message receivable");
}

async fn retention_drops_old_messages(store: &dyn Store) {
    let queue = create(store, &key("orders")).await;
    store.send_messages(queue, messages(1, 0)).await.expect("send");
    store.send_messages(queue, messages(1, 1_000)).await.expect("send");
    let request = ReceiveRequest { retention_ms: 60_000, ..receive(60_000, 10, 10) };
    let received = store.receive_messages(queue, request).await.expect("receive");
    assert_eq!(received.messages.len(), 1, "the message sent at 0 expired at 60000");
    assert_eq!(received.messages[0].content.sent_at, 1_000);
    let counts = store.queue_counts(queue, 61_000, 60_000).await.expect("counts");
    assert_eq!(counts, QueueCounts::default());

    // Backends may delete expired messages lazily, so this clears what is
    // left before counting what the sweep deletes.
    store.expire_messages(queue, 61_000, 60_000).await.expect("expire");
    store.send_messages(queue, messages(2, 100_000)).await.expect("send");
    assert_eq!(store.expire_messages(queue, 159_999, 60_000).await.expect("expire"), 0);
    assert_eq!(store.expire_messages(queue, 160_000, 60_000).await.expect("expire"), 2);
}

async fn delete_by_receipt(store: &dyn Store) {
    let queue = create(store, &key("orders")).await;
    store.send_messages(queue, messages(2, 0)).await.expect("send");
    let first = store.receive_messages(queue, receive(0, 1, 10)).await.expect("receive").messages;
    let old_receipt = first[0].receipt;
    let second = store.receive_messages(queue, receive(20, 1, 10)).await.expect("receive").messages;
    assert_eq!(second[0].seq, first[0].seq, "the oldest message comes back first");

    let outcomes = store.delete_messages(queue, &[old_receipt], None).await.expect("delete");
    assert_eq!(outcomes, [DeleteOutcome::Stale]);
    let outcomes = store.delete_messages(queue, &[second[0].receipt, second[0].receipt], None).await.expect("delete");
    assert_eq!(outcomes, [DeleteOutcome::Deleted, DeleteOutcome::NotFound]);
    let never_received = Receipt { seq: second[0].seq + 1, nonce: 0 };
    let outcomes = store.delete_messages(queue, &[never_received], None).await.expect("delete");
    assert_eq!(outcomes, [DeleteOutcome::Stale], "a message never received has no valid receipt");
    let counts = store.queue_counts(queue, 20, NO_RETENTION_LIMIT).await.expect("counts");
    assert_eq!(counts.visible, 1);

    let last = store.receive_messages(queue, receive(30, 1, 10)).await.expect("receive").messages;
    let outcomes = store.delete_messages(queue, &[last[0].receipt], Some(40)).await.expect("delete");
    assert_eq!(outcomes, [DeleteOutcome::NotInFlight], "the visibility timeout ended at 40");
    let outcomes = store.delete_messages(queue, &[last[0].receipt], None).await.expect("delete");
    assert_eq!(outcomes, [DeleteOutcome::Deleted], "without the check the latest receipt deletes");
}

async fn change_visibility_rules(store: &dyn Store) {
    let queue = create(store, &key("orders")).await;
    store.send_messages(queue, messages(1, 0)).await.expect("send");
    let received = store.receive_messages(queue, receive(0, 1, 100)).await.expect("receive").messages;
    let receipt = received[0].receipt;
    let change = |now, visibility_timeout_ms| VisibilityChange { receipt, now, visibility_timeout_ms, max_total_ms: 1_000 };

    let outcomes = store.change_visibility(queue, &[change(50, 500)]).await.expect("change");
    assert_eq!(outcomes, [ChangeVisibilityOutcome::Changed]);
    let hidden = store.receive_messages(queue, receive(549, 1, 100)).await.expect("receive");
    assert!(hidden.messages.is_empty());
    let outcomes = store.change_visibility(queue, &[change(500, 501)]).await.expect("change");
    assert_eq!(outcomes, [ChangeVisibilityOutcome::LimitExceeded], "limit counts from the receive");

    let outcomes = store.change_visibility(queue, &[change(500, 0)]).await.expect("change");
    assert_eq!(outcomes, [ChangeVisibilityOutcome::Changed]);
    let outcomes = store.change_visibility(queue, &[change(501, 10)]).await.expect("change");
    assert_eq!(outcomes, [ChangeVisibilityOutcome::NotInFlight]);

    let again = store.receive_messages(queue, receive(501, 1, 100)).await.expect("receive").messages;
    assert_eq!(again.len(), 1);
    let outcomes = store.change_visibility(queue, &[change(502, 10)]).await.expect("change");
    assert_eq!(outcomes, [ChangeVisibilityOutcome::Stale]);
    store.delete_messages(queue, &[again[0].receipt], None).await.expect("delete");
    let gone = VisibilityChange { receipt: again[0].receipt, now: 503, visibility_timeout_ms: 1, max_total_ms: 1_000 };
    let outcomes = store.change_visibility(queue, &[gone]).await.expect("change");
    assert_eq!(outcomes, [ChangeVisibilityOutcome::NotFound]);
}

async fn purge_and_cooldown(store: &dyn Store) {
    let queue = create(store, &key("orders")).await;
    store.send_messages(queue, messages(4, 0)).await.expect("send");
    store.receive_messages(queue, receive(0, 1, 100)).await.expect("receive");
    let outcome = store.purge_queue(queue, 10, 60_000).await.expect("purge");
    assert_eq!(outcome, PurgeOutcome::Purged { count: 4 });
    assert_eq!(store.queue_counts(queue, 10, NO_RETENTION_LIMIT).await.expect("counts"), QueueCounts::default());
    let outcome = store.purge_queue(queue, 60_009, 60_000).await.expect("purge");
    assert_eq!(outcome, PurgeOutcome::InProgress { since: 10 });
    let outcome = store.purge_queue(queue, 60_010, 60_000).await.expect("purge");
    assert_eq!(outcome, PurgeOutcome::Purged { count: 0 });
}

async fn unknown_queue_fails(store: &dyn Store) {
    let missing = QueueId(u64::MAX);
    let error = store.send_messages(missing, messages(1, 0)).await.expect_err("send must fail");
    assert!(matches!(error, StoreError::QueueNotFound(_)));
    let error = store.receive_messages(missing, receive(0, 1, 1)).await.expect_err("receive must fail");
    assert!(matches!(error, StoreError::QueueNotFound(_)));

    let queue = create(store, &key("orders")).await;
    store.delete_queue(&key("orders"), 0).await.expect("delete");
    let error = store.send_messages(queue, messages(1, 0)).await.expect_err("send to deleted queue must fail");
    assert!(matches!(error, StoreError::QueueNotFound(_)));
}

async fn reset_removes_everything(store: &dyn Store) {
    let queue = create(store, &key("orders")).await;
    store.send_messages(queue, messages(2, 0)).await.expect("send");
    store.delete_queue(&key("orders"), 0).await.expect("delete");
    create(store, &key("payments")).await;
    store.reset().await.expect("reset");
    assert!(store.list_queues("000000000000", "us-east-1", "", None, 100).await.expect("list").is_empty());
    let request = CreateQueueRequest {
        key: key("orders"),
        attributes: BTreeMap::new(),
        tags: BTreeMap::new(),
        now: 1,
        deleted_after: 0,
    };
    let outcome = store.create_queue(request).await.expect("create");
    assert!(matches!(outcome, CreateQueueOutcome::Created(_)), "reset forgets deleted queues too");
}

fn grouped(groups: &[&str], sent_at: Timestamp) -> Vec<NewMessage> {
    let mut batch = messages(groups.len(), sent_at);
    for (message, group) in batch.iter_mut().zip(groups) {
        Arc::make_mut(&mut message.content).message_group_id = Some((*group).to_string());
    }
    batch
}

fn fifo(now: Timestamp, max_messages: usize, visibility_timeout_ms: u64) -> ReceiveRequest<'static> {
    ReceiveRequest { fifo: true, ..receive(now, max_messages, visibility_timeout_ms) }
}

fn bodies(outcome: &ReceiveOutcome) -> Vec<String> {
    outcome.messages.iter().map(|m| m.content.body.clone()).collect()
}

async fn fifo_order_and_group_lock(store: &dyn Store) {
    let queue = create(store, &key("orders.fifo")).await;
    // Bodies are "body <index>": a0 b1 a2 a3 b4.
    store.send_messages(queue, grouped(&["a", "b", "a", "a", "b"], 0)).await.expect("send");

    let first = store.receive_messages(queue, fifo(0, 2, 100)).await.expect("receive");
    assert_eq!(bodies(&first), ["body 0", "body 2"], "one receive takes a run of one group");
    let second = store.receive_messages(queue, fifo(0, 10, 100)).await.expect("receive");
    assert_eq!(bodies(&second), ["body 1", "body 4"], "group a is locked while in flight");
    let third = store.receive_messages(queue, fifo(0, 10, 100)).await.expect("receive");
    assert!(third.messages.is_empty(), "every group is locked");

    store.delete_messages(queue, &[first.messages[1].receipt], None).await.expect("delete");
    let locked = store.receive_messages(queue, fifo(50, 10, 100)).await.expect("receive");
    assert!(locked.messages.is_empty(), "one message of group a is still in flight");
    let again = store.receive_messages(queue, fifo(100, 10, 100)).await.expect("receive");
    assert_eq!(bodies(&again), ["body 0", "body 3", "body 1", "body 4"], "expired messages return first, in order");
    assert_eq!(again.messages[0].receive_count, 2);
}

async fn deduplication_returns_original(store: &dyn Store) {
    let queue = create(store, &key("orders.fifo")).await;
    let with_key = |sent_at: Timestamp| {
        let mut batch = grouped(&["a"], sent_at);
        batch[0].deduplication = Some(Deduplication { key: "order-1".into(), expires_at: sent_at + 300_000 });
        batch
    };
    let first = store.send_messages(queue, with_key(0)).await.expect("send");
    let SendOutcome::Enqueued { seq } = first[0] else { panic!("the first send is enqueued") };
    let duplicate = store.send_messages(queue, with_key(1_000)).await.expect("send duplicate");
    let original_id = "message-0-0".to_string();
    assert_eq!(duplicate, [SendOutcome::Duplicate { seq, message_id: original_id.clone() }]);

    let received = store.receive_messages(queue, fifo(2_000, 10, 100)).await.expect("receive");
    assert_eq!(received.messages.len(), 1, "the duplicate was not enqueued");
    store.delete_messages(queue, &[received.messages[0].receipt], None).await.expect("delete");
    let after_delete = store.send_messages(queue, with_key(3_000)).await.expect("send after delete");
    assert_eq!(after_delete, [SendOutcome::Duplicate { seq, message_id: original_id }]);

    let after_window = store.send_messages(queue, with_key(300_000)).await.expect("send after the window");
    assert!(matches!(after_window[0], SendOutcome::Enqueued { .. }), "the window of the first send has ended");
}

async fn receive_attempt_repeats(store: &dyn Store) {
    let queue = create(store, &key("orders.fifo")).await;
    store.send_messages(queue, grouped(&["a", "a", "b"], 0)).await.expect("send");
    let attempt = |now| ReceiveRequest { attempt_id: Some("attempt-1"), attempt_window_ms: 300_000, ..fifo(now, 2, 100) };

    let first = store.receive_messages(queue, attempt(0)).await.expect("receive");
    let retry = store.receive_messages(queue, attempt(50)).await.expect("retry");
    let receipts = |outcome: &ReceiveOutcome| outcome.messages.iter().map(|m| m.receipt).collect::<Vec<_>>();
    assert_eq!(receipts(&retry), receipts(&first), "a retry returns the same receipts");
    assert_eq!(retry.messages[0].receive_count, 1, "a retry is not a new receive");
    let hidden = store.receive_messages(queue, fifo(149, 10, 100)).await.expect("receive");
    assert_eq!(bodies(&hidden), ["body 2"], "the retry restarted the visibility timeout");

    store.delete_messages(queue, &[first.messages[0].receipt], None).await.expect("delete");
    let changed = store.receive_messages(queue, attempt(150)).await.expect("receive after a change");
    assert_eq!(bodies(&changed), ["body 1"], "an attempt whose messages changed receives anew");
}

async fn redrive_after_max_receives(store: &dyn Store) {
    let source = create(store, &key("orders")).await;
    let dead_letter = create(store, &key("orders-dlq")).await;
    store.send_messages(source, messages(1, 0)).await.expect("send");
    let redrive = Redrive {
        dead_letter_queue: dead_letter,
        max_receive_count: 3,
        source_arn: "arn:aws:sqs:us-east-1:000000000000:orders".into(),
        reset_enqueue_time: false,
    };
    let with_redrive = |now| ReceiveRequest { redrive: Some(&redrive), retention_ms: 100_000, ..receive(now, 10, 10) };

    for attempt in 1..=3u32 {
        let outcome = store.receive_messages(source, with_redrive(u64::from(attempt) * 10)).await.expect("receive");
        assert_eq!(outcome.messages.len(), 1, "delivery {attempt} of 3");
        assert_eq!(outcome.messages[0].receive_count, attempt);
    }
    let fourth = store.receive_messages(source, with_redrive(40)).await.expect("receive");
    assert!(fourth.messages.is_empty(), "the fourth receive moves the message instead");
    assert_eq!(fourth.moved_to_dead_letter_queue, 1);
    assert_eq!(store.queue_counts(source, 40, NO_RETENTION_LIMIT).await.expect("counts"), QueueCounts::default());

    let moved = store.receive_messages(dead_letter, receive(40, 10, 10)).await.expect("receive from the DLQ");
    let message = &moved.messages[0];
    assert_eq!(message.content.message_id, "message-0-0", "the message keeps its id");
    assert_eq!(message.content.body, "body 0");
    assert_eq!(message.content.sent_at, 0);
    assert_eq!(message.content.dead_letter_source_arn.as_deref(), Some("arn:aws:sqs:us-east-1:000000000000:orders"));
    let retention = ReceiveRequest { retention_ms: 100_000, ..receive(100_000, 10, 10) };
    let expired = store.receive_messages(dead_letter, retention).await.expect("receive");
    assert!(expired.messages.is_empty(), "a standard queue keeps the original enqueue time");
}

async fn fifo_redrive_restarts_retention(store: &dyn Store) {
    let source = create(store, &key("orders.fifo")).await;
    let dead_letter = create(store, &key("orders-dlq.fifo")).await;
    store.send_messages(source, grouped(&["a", "a"], 0)).await.expect("send");
    let redrive = Redrive {
        dead_letter_queue: dead_letter,
        max_receive_count: 1,
        source_arn: "arn:aws:sqs:us-east-1:000000000000:orders.fifo".into(),
        reset_enqueue_time: true,
    };
    let request = |now| ReceiveRequest { redrive: Some(&redrive), ..fifo(now, 1, 10) };
    let first = store.receive_messages(source, request(0)).await.expect("receive");
    assert_eq!(bodies(&first), ["body 0"]);
    let second = store.receive_messages(source, request(50_000)).await.expect("receive");
    assert_eq!(bodies(&second), ["body 1"], "the exhausted head moved and the next message of its group follows");
    assert_eq!(second.moved_to_dead_letter_queue, 1);

    let retention = ReceiveRequest { retention_ms: 60_000, ..fifo(100_000, 10, 10) };
    let moved = store.receive_messages(dead_letter, retention).await.expect("receive from the DLQ");
    assert_eq!(bodies(&moved), ["body 0"], "a FIFO move restarts the retention period");
}

async fn move_resets_delivery_state(store: &dyn Store) {
    let source = create(store, &key("orders")).await;
    let dead_letter = create(store, &key("orders-dlq")).await;
    store.send_messages(source, messages(3, 0)).await.expect("send");
    let redrive = Redrive {
        dead_letter_queue: dead_letter,
        max_receive_count: 1,
        source_arn: "arn:aws:sqs:us-east-1:000000000000:orders".into(),
        reset_enqueue_time: false,
    };
    let request = |now| ReceiveRequest { redrive: Some(&redrive), ..receive(now, 10, 10) };
    store.receive_messages(source, request(0)).await.expect("receive");
    store.receive_messages(source, request(10)).await.expect("receive moves all three");
    let held = store.receive_messages(dead_letter, receive(10, 1, 100)).await.expect("hold one in flight");
    assert_eq!(held.messages.len(), 1);

    let last = store.last_seq(dead_letter).await.expect("last seq");
    let movable = store.movable_messages(dead_letter, 10, last, 10).await.expect("movable");
    assert_eq!(movable.len(), 2, "in-flight messages are not movable");
    assert!(movable.iter().all(|m| m.dead_letter_source_arn.as_deref() == Some("arn:aws:sqs:us-east-1:000000000000:orders")));

    let mut seqs: Vec<u64> = movable.iter().map(|m| m.seq).collect();
    seqs.push(held.messages[0].seq);
    let moved = store.move_messages(MoveRequest { from: dead_letter, to: source, seqs, now: 20 }).await.expect("move");
    assert_eq!(moved, 2, "the in-flight message stays");
    let back = store.receive_messages(source, receive(20, 10, 10)).await.expect("receive");
    assert_eq!(back.messages.len(), 2);
    assert!(back.messages.iter().all(|m| m.receive_count == 1), "receive counts start over");
    assert!(back.messages.iter().all(|m| m.content.dead_letter_source_arn.is_none()));
}

async fn move_tasks_are_stored(store: &dyn Store) {
    let queue = create(store, &key("orders-dlq")).await;
    let mut task = MoveTaskRecord {
        task_id: "task-1".into(),
        source_arn: "arn:aws:sqs:us-east-1:000000000000:orders-dlq".into(),
        source_queue: queue,
        destination_arn: None,
        max_messages_per_second: Some(10),
        status: "RUNNING".into(),
        moved: 0,
        to_move: 5,
        up_to_seq: 5,
        failure_reason: None,
        started_at: 1,
    };
    store.put_move_task(task.clone()).await.expect("put");
    task.status = "COMPLETED".into();
    task.moved = 5;
    store.put_move_task(task.clone()).await.expect("replace");
    assert_eq!(store.move_tasks().await.expect("list"), [task]);
    store.reset().await.expect("reset");
    assert!(store.move_tasks().await.expect("list").is_empty());
}

async fn leases_exclude_other_holders(store: &dyn Store) {
    assert!(store.acquire_lease("task-1", "node-a", 0, 100).await.expect("acquire"));
    assert!(!store.acquire_lease("task-1", "node-b", 50, 150).await.expect("acquire"), "node-a holds it");
    assert!(store.acquire_lease("task-1", "node-a", 60, 160).await.expect("renew"), "the holder renews");
    assert!(store.acquire_lease("task-2", "node-b", 60, 160).await.expect("acquire"), "leases are independent");
    assert!(store.acquire_lease("task-1", "node-b", 160, 260).await.expect("take over"), "an expired lease is free");
    assert!(!store.acquire_lease("task-1", "node-a", 170, 270).await.expect("acquire"));
}

async fn resources_by_kind_and_prefix(store: &dyn Store) {
    assert!(store.create_resource("bus", "000000000000/us-east-1/orders", b"v1".to_vec()).await.expect("create"));
    assert!(!store.create_resource("bus", "000000000000/us-east-1/orders", b"v2".to_vec()).await.expect("create again"));
    assert_eq!(store.get_resource("bus", "000000000000/us-east-1/orders").await.expect("get"), Some(b"v1".to_vec()));
    store.put_resource("bus", "000000000000/us-east-1/orders", b"v3".to_vec()).await.expect("put");
    store.put_resource("bus", "000000000000/us-east-1/billing", b"b".to_vec()).await.expect("put");
    store.put_resource("bus", "111111111111/us-east-1/orders", b"other".to_vec()).await.expect("put");
    store.put_resource("rule", "000000000000/us-east-1/orders", b"rule".to_vec()).await.expect("put");

    let listed = store.list_resources("bus", "000000000000/us-east-1/").await.expect("list");
    let keys: Vec<&str> = listed.iter().map(|(key, _)| key.as_str()).collect();
    assert_eq!(keys, ["000000000000/us-east-1/billing", "000000000000/us-east-1/orders"]);
    assert_eq!(listed[1].1, b"v3");
    assert!(store.delete_resource("bus", "000000000000/us-east-1/orders").await.expect("delete"));
    assert!(!store.delete_resource("bus", "000000000000/us-east-1/orders").await.expect("delete again"));
    assert_eq!(store.get_resource("rule", "000000000000/us-east-1/orders").await.expect("get"), Some(b"rule".to_vec()));
    store.reset().await.expect("reset");
    assert!(store.list_resources("rule", "").await.expect("list").is_empty());
}
