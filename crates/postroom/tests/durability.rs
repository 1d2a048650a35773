//! Acknowledged changes survive SIGKILL and a clean stop.

mod common;

use common::{Options, Server};
use std::collections::HashSet;

const DURABLE: Options = Options { in_memory: false, manual_clock: false };

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_loses_no_acknowledged_change() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let mut server = Server::start_in(directory.path(), DURABLE);
    let client = server.client();
    let url = client.create_queue().queue_name("orders").send().await.expect("create").queue_url().expect("url").to_string();

    // Producers send until the kill stops them, while a consumer deletes
    // half of what it receives; every change that succeeded is recorded.
    let mut producers = Vec::new();
    for producer in 0..4 {
        let (client, url) = (client.clone(), url.clone());
        producers.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for i in 0..20_000 {
                let body = format!("producer {producer} message {i}");
                match client.send_message().queue_url(&url).message_body(body).send().await {
                    Ok(sent) => acknowledged.push(sent.message_id().expect("id").to_string()),
                    Err(_) => return (acknowledged, true),
                }
            }
            (acknowledged, false)
        }));
    }
    let consumer = tokio::spawn({
        let (client, url) = (client.clone(), url.clone());
        async move {
            let mut deleted = Vec::new();
            for _ in 0..40 {
                let Ok(received) = client.receive_message().queue_url(&url).max_number_of_messages(10).visibility_timeout(0).send().await
                else {
                    break;
                };
                for message in received.messages().iter().step_by(2) {
                    let handle = message.receipt_handle().expect("handle");
                    if client.delete_message().queue_url(&url).receipt_handle(handle).send().await.is_ok() {
                        deleted.push(message.message_id().expect("id").to_string());
                    }
                }
            }
            deleted
        }
    });
    let deleted: HashSet<String> = consumer.await.expect("consumer").into_iter().collect();
    server.kill();
    let mut sent = HashSet::new();
    for producer in producers {
        let (acknowledged, interrupted) = producer.await.expect("producer");
        assert!(interrupted, "the kill interrupted the producer");
        sent.extend(acknowledged);
    }
    assert!(sent.len() >= 100, "the load ran before the kill: {} sends", sent.len());

    let server = Server::start_in(directory.path(), DURABLE);
    let client = server.client();
    let mut remaining = HashSet::new();
    loop {
        let received = client
            .receive_message()
            .queue_url(server.queue_url("orders"))
            .max_number_of_messages(10)
            .visibility_timeout(600)
            .send()
            .await
            .expect("receive after restart");
        if received.messages().is_empty() {
            break;
        }
        remaining.extend(received.messages().iter().map(|m| m.message_id().expect("id").to_string()));
    }
    for id in &deleted {
        assert!(!remaining.contains(id), "acknowledged delete of {id} came back");
    }
    for id in sent.difference(&deleted) {
        assert!(remaining.contains(id), "acknowledged send of {id} was lost");
    }
}

#[tokio::test]
async fn sigterm_stops_cleanly_and_keeps_data() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let mut server = Server::start_in(directory.path(), DURABLE);
    let client = server.client();
    let url = client.create_queue().queue_name("orders").send().await.expect("create").queue_url().expect("url").to_string();
    client.send_message().queue_url(&url).message_body("kept").send().await.expect("send");
    let status = server.terminate();
    assert!(status.success(), "exit status {status}");

    let server = Server::start_in(directory.path(), DURABLE);
    let received = server.client().receive_message().queue_url(server.queue_url("orders")).send().await.expect("receive");
    assert_eq!(received.messages()[0].body(), Some("kept"));
}

#[tokio::test]
async fn second_server_on_a_data_directory_fails() {
    if common::postgres_url().is_some() {
        // On PostgreSQL the data directory contains no store.
        return;
    }
    let directory = tempfile::tempdir().expect("temporary directory");
    let server = Server::start_in(directory.path(), DURABLE);
    let client = server.client();
    let url = client.create_queue().queue_name("orders").send().await.expect("create").queue_url().expect("url").to_string();
    client.send_message().queue_url(&url).message_body("first").send().await.expect("send");

    let mut second = std::process::Command::new(env!("CARGO_BIN_EXE_postroom"))
        .args(["serve", "--listen", "127.0.0.1:0", "--log-level", "warn", "--data-dir"])
        .arg(directory.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start a second server");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let status = loop {
        if let Some(status) = second.try_wait().expect("poll the second server") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = second.kill();
            let _ = second.wait();
            panic!("a second server on the same data directory kept running");
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert!(!status.success(), "exit status {status}");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().expect("stderr is piped"), &mut stderr).expect("read stderr");
    assert!(stderr.contains("is already in use"), "stderr: {stderr}");

    client.send_message().queue_url(&url).message_body("second").send().await.expect("send after the second start");
    let received = client.receive_message().queue_url(&url).max_number_of_messages(10).send().await.expect("receive");
    let mut bodies: Vec<&str> = received.messages().iter().filter_map(|message| message.body()).collect();
    bodies.sort_unstable();
    assert_eq!(bodies, ["first", "second"]);
}

#[tokio::test]
async fn sigterm_ends_long_polls() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let mut server = Server::start_in(directory.path(), Options { in_memory: true, manual_clock: true });
    let client = server.client();
    let url = client.create_queue().queue_name("orders").send().await.expect("create").queue_url().expect("url").to_string();
    let poll = tokio::spawn(async move { client.receive_message().queue_url(url).wait_time_seconds(20).send().await });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let status = tokio::task::spawn_blocking(move || server.terminate()).await.expect("terminate");
    assert!(status.success(), "exit status {status}");
    let received = poll.await.expect("task").expect("the poll is answered before the server stops");
    assert!(received.messages().is_empty());
}
