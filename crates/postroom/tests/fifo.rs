//! FIFO queues through aws-sdk-sqs: group order, group exclusivity,
//! deduplication and receive attempts.

mod common;

use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName, SendMessageBatchRequestEntry};
use aws_sdk_sqs::Client;
use common::{Options, Server};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

async fn create_fifo(client: &Client, name: &str, attributes: &[(QueueAttributeName, &str)]) -> String {
    let mut request = client.create_queue().queue_name(name).attributes(QueueAttributeName::FifoQueue, "true");
    for (attribute, value) in attributes {
        request = request.attributes(attribute.clone(), *value);
    }
    request.send().await.expect("create FIFO queue").queue_url().expect("url").to_string()
}

fn error_code<E: ProvideErrorMetadata>(error: &E) -> String {
    error.code().unwrap_or("<none>").to_string()
}

#[tokio::test]
async fn creation_rules() {
    let server = Server::start(Options::default());
    let client = server.client();
    let url = create_fifo(&client, "orders.fifo", &[]).await;
    let attributes = client
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .expect("attributes");
    let attributes = attributes.attributes().expect("map");
    assert_eq!(attributes[&QueueAttributeName::FifoQueue], "true");
    assert_eq!(attributes[&QueueAttributeName::ContentBasedDeduplication], "false");
    assert_eq!(attributes[&QueueAttributeName::DeduplicationScope], "messageQueue");
    assert_eq!(attributes[&QueueAttributeName::FifoThroughputLimit], "perQueue");

    let no_flag = client.create_queue().queue_name("plain.fifo").send().await.expect_err("needs FifoQueue");
    assert_eq!(error_code(&no_flag), "InvalidParameterValue");
    let no_suffix = client
        .create_queue()
        .queue_name("plain")
        .attributes(QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .expect_err("needs the suffix");
    assert_eq!(error_code(&no_suffix), "InvalidParameterValue");
    let change = client
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::FifoQueue, "false")
        .send()
        .await
        .expect_err("type is fixed");
    assert_eq!(error_code(&change), "InvalidAttributeValue");
    let bad_pair = client
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::FifoThroughputLimit, "perMessageGroupId")
        .send()
        .await
        .expect_err("needs messageGroup scope");
    assert_eq!(error_code(&bad_pair), "InvalidAttributeValue");
    client
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::FifoThroughputLimit, "perMessageGroupId")
        .attributes(QueueAttributeName::DeduplicationScope, "messageGroup")
        .send()
        .await
        .expect("high-throughput mode");
    let standard = client.create_queue().queue_name("standard").send().await.expect("standard").queue_url().expect("url").to_string();
    let fifo_only = client
        .set_queue_attributes()
        .queue_url(&standard)
        .attributes(QueueAttributeName::ContentBasedDeduplication, "true")
        .send()
        .await
        .expect_err("FIFO attribute on a standard queue");
    assert_eq!(error_code(&fifo_only), "InvalidAttributeName");
}

#[tokio::test]
async fn send_validation() {
    let server = Server::start(Options::default());
    let client = server.client();
    let url = create_fifo(&client, "orders.fifo", &[]).await;
    let missing_group =
        client.send_message().queue_url(&url).message_body("x").message_deduplication_id("d").send().await.expect_err("no group");
    assert_eq!(error_code(&missing_group), "MissingParameter");
    let missing_id = client.send_message().queue_url(&url).message_body("x").message_group_id("g").send().await.expect_err("no id");
    assert_eq!(error_code(&missing_id), "InvalidParameterValue");
    let delay = client
        .send_message()
        .queue_url(&url)
        .message_body("x")
        .message_group_id("g")
        .message_deduplication_id("d")
        .delay_seconds(5)
        .send()
        .await
        .expect_err("per-message delay");
    assert_eq!(error_code(&delay), "InvalidParameterValue");
    let bad_group = client
        .send_message()
        .queue_url(&url)
        .message_body("x")
        .message_group_id("has space")
        .message_deduplication_id("d")
        .send()
        .await
        .expect_err("invalid group id");
    assert_eq!(error_code(&bad_group), "InvalidParameterValue");

    let entry = |id: &str, group: Option<&str>| {
        SendMessageBatchRequestEntry::builder()
            .id(id)
            .message_body("x")
            .set_message_group_id(group.map(str::to_string))
            .message_deduplication_id(id)
            .build()
            .expect("entry")
    };
    let batch = client
        .send_message_batch()
        .queue_url(&url)
        .entries(entry("ok", Some("g")))
        .entries(entry("nogroup", None))
        .send()
        .await
        .expect("batch");
    assert_eq!(batch.successful().len(), 1);
    assert_eq!(batch.failed()[0].id(), "nogroup");
    assert_eq!(batch.failed()[0].code(), "MissingParameter");
}

#[tokio::test]
async fn in_flight_message_blocks_its_group() {
    let server = Server::start(Options::default());
    let client = server.client();
    let url = create_fifo(&client, "orders.fifo", &[(QueueAttributeName::ContentBasedDeduplication, "true")]).await;
    for body in ["a1", "a2", "a3"] {
        client.send_message().queue_url(&url).message_body(body).message_group_id("a").send().await.expect("send");
    }
    client.send_message().queue_url(&url).message_body("b1").message_group_id("b").send().await.expect("send");

    let first = client.receive_message().queue_url(&url).visibility_timeout(30).send().await.expect("receive");
    assert_eq!(first.messages()[0].body(), Some("a1"));
    let second = client.receive_message().queue_url(&url).max_number_of_messages(10).send().await.expect("receive");
    let bodies: Vec<_> = second.messages().iter().filter_map(|m| m.body()).collect();
    assert_eq!(bodies, ["b1"], "a2 waits while a1 is in flight");

    server.advance(30.0).await;
    let again = client
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .expect("receive");
    let bodies: Vec<_> = again.messages().iter().filter_map(|m| m.body()).collect();
    assert_eq!(bodies, ["a1", "a2", "a3", "b1"], "a1 comes back first, then the rest of its group in order");
    let attributes = again.messages()[0].attributes().expect("attributes");
    assert_eq!(attributes[&MessageSystemAttributeName::MessageGroupId], "a");
    assert_eq!(attributes[&MessageSystemAttributeName::ApproximateReceiveCount], "2");
    let numbers: Vec<u128> = again
        .messages()
        .iter()
        .map(|m| m.attributes().expect("attributes")[&MessageSystemAttributeName::SequenceNumber].parse().expect("digits"))
        .collect();
    assert!(numbers.windows(2).all(|pair| pair[0] < pair[1]), "sequence numbers grow: {numbers:?}");
}

#[tokio::test]
async fn deduplication_explicit_and_content_based() {
    let server = Server::start(Options::default());
    let client = server.client();
    let url = create_fifo(&client, "orders.fifo", &[(QueueAttributeName::ContentBasedDeduplication, "true")]).await;
    let send = |body: &'static str, id: Option<&'static str>| {
        client
            .send_message()
            .queue_url(&url)
            .message_body(body)
            .message_group_id("g")
            .set_message_deduplication_id(id.map(str::to_string))
            .send()
    };
    let original = send("same body", None).await.expect("send");
    let repeat = send("same body", None).await.expect("duplicate by content");
    assert_eq!(repeat.message_id(), original.message_id());
    assert_eq!(repeat.sequence_number(), original.sequence_number());
    let explicit = send("other body", Some("order-7")).await.expect("send");
    let explicit_repeat = send("changed body", Some("order-7")).await.expect("duplicate by id");
    assert_eq!(explicit_repeat.message_id(), explicit.message_id());

    let received = client.receive_message().queue_url(&url).max_number_of_messages(10).send().await.expect("receive");
    assert_eq!(received.messages().len(), 2, "duplicates were not enqueued");
    for message in received.messages() {
        client.delete_message().queue_url(&url).receipt_handle(message.receipt_handle().expect("handle")).send().await.expect("delete");
    }
    let after_delete = send("same body", None).await.expect("duplicate after delete");
    assert_eq!(after_delete.message_id(), original.message_id());

    server.advance(300.0).await;
    let fresh = send("same body", None).await.expect("send after the window");
    assert_ne!(fresh.message_id(), original.message_id());
}

#[tokio::test]
async fn deduplication_scope_message_group() {
    let server = Server::start(Options::default());
    let client = server.client();
    let url = create_fifo(&client, "orders.fifo", &[(QueueAttributeName::DeduplicationScope, "messageGroup")]).await;
    let send = |group: &'static str| {
        client.send_message().queue_url(&url).message_body("x").message_group_id(group).message_deduplication_id("same").send()
    };
    let a = send("a").await.expect("send");
    let b = send("b").await.expect("send");
    assert_ne!(a.message_id(), b.message_id(), "the same id in another group is not a duplicate");
    let a_again = send("a").await.expect("send");
    assert_eq!(a_again.message_id(), a.message_id());
}

#[tokio::test]
async fn receive_attempt_returns_same_messages() {
    let server = Server::start(Options::default());
    let client = server.client();
    let url = create_fifo(&client, "orders.fifo", &[(QueueAttributeName::ContentBasedDeduplication, "true")]).await;
    for body in ["one", "two"] {
        client.send_message().queue_url(&url).message_body(body).message_group_id("g").send().await.expect("send");
    }
    let receive = || {
        client.receive_message().queue_url(&url).max_number_of_messages(10).receive_request_attempt_id("attempt-1").send()
    };
    let first = receive().await.expect("receive");
    let retry = receive().await.expect("retry");
    let handles = |messages: &[aws_sdk_sqs::types::Message]| {
        messages.iter().map(|m| m.receipt_handle().unwrap_or_default().to_string()).collect::<Vec<_>>()
    };
    assert_eq!(first.messages().len(), 2);
    assert_eq!(handles(retry.messages()), handles(first.messages()));
}

#[tokio::test]
async fn standard_queue_returns_group_id() {
    let server = Server::start(Options::default());
    let client = server.client();
    let url = client.create_queue().queue_name("fair").send().await.expect("create").queue_url().expect("url").to_string();
    client.send_message().queue_url(&url).message_body("x").message_group_id("tenant-1").send().await.expect("send");
    let received = client
        .receive_message()
        .queue_url(&url)
        .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
        .send()
        .await
        .expect("receive");
    let attributes = received.messages()[0].attributes().expect("attributes");
    assert_eq!(attributes[&MessageSystemAttributeName::MessageGroupId], "tenant-1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn consumers_keep_group_order_and_exclusivity() {
    const GROUPS: usize = 12;
    const PER_GROUP: usize = 15;
    let server = Server::start(Options::default());
    let client = server.client();
    let url = create_fifo(&client, "orders.fifo", &[(QueueAttributeName::ContentBasedDeduplication, "true")]).await;

    let mut producers = Vec::new();
    for group in 0..GROUPS {
        let (client, url) = (client.clone(), url.clone());
        producers.push(tokio::spawn(async move {
            for index in 0..PER_GROUP {
                client
                    .send_message()
                    .queue_url(&url)
                    .message_body(format!("{group}:{index}"))
                    .message_group_id(format!("group-{group}"))
                    .send()
                    .await
                    .expect("send");
            }
        }));
    }
    for producer in producers {
        producer.await.expect("producer");
    }

    // The consumer that has each group in flight, and the last index seen
    // per group.
    let holders: Arc<Mutex<HashMap<usize, usize>>> = Arc::default();
    let progress: Arc<Mutex<HashMap<usize, usize>>> = Arc::default();
    let mut consumers = Vec::new();
    for consumer in 0..4 {
        let (client, url, holders, progress) = (client.clone(), url.clone(), holders.clone(), progress.clone());
        consumers.push(tokio::spawn(async move {
            let mut handled = 0;
            for _ in 0..200 {
                let received = client
                    .receive_message()
                    .queue_url(&url)
                    .max_number_of_messages(3)
                    .visibility_timeout(60)
                    .send()
                    .await
                    .expect("receive");
                if received.messages().is_empty() {
                    if progress.lock().expect("lock").values().sum::<usize>() == GROUPS * PER_GROUP {
                        break;
                    }
                    tokio::task::yield_now().await;
                    continue;
                }
                let mut groups = HashSet::new();
                for message in received.messages() {
                    let (group, index) = message.body().expect("body").split_once(':').expect("group:index");
                    let (group, index): (usize, usize) = (group.parse().expect("group"), index.parse().expect("index"));
                    if groups.insert(group) {
                        let previous = holders.lock().expect("lock").insert(group, consumer);
                        assert!(previous.is_none(), "group {group} served to consumer {consumer} while {previous:?} held it");
                    }
                    let mut progress = progress.lock().expect("lock");
                    let seen = progress.entry(group).or_insert(0);
                    assert_eq!(index, *seen, "group {group} out of order");
                    *seen += 1;
                }
                // Release before deleting: the group stays locked until the
                // last delete lands.
                for group in groups {
                    holders.lock().expect("lock").remove(&group);
                }
                for message in received.messages() {
                    client.delete_message().queue_url(&url).receipt_handle(message.receipt_handle().expect("handle")).send().await.expect("delete");
                    handled += 1;
                }
            }
            handled
        }));
    }
    let mut total = 0;
    for consumer in consumers {
        total += consumer.await.expect("consumer");
    }
    assert_eq!(total, GROUPS * PER_GROUP);
}

#[tokio::test]
async fn expired_receipt_cannot_delete() {
    let server = Server::start(Options::default());
    let client = server.client();
    let url = create_fifo(&client, "orders.fifo", &[(QueueAttributeName::ContentBasedDeduplication, "true")]).await;
    client.send_message().queue_url(&url).message_body("x").message_group_id("g").send().await.expect("send");
    let first = client.receive_message().queue_url(&url).visibility_timeout(10).send().await.expect("receive");
    let handle = first.messages()[0].receipt_handle().expect("handle").to_string();
    server.advance(10.0).await;
    let expired = client.delete_message().queue_url(&url).receipt_handle(&handle).send().await.expect_err("expired");
    assert_eq!(error_code(&expired), "InvalidParameterValue");
    assert!(expired.message().unwrap_or_default().contains("expired"));

    let again = client.receive_message().queue_url(&url).send().await.expect("receive");
    assert_eq!(again.messages().len(), 1, "the message is still there");
    let stale = client.delete_message().queue_url(&url).receipt_handle(&handle).send().await.expect_err("stale");
    assert_eq!(error_code(&stale), "InvalidParameterValue");
    client
        .delete_message()
        .queue_url(&url)
        .receipt_handle(again.messages()[0].receipt_handle().expect("handle"))
        .send()
        .await
        .expect("the latest receipt deletes");
}
