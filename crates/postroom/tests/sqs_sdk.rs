//! SQS through aws-sdk-sqs against a real server.

mod common;

use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, MessageAttributeValue,
    MessageSystemAttributeName, QueueAttributeName, SendMessageBatchRequestEntry,
};
use common::{Options, Server};

fn error_code<E: ProvideErrorMetadata>(error: &E) -> String {
    error.code().unwrap_or("<none>").to_string()
}

async fn create(server: &Server, name: &str) -> String {
    let output = server.client().create_queue().queue_name(name).send().await.expect("create queue");
    output.queue_url().expect("queue url").to_string()
}

#[tokio::test]
async fn queue_lifecycle() {
    let server = Server::start(Options::default());
    let client = server.client();
    let url = create(&server, "orders").await;
    assert_eq!(url, server.queue_url("orders"));

    let again = client.create_queue().queue_name("orders").send().await.expect("idempotent create");
    assert_eq!(again.queue_url(), Some(url.as_str()));
    let conflict = client
        .create_queue()
        .queue_name("orders")
        .attributes(QueueAttributeName::VisibilityTimeout, "45")
        .send()
        .await
        .expect_err("different attributes");
    assert_eq!(error_code(&conflict), "QueueAlreadyExists");

    let found = client.get_queue_url().queue_name("orders").send().await.expect("get url");
    assert_eq!(found.queue_url(), Some(url.as_str()));
    let listed = client.list_queues().send().await.expect("list");
    assert_eq!(listed.queue_urls(), std::slice::from_ref(&url));

    client.delete_queue().queue_url(&url).send().await.expect("delete");
    let missing = client.get_queue_url().queue_name("orders").send().await.expect_err("deleted");
    assert_eq!(error_code(&missing), "AWS.SimpleQueueService.NonExistentQueue");
    assert!(missing.into_service_error().is_queue_does_not_exist());

    let recent = client.create_queue().queue_name("orders").send().await.expect_err("deleted recently");
    assert_eq!(error_code(&recent), "AWS.SimpleQueueService.QueueDeletedRecently");
    server.advance(61.0).await;
    client.create_queue().queue_name("orders").send().await.expect("create after 60 s");
}

#[tokio::test]
async fn list_queues_pages() {
    let server = Server::start(Options::default());
    for name in ["a1", "a2", "a3", "b1"] {
        create(&server, name).await;
    }
    let client = server.client();
    let first = client.list_queues().queue_name_prefix("a").max_results(2).send().await.expect("page 1");
    assert_eq!(first.queue_urls(), [server.queue_url("a1"), server.queue_url("a2")]);
    let token = first.next_token().expect("more pages").to_string();
    let second =
        client.list_queues().queue_name_prefix("a").max_results(2).next_token(token).send().await.expect("page 2");
    assert_eq!(second.queue_urls(), [server.queue_url("a3")]);
    assert_eq!(second.next_token(), None);
    let invalid = client.list_queues().max_results(1001).send().await.expect_err("MaxResults too large");
    assert_eq!(error_code(&invalid), "InvalidParameterValue");
}

#[tokio::test]
async fn attributes_defaults_and_ranges() {
    let server = Server::start(Options::default());
    let url = create(&server, "orders").await;
    let client = server.client();
    let attributes = client
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .expect("get attributes");
    let attributes = attributes.attributes().expect("attributes");
    assert_eq!(attributes[&QueueAttributeName::VisibilityTimeout], "30");
    assert_eq!(attributes[&QueueAttributeName::MessageRetentionPeriod], "345600");
    assert_eq!(attributes[&QueueAttributeName::MaximumMessageSize], "1048576");
    assert_eq!(attributes[&QueueAttributeName::QueueArn], "arn:aws:sqs:us-east-1:000000000000:orders");

    client
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::DelaySeconds, "900")
        .send()
        .await
        .expect("set in range");
    let out_of_range = client
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::DelaySeconds, "901")
        .send()
        .await
        .expect_err("out of range");
    assert_eq!(error_code(&out_of_range), "InvalidAttributeValue");
    let read_only = client
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::QueueArn, "arn:aws:sqs:us-east-1:000000000000:x")
        .send()
        .await
        .expect_err("read-only");
    assert_eq!(error_code(&read_only), "InvalidAttributeName");
}

#[tokio::test]
async fn send_receive_delete_with_attributes() {
    let server = Server::start(Options::default());
    let url = create(&server, "orders").await;
    let client = server.client();
    let sent = client
        .send_message()
        .queue_url(&url)
        .message_body("hello")
        .message_attributes(
            "price",
            MessageAttributeValue::builder().data_type("Number.float").string_value("12.50").build().expect("attribute"),
        )
        .message_attributes(
            "blob",
            MessageAttributeValue::builder()
                .data_type("Binary")
                .binary_value(aws_sdk_sqs::primitives::Blob::new(vec![0u8, 1, 2, 254, 255]))
                .build()
                .expect("attribute"),
        )
        .send()
        .await
        .expect("send");
    assert_eq!(sent.md5_of_message_body(), Some("5d41402abc4b2a76b9719d911017c592"));
    assert!(sent.md5_of_message_attributes().is_some());

    let received = client
        .receive_message()
        .queue_url(&url)
        .message_attribute_names("All")
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .expect("receive");
    let message = &received.messages()[0];
    assert_eq!(message.body(), Some("hello"));
    assert_eq!(message.message_id(), sent.message_id());
    assert_eq!(message.md5_of_message_attributes(), sent.md5_of_message_attributes());
    let attributes = message.message_attributes().expect("message attributes");
    assert_eq!(attributes["price"].string_value(), Some("12.50"));
    assert_eq!(attributes["blob"].binary_value().map(|b| b.as_ref().to_vec()), Some(vec![0u8, 1, 2, 254, 255]));
    let system = message.attributes().expect("system attributes");
    assert_eq!(system[&MessageSystemAttributeName::ApproximateReceiveCount], "1");
    assert_eq!(system[&MessageSystemAttributeName::SenderId], "AKIDPOSTROOMTEST");

    client
        .delete_message()
        .queue_url(&url)
        .receipt_handle(message.receipt_handle().expect("handle"))
        .send()
        .await
        .expect("delete");
    let empty = client.receive_message().queue_url(&url).send().await.expect("receive again");
    assert!(empty.messages().is_empty());
}

#[tokio::test]
async fn visibility_timeout_on_manual_clock() {
    let server = Server::start(Options::default());
    let url = create(&server, "orders").await;
    let client = server.client();
    client.send_message().queue_url(&url).message_body("work").send().await.expect("send");
    let first = client.receive_message().queue_url(&url).visibility_timeout(10).send().await.expect("receive");
    assert_eq!(first.messages().len(), 1);

    server.advance(9.999).await;
    let hidden = client.receive_message().queue_url(&url).send().await.expect("receive while hidden");
    assert!(hidden.messages().is_empty());
    server.advance(0.001).await;
    let again = client
        .receive_message()
        .queue_url(&url)
        .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
        .send()
        .await
        .expect("receive after expiry");
    let message = &again.messages()[0];
    assert_eq!(message.attributes().expect("attributes")[&MessageSystemAttributeName::ApproximateReceiveCount], "2");

    let stale = first.messages()[0].receipt_handle().expect("handle");
    let expired = client
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(stale)
        .visibility_timeout(5)
        .send()
        .await
        .expect_err("stale handle");
    assert_eq!(error_code(&expired), "InvalidParameterValue");
    let forged = client
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle("forged")
        .visibility_timeout(5)
        .send()
        .await
        .expect_err("forged handle");
    assert_eq!(error_code(&forged), "ReceiptHandleIsInvalid");
    let beyond = client
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(message.receipt_handle().expect("handle"))
        .visibility_timeout(43_200)
        .send()
        .await;
    assert!(beyond.is_ok(), "43200 s from the receive is within the limit");
    server.advance(1.0).await;
    let over = client
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(message.receipt_handle().expect("handle"))
        .visibility_timeout(43_200)
        .send()
        .await
        .expect_err("beyond 12 hours");
    assert_eq!(error_code(&over), "InvalidParameterValue");
}

#[tokio::test]
async fn delay_and_counts() {
    let server = Server::start(Options::default());
    let url = create(&server, "orders").await;
    let client = server.client();
    client.send_message().queue_url(&url).message_body("later").delay_seconds(30).send().await.expect("send");
    client.send_message().queue_url(&url).message_body("now").send().await.expect("send");
    let counts = |attributes: &std::collections::HashMap<QueueAttributeName, String>| {
        (
            attributes[&QueueAttributeName::ApproximateNumberOfMessages].clone(),
            attributes[&QueueAttributeName::ApproximateNumberOfMessagesDelayed].clone(),
        )
    };
    let attributes = client
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .expect("attributes");
    assert_eq!(counts(attributes.attributes().expect("map")), ("1".into(), "1".into()));
    server.advance(30.0).await;
    let attributes = client
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .expect("attributes");
    assert_eq!(counts(attributes.attributes().expect("map")), ("2".into(), "0".into()));
}

#[tokio::test]
async fn batches() {
    let server = Server::start(Options::default());
    let url = create(&server, "orders").await;
    let client = server.client();
    let entry = |id: &str, body: &str| SendMessageBatchRequestEntry::builder().id(id).message_body(body).build().expect("entry");
    let sent = client
        .send_message_batch()
        .queue_url(&url)
        .entries(entry("a", "one"))
        .entries(entry("b", "bell \u{7}"))
        .entries(entry("c", "three"))
        .send()
        .await
        .expect("batch");
    assert_eq!(sent.successful().len(), 2);
    assert_eq!(sent.failed().len(), 1);
    assert_eq!(sent.failed()[0].id(), "b");
    assert_eq!(sent.failed()[0].code(), "InvalidMessageContents");
    assert!(sent.failed()[0].sender_fault());

    let duplicate = client
        .send_message_batch()
        .queue_url(&url)
        .entries(entry("a", "one"))
        .entries(entry("a", "two"))
        .send()
        .await
        .expect_err("duplicate ids");
    assert_eq!(error_code(&duplicate), "AWS.SimpleQueueService.BatchEntryIdsNotDistinct");
    let mut too_many = client.send_message_batch().queue_url(&url);
    for i in 0..11 {
        too_many = too_many.entries(entry(&format!("e{i}"), "x"));
    }
    let too_many = too_many.send().await.expect_err("eleven entries");
    assert_eq!(error_code(&too_many), "AWS.SimpleQueueService.TooManyEntriesInBatchRequest");

    let received = client.receive_message().queue_url(&url).max_number_of_messages(10).send().await.expect("receive");
    assert_eq!(received.messages().len(), 2);
    let handles: Vec<&str> = received.messages().iter().map(|m| m.receipt_handle().expect("handle")).collect();
    let changed = client
        .change_message_visibility_batch()
        .queue_url(&url)
        .entries(ChangeMessageVisibilityBatchRequestEntry::builder().id("x").receipt_handle(handles[0]).visibility_timeout(0).build().expect("entry"))
        .entries(ChangeMessageVisibilityBatchRequestEntry::builder().id("y").receipt_handle("bad").visibility_timeout(0).build().expect("entry"))
        .send()
        .await
        .expect("change batch");
    assert_eq!(changed.successful().len(), 1);
    assert_eq!(changed.failed()[0].code(), "ReceiptHandleIsInvalid");

    let deleted = client
        .delete_message_batch()
        .queue_url(&url)
        .entries(DeleteMessageBatchRequestEntry::builder().id("x").receipt_handle(handles[1]).build().expect("entry"))
        .entries(DeleteMessageBatchRequestEntry::builder().id("y").receipt_handle("bad").build().expect("entry"))
        .send()
        .await
        .expect("delete batch");
    assert_eq!(deleted.successful().len(), 1);
    assert_eq!(deleted.failed()[0].id(), "y");
}

#[tokio::test]
async fn tags_permissions_and_purge() {
    let server = Server::start(Options::default());
    let url = create(&server, "orders").await;
    let client = server.client();
    client.tag_queue().queue_url(&url).tags("team", "billing").tags("env", "dev").send().await.expect("tag");
    client.untag_queue().queue_url(&url).tag_keys("env").send().await.expect("untag");
    let tags = client.list_queue_tags().queue_url(&url).send().await.expect("list tags");
    assert_eq!(tags.tags().expect("tags").len(), 1);
    assert_eq!(tags.tags().expect("tags")["team"], "billing");

    client
        .add_permission()
        .queue_url(&url)
        .label("share")
        .aws_account_ids("111122223333")
        .actions("SendMessage")
        .send()
        .await
        .expect("add permission");
    let duplicate = client
        .add_permission()
        .queue_url(&url)
        .label("share")
        .aws_account_ids("111122223333")
        .actions("SendMessage")
        .send()
        .await
        .expect_err("duplicate label");
    assert_eq!(error_code(&duplicate), "InvalidParameterValue");
    let policy = client
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::Policy)
        .send()
        .await
        .expect("policy");
    let policy: serde_json::Value =
        serde_json::from_str(&policy.attributes().expect("map")[&QueueAttributeName::Policy]).expect("policy JSON");
    assert_eq!(policy["Statement"][0]["Sid"], "share");
    assert_eq!(policy["Statement"][0]["Principal"]["AWS"], "arn:aws:iam::111122223333:root");
    client.remove_permission().queue_url(&url).label("share").send().await.expect("remove permission");
    let missing_label = client.remove_permission().queue_url(&url).label("share").send().await.expect_err("label gone");
    assert_eq!(error_code(&missing_label), "InvalidParameterValue");

    client.send_message().queue_url(&url).message_body("x").send().await.expect("send");
    client.purge_queue().queue_url(&url).send().await.expect("purge");
    let again = client.purge_queue().queue_url(&url).send().await.expect_err("purge within 60 s");
    assert_eq!(error_code(&again), "AWS.SimpleQueueService.PurgeQueueInProgress");
    let received = client.receive_message().queue_url(&url).send().await.expect("receive");
    assert!(received.messages().is_empty());
}

#[tokio::test]
async fn long_poll_wakes_on_send() {
    let server = Server::start(Options::default());
    let url = create(&server, "orders").await;
    let client = server.client();
    let poll = tokio::spawn({
        let (client, url) = (client.clone(), url.clone());
        async move { client.receive_message().queue_url(url).wait_time_seconds(20).send().await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    client.send_message().queue_url(&url).message_body("wake").send().await.expect("send");
    let received = tokio::time::timeout(std::time::Duration::from_secs(5), poll)
        .await
        .expect("the poll returns long before its wait time")
        .expect("task")
        .expect("receive");
    assert_eq!(received.messages()[0].body(), Some("wake"));
}

#[tokio::test]
async fn move_tasks_of_unknown_queue() {
    let server = Server::start(Options::default());
    let error = server
        .client()
        .list_message_move_tasks()
        .source_arn("arn:aws:sqs:us-east-1:000000000000:missing")
        .send()
        .await
        .expect_err("no such queue");
    assert_eq!(error_code(&error), "ResourceNotFoundException");
}

#[tokio::test]
async fn access_key_selects_account() {
    let server = Server::start(Options::default());
    let client = server.client_with_key("111122223333");
    let created = client.create_queue().queue_name("orders").send().await.expect("create");
    assert_eq!(created.queue_url(), Some(format!("http://{}/111122223333/orders", server.address).as_str()));
    let default_account = server.client().list_queues().send().await.expect("list");
    assert!(default_account.queue_urls().is_empty(), "the default account has no queues");
}
