//! Several nodes on one PostgreSQL database. These tests run when the
//! suite runs on PostgreSQL (`POSTROOM_TEST_STORE=postgres`).

mod common;

use aws_sdk_sqs::types::QueueAttributeName;
use common::{fresh_schema, postgres_url, Server};
use std::collections::HashSet;
use std::time::Duration;

/// Returns whether the suite runs on PostgreSQL, and prints a line when it
/// skips.
fn on_postgres() -> bool {
    if postgres_url().is_some() {
        return true;
    }
    assert!(
        std::env::var("POSTROOM_TEST_STORE").as_deref() != Ok("postgres"),
        "POSTROOM_TEST_STORE=postgres but POSTROOM_TEST_DATABASE_URL is not set"
    );
    eprintln!("skipped: cluster tests need POSTROOM_TEST_STORE=postgres");
    false
}

/// Starts two nodes on a new schema, or returns `None` when the suite does
/// not run on PostgreSQL.
fn two_nodes() -> Option<(Server, Server)> {
    if !on_postgres() {
        return None;
    }
    let schema = fresh_schema();
    let first = Server::start_node(&schema, false);
    let second = Server::start_node(&schema, false);
    Some((first, second))
}

#[tokio::test]
async fn message_crosses_nodes() {
    let Some((a, b)) = two_nodes() else { return };
    let url = a.client().create_queue().queue_name("orders").send().await.expect("create").queue_url().expect("url").to_string();
    a.client().send_message().queue_url(&url).message_body("from a").send().await.expect("send to a");
    let received = b.client().receive_message().queue_url(b.queue_url("orders")).send().await.expect("receive from b");
    assert_eq!(received.messages()[0].body(), Some("from a"));
    let handle = received.messages()[0].receipt_handle().expect("handle");
    a.client().delete_message().queue_url(&url).receipt_handle(handle).send().await.expect("delete on a");
    let empty = b.client().receive_message().queue_url(b.queue_url("orders")).send().await.expect("receive from b");
    assert!(empty.messages().is_empty());
}

#[tokio::test]
async fn long_poll_wakes_on_other_node() {
    let Some((a, b)) = two_nodes() else { return };
    a.client().create_queue().queue_name("orders").send().await.expect("create");
    let poller = b.client();
    let queue_url = b.queue_url("orders");
    let poll = tokio::spawn(async move { poller.receive_message().queue_url(queue_url).wait_time_seconds(20).send().await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    a.client().send_message().queue_url(a.queue_url("orders")).message_body("wake").send().await.expect("send");
    let received = tokio::time::timeout(Duration::from_secs(10), poll)
        .await
        .expect("the poll returns long before its 20-second wait")
        .expect("task")
        .expect("receive");
    assert_eq!(received.messages()[0].body(), Some("wake"));
}

#[tokio::test]
async fn fifo_rules_hold_across_nodes() {
    let Some((a, b)) = two_nodes() else { return };
    a.client()
        .create_queue()
        .queue_name("jobs.fifo")
        .attributes(QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .expect("create");
    let send = |server: &Server, body: &'static str, id: &'static str| {
        server
            .client()
            .send_message()
            .queue_url(server.queue_url("jobs.fifo"))
            .message_body(body)
            .message_group_id("g")
            .message_deduplication_id(id)
            .send()
    };
    let first = send(&a, "one", "d1").await.expect("send to a");
    let duplicate = send(&b, "one again", "d1").await.expect("duplicate to b");
    assert_eq!(duplicate.message_id(), first.message_id(), "deduplication spans nodes");
    send(&b, "two", "d2").await.expect("send to b");

    let on_a = a.client().receive_message().queue_url(a.queue_url("jobs.fifo")).send().await.expect("receive on a");
    assert_eq!(on_a.messages()[0].body(), Some("one"));
    let on_b = b.client().receive_message().queue_url(b.queue_url("jobs.fifo")).max_number_of_messages(10).send().await.expect("receive on b");
    assert!(on_b.messages().is_empty(), "the group is in flight on the other node");
}

#[tokio::test]
async fn move_task_runs_once() {
    let Some((a, b)) = two_nodes() else { return };
    let client = a.client();
    let dlq_arn = "arn:aws:sqs:us-east-1:000000000000:dlq";
    client.create_queue().queue_name("dlq").send().await.expect("create dlq");
    let source = client
        .create_queue()
        .queue_name("source")
        .attributes(QueueAttributeName::RedrivePolicy, format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":1}}"#))
        .send()
        .await
        .expect("create source")
        .queue_url()
        .expect("url")
        .to_string();
    for i in 0..30 {
        client.send_message().queue_url(&source).message_body(format!("m{i}")).send().await.expect("send");
    }
    for _ in 0..2 {
        loop {
            let output = client.receive_message().queue_url(&source).max_number_of_messages(10).visibility_timeout(0).send().await.expect("receive");
            if output.messages().is_empty() {
                break;
            }
        }
    }
    b.client().start_message_move_task().source_arn(dlq_arn).send().await.expect("start on b");
    let mut status = String::new();
    for _ in 0..200 {
        let tasks = a.client().list_message_move_tasks().source_arn(dlq_arn).send().await.expect("list on a");
        status = tasks.results()[0].status().unwrap_or_default().to_string();
        if status == "COMPLETED" {
            assert_eq!(tasks.results()[0].approximate_number_of_messages_moved(), 30);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, "COMPLETED");
    let mut bodies = HashSet::new();
    loop {
        let output = a.client().receive_message().queue_url(&source).max_number_of_messages(10).visibility_timeout(600).send().await.expect("receive");
        if output.messages().is_empty() {
            break;
        }
        for message in output.messages() {
            assert!(bodies.insert(message.body().expect("body").to_string()), "a message was moved twice");
        }
    }
    assert_eq!(bodies.len(), 30, "every message is back exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_node_loses_nothing() {
    let Some((mut a, b)) = two_nodes() else { return };
    let url = a.client().create_queue().queue_name("orders").send().await.expect("create").queue_url().expect("url").to_string();
    let mut producers = Vec::new();
    for producer in 0..3 {
        let (client, url) = (a.client(), url.clone());
        producers.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for i in 0..5_000 {
                match client.send_message().queue_url(&url).message_body(format!("{producer}-{i}")).send().await {
                    Ok(sent) => acknowledged.push(sent.message_id().expect("id").to_string()),
                    Err(_) => break,
                }
            }
            acknowledged
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.kill();
    let mut acknowledged = HashSet::new();
    for producer in producers {
        acknowledged.extend(producer.await.expect("producer"));
    }
    assert!(!acknowledged.is_empty(), "the load ran before the kill");

    let mut received = HashSet::new();
    loop {
        let output = b
            .client()
            .receive_message()
            .queue_url(b.queue_url("orders"))
            .max_number_of_messages(10)
            .visibility_timeout(600)
            .send()
            .await
            .expect("the other node keeps serving");
        if output.messages().is_empty() {
            break;
        }
        received.extend(output.messages().iter().map(|m| m.message_id().expect("id").to_string()));
    }
    let lost: Vec<_> = acknowledged.difference(&received).collect();
    assert!(lost.is_empty(), "{} acknowledged sends were lost", lost.len());
}

/// Posts a JSON 1.0 SendMessage and returns the HTTP status.
async fn raw_send(server: &Server) -> u16 {
    let body = format!(r#"{{"QueueUrl":"{}","MessageBody":"x"}}"#, server.queue_url("orders"));
    let response = reqwest::Client::new()
        .post(server.endpoint())
        .header("x-amz-target", "AmazonSQS.SendMessage")
        .header("content-type", "application/x-amz-json-1.0")
        .body(body)
        .send()
        .await
        .expect("request");
    response.status().as_u16()
}

#[tokio::test]
async fn lost_connections_recover() {
    if !on_postgres() {
        return;
    }
    // A database of its own, so that ending its sessions leaves the other
    // tests alone.
    let url = postgres_url().expect("database URL");
    let database = format!("lost_{}", fresh_schema());
    let (admin, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.expect("connect");
    let driver = tokio::spawn(connection);
    admin.execute(&format!("CREATE DATABASE {database}"), &[]).await.expect("create database");
    let base = url.rsplit_once('/').map_or(url.as_str(), |(base, _)| base);
    let node = Server::start_node_on(&format!("{base}/{database}"), "public", false);
    node.client().create_queue().queue_name("orders").send().await.expect("create");
    assert_eq!(raw_send(&node).await, 200);

    admin
        .execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", &[&database])
        .await
        .expect("terminate sessions");
    let mut statuses = Vec::new();
    for _ in 0..20 {
        let status = raw_send(&node).await;
        statuses.push(status);
        if status == 200 {
            break;
        }
    }
    assert!(statuses.iter().all(|status| *status == 200 || *status == 503), "only retryable failures: {statuses:?}");
    assert_eq!(statuses.last(), Some(&200), "the pool reconnected: {statuses:?}");
    let received =
        node.client().receive_message().queue_url(node.queue_url("orders")).max_number_of_messages(10).send().await.expect("receive");
    assert!(!received.messages().is_empty());
    drop(admin);
    let _ = driver.await;
}
