//! Dead-letter queues through aws-sdk-sqs: redrive after exactly
//! maxReceiveCount receives, redrive policies, and message move tasks.

mod common;

use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName};
use aws_sdk_sqs::Client;
use common::{Options, Server};

const ACCOUNT: &str = "000000000000";

fn arn(name: &str) -> String {
    format!("arn:aws:sqs:us-east-1:{ACCOUNT}:{name}")
}

fn redrive_policy(target: &str, count: u32) -> String {
    format!(r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":{count}}}"#, arn(target))
}

fn error_code<E: ProvideErrorMetadata>(error: &E) -> String {
    error.code().unwrap_or("<none>").to_string()
}

async fn create(client: &Client, name: &str, attributes: &[(QueueAttributeName, String)]) -> String {
    let mut request = client.create_queue().queue_name(name);
    for (attribute, value) in attributes {
        request = request.attributes(attribute.clone(), value);
    }
    request.send().await.expect("create queue").queue_url().expect("url").to_string()
}

async fn depth(client: &Client, url: &str) -> (u64, u64) {
    let output = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .expect("attributes");
    let attributes = output.attributes().expect("map");
    let read = |name: QueueAttributeName| attributes[&name].parse::<u64>().expect("count");
    (read(QueueAttributeName::ApproximateNumberOfMessages), read(QueueAttributeName::ApproximateNumberOfMessagesNotVisible))
}

/// Receives from `url` with a zero visibility timeout until the message
/// moves away, and returns how many times it was delivered.
async fn deliveries_until_moved(client: &Client, url: &str) -> u32 {
    let mut deliveries = 0;
    loop {
        let output = client.receive_message().queue_url(url).visibility_timeout(0).send().await.expect("receive");
        if output.messages().is_empty() {
            return deliveries;
        }
        deliveries += 1;
        assert!(deliveries <= 1001, "the message never moved");
    }
}

#[tokio::test]
async fn exactly_max_receive_count_deliveries() {
    let server = Server::start(Options::default());
    let client = server.client();
    for count in [1u32, 3, 1000] {
        let dlq = create(&client, &format!("dlq-{count}"), &[]).await;
        let source =
            create(&client, &format!("source-{count}"), &[(QueueAttributeName::RedrivePolicy, redrive_policy(&format!("dlq-{count}"), count))])
                .await;
        client.send_message().queue_url(&source).message_body("poison").send().await.expect("send");
        assert_eq!(deliveries_until_moved(&client, &source).await, count, "maxReceiveCount {count}");
        assert_eq!(depth(&client, &dlq).await, (1, 0), "the message is in the dead-letter queue");
        assert_eq!(depth(&client, &source).await, (0, 0));
    }
}

#[tokio::test]
async fn moved_message_keeps_its_identity() {
    let server = Server::start(Options::default());
    let client = server.client();
    let dlq = create(&client, "orders-dlq", &[]).await;
    let source = create(&client, "orders", &[(QueueAttributeName::RedrivePolicy, redrive_policy("orders-dlq", 2))]).await;
    let sent = client
        .send_message()
        .queue_url(&source)
        .message_body("poison")
        .message_attributes("kind", MessageAttributeValue::builder().data_type("String").string_value("order").build().expect("attribute"))
        .send()
        .await
        .expect("send");
    let first = client
        .receive_message()
        .queue_url(&source)
        .visibility_timeout(30)
        .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
        .send()
        .await
        .expect("receive");
    let sent_timestamp = first.messages()[0].attributes().expect("attributes")[&MessageSystemAttributeName::SentTimestamp].clone();
    server.advance(30.0).await;
    client.receive_message().queue_url(&source).visibility_timeout(30).send().await.expect("second delivery");
    server.advance(30.0).await;
    let third = client.receive_message().queue_url(&source).send().await.expect("receive");
    assert!(third.messages().is_empty(), "the third receive moves the message");

    let moved = client
        .receive_message()
        .queue_url(&dlq)
        .message_attribute_names("All")
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .expect("receive from the DLQ");
    let message = &moved.messages()[0];
    assert_eq!(message.message_id(), sent.message_id());
    assert_eq!(message.body(), Some("poison"));
    assert_eq!(message.message_attributes().expect("attributes")["kind"].string_value(), Some("order"));
    let attributes = message.attributes().expect("system attributes");
    assert_eq!(attributes[&MessageSystemAttributeName::SentTimestamp], sent_timestamp);
    assert_eq!(attributes[&MessageSystemAttributeName::DeadLetterQueueSourceArn], arn("orders"));
}

#[tokio::test]
async fn fifo_queue_with_fifo_dead_letter_queue() {
    let server = Server::start(Options::default());
    let client = server.client();
    let fifo = |policy: Option<String>| {
        let mut attributes = vec![
            (QueueAttributeName::FifoQueue, "true".to_string()),
            (QueueAttributeName::ContentBasedDeduplication, "true".to_string()),
        ];
        if let Some(policy) = policy {
            attributes.push((QueueAttributeName::RedrivePolicy, policy));
        }
        attributes
    };
    let dlq = create(&client, "jobs-dlq.fifo", &fifo(None)).await;
    let source = create(&client, "jobs.fifo", &fifo(Some(redrive_policy("jobs-dlq.fifo", 2)))).await;
    for body in ["first", "second"] {
        client.send_message().queue_url(&source).message_body(body).message_group_id("g").send().await.expect("send");
    }
    let mut bodies = Vec::new();
    for _ in 0..5 {
        let output = client.receive_message().queue_url(&source).visibility_timeout(0).send().await.expect("receive");
        bodies.extend(output.messages().iter().filter_map(|m| m.body().map(str::to_string)));
    }
    assert_eq!(bodies, ["first", "first", "second", "second"], "each message is delivered twice, in order");
    let moved = client.receive_message().queue_url(&dlq).max_number_of_messages(10).send().await.expect("receive");
    let moved: Vec<_> = moved.messages().iter().filter_map(|m| m.body()).collect();
    assert_eq!(moved, ["first", "second"]);

    let standard = create(&client, "standard-dlq", &[]).await;
    let mismatch = client
        .set_queue_attributes()
        .queue_url(&source)
        .attributes(QueueAttributeName::RedrivePolicy, redrive_policy("standard-dlq", 2))
        .send()
        .await
        .expect_err("a FIFO queue needs a FIFO dead-letter queue");
    assert_eq!(error_code(&mismatch), "InvalidParameterValue");
    assert!(!standard.is_empty());
}

#[tokio::test]
async fn redrive_policy_validation() {
    let server = Server::start(Options::default());
    let client = server.client();
    create(&client, "dlq", &[]).await;
    let source = create(&client, "source", &[]).await;
    let cases = [
        ("not json".to_string(), "not JSON"),
        (r#"{"maxReceiveCount":3}"#.to_string(), "missing target"),
        (format!(r#"{{"deadLetterTargetArn":"{}"}}"#, arn("dlq")), "missing count"),
        (redrive_policy("dlq", 0), "count 0"),
        (redrive_policy("dlq", 1001), "count 1001"),
        (redrive_policy("missing", 3), "target does not exist"),
        (redrive_policy("source", 3), "target is the source"),
        (r#"{"deadLetterTargetArn":"arn:aws:sqs:eu-west-1:000000000000:dlq","maxReceiveCount":3}"#.to_string(), "other region"),
    ];
    for (policy, case) in cases {
        let error = client
            .set_queue_attributes()
            .queue_url(&source)
            .attributes(QueueAttributeName::RedrivePolicy, policy)
            .send()
            .await
            .expect_err(case);
        assert_eq!(error_code(&error), "InvalidParameterValue", "{case}");
    }
    client
        .set_queue_attributes()
        .queue_url(&source)
        .attributes(QueueAttributeName::RedrivePolicy, format!(r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":"7"}}"#, arn("dlq")))
        .send()
        .await
        .expect("a count given as a string");
    let stored = client
        .get_queue_attributes()
        .queue_url(&source)
        .attribute_names(QueueAttributeName::RedrivePolicy)
        .send()
        .await
        .expect("attributes");
    let stored: serde_json::Value =
        serde_json::from_str(&stored.attributes().expect("map")[&QueueAttributeName::RedrivePolicy]).expect("JSON");
    assert_eq!(stored["maxReceiveCount"], 7, "the count is stored as a number");
}

#[tokio::test]
async fn redrive_allow_policy_rejections() {
    let server = Server::start(Options::default());
    let client = server.client();
    create(&client, "closed-dlq", &[(QueueAttributeName::RedriveAllowPolicy, r#"{"redrivePermission":"denyAll"}"#.to_string())]).await;
    let by_queue = format!(r#"{{"redrivePermission":"byQueue","sourceQueueArns":["{}"]}}"#, arn("allowed"));
    create(&client, "picky-dlq", &[(QueueAttributeName::RedriveAllowPolicy, by_queue)]).await;

    let denied = client
        .create_queue()
        .queue_name("any")
        .attributes(QueueAttributeName::RedrivePolicy, redrive_policy("closed-dlq", 3))
        .send()
        .await
        .expect_err("denyAll");
    assert_eq!(error_code(&denied), "InvalidParameterValue");
    let other = client
        .create_queue()
        .queue_name("other")
        .attributes(QueueAttributeName::RedrivePolicy, redrive_policy("picky-dlq", 3))
        .send()
        .await
        .expect_err("not in sourceQueueArns");
    assert_eq!(error_code(&other), "InvalidParameterValue");
    client
        .create_queue()
        .queue_name("allowed")
        .attributes(QueueAttributeName::RedrivePolicy, redrive_policy("picky-dlq", 3))
        .send()
        .await
        .expect("listed source");
    let invalid = client
        .create_queue()
        .queue_name("bad-allow")
        .attributes(QueueAttributeName::RedriveAllowPolicy, r#"{"redrivePermission":"byQueue"}"#)
        .send()
        .await
        .expect_err("byQueue without sources");
    assert_eq!(error_code(&invalid), "InvalidParameterValue");
}

#[tokio::test]
async fn dead_letter_source_queues_page() {
    let server = Server::start(Options::default());
    let client = server.client();
    let dlq = create(&client, "dlq", &[]).await;
    for name in ["a", "b", "c"] {
        create(&client, name, &[(QueueAttributeName::RedrivePolicy, redrive_policy("dlq", 3))]).await;
    }
    create(&client, "unrelated", &[]).await;
    let first = client.list_dead_letter_source_queues().queue_url(&dlq).max_results(2).send().await.expect("page 1");
    assert_eq!(first.queue_urls(), [server.queue_url("a"), server.queue_url("b")]);
    let token = first.next_token().expect("a second page").to_string();
    let second =
        client.list_dead_letter_source_queues().queue_url(&dlq).max_results(2).next_token(token).send().await.expect("page 2");
    assert_eq!(second.queue_urls(), [server.queue_url("c")]);
    assert_eq!(second.next_token(), None);
}

/// Sets up sources `a` and `b` whose messages all landed in `dlq`.
async fn fill_dead_letter_queue(server: &Server, per_source: usize) -> String {
    let client = server.client();
    let dlq = create(&client, "dlq", &[]).await;
    for name in ["a", "b"] {
        let url = create(&client, name, &[(QueueAttributeName::RedrivePolicy, redrive_policy("dlq", 1))]).await;
        for i in 0..per_source {
            client.send_message().queue_url(&url).message_body(format!("{name}-{i}")).send().await.expect("send");
        }
        loop {
            let output = client.receive_message().queue_url(&url).max_number_of_messages(10).visibility_timeout(0).send().await.expect("receive");
            if output.messages().is_empty() {
                break;
            }
        }
    }
    assert_eq!(depth(&client, &dlq).await.0, 2 * per_source as u64);
    dlq
}

async fn task_status(client: &Client, source: &str) -> (String, i64, i64) {
    let output = client.list_message_move_tasks().source_arn(source).send().await.expect("list tasks");
    let task = &output.results()[0];
    (
        task.status().expect("status").to_string(),
        task.approximate_number_of_messages_moved(),
        task.approximate_number_of_messages_to_move().expect("to move"),
    )
}

async fn wait_for_status(client: &Client, source: &str, status: &str) -> (String, i64, i64) {
    for _ in 0..500 {
        let current = task_status(client, source).await;
        if current.0 == status {
            return current;
        }
        tokio::task::yield_now().await;
    }
    panic!("the task never reached {status}: {:?}", task_status(client, source).await);
}

#[tokio::test]
async fn move_task_returns_messages_to_sources() {
    let server = Server::start(Options::default());
    let client = server.client();
    fill_dead_letter_queue(&server, 3).await;
    client.start_message_move_task().source_arn(arn("dlq")).send().await.expect("start");
    let (_, moved, to_move) = wait_for_status(&client, &arn("dlq"), "COMPLETED").await;
    assert_eq!((moved, to_move), (6, 6));
    for name in ["a", "b"] {
        let output = client
            .receive_message()
            .queue_url(server.queue_url(name))
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .expect("receive");
        assert_eq!(output.messages().len(), 3, "queue {name} got its messages back");
        for message in output.messages() {
            assert!(message.body().expect("body").starts_with(name));
            let attributes = message.attributes().expect("attributes");
            assert_eq!(attributes[&MessageSystemAttributeName::ApproximateReceiveCount], "1", "the receive count starts over");
            assert!(!attributes.contains_key(&MessageSystemAttributeName::DeadLetterQueueSourceArn));
        }
    }
}

#[tokio::test]
async fn move_task_to_destination_with_rate_and_cancel() {
    let server = Server::start(Options::default());
    let client = server.client();
    fill_dead_letter_queue(&server, 10).await;
    let target = create(&client, "target", &[]).await;
    let handle = client
        .start_message_move_task()
        .source_arn(arn("dlq"))
        .destination_arn(arn("target"))
        .max_number_of_messages_per_second(5)
        .send()
        .await
        .expect("start")
        .task_handle()
        .expect("handle")
        .to_string();
    let again = client.start_message_move_task().source_arn(arn("dlq")).send().await.expect_err("one task per source");
    assert_eq!(error_code(&again), "InvalidParameterValue");

    for expected in [5, 10] {
        for _ in 0..500 {
            if task_status(&client, &arn("dlq")).await.1 == expected {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(task_status(&client, &arn("dlq")).await.1, expected, "five messages per second of the clock");
        assert_eq!(depth(&client, &target).await.0, expected as u64);
        server.advance(1.0).await;
    }
    let cancelled = client.cancel_message_move_task().task_handle(&handle).send().await.expect("cancel");
    assert!(cancelled.approximate_number_of_messages_moved() >= 10);
    let (status, moved, _) = wait_for_status(&client, &arn("dlq"), "CANCELLED").await;
    assert_eq!(status, "CANCELLED");
    assert!(moved < 20, "the task stopped before the end");
    let twice = client.cancel_message_move_task().task_handle(&handle).send().await.expect_err("already cancelled");
    assert_eq!(error_code(&twice), "InvalidParameterValue");
}

#[tokio::test]
async fn move_task_needs_a_dead_letter_queue() {
    let server = Server::start(Options::default());
    let client = server.client();
    create(&client, "plain", &[]).await;
    let error = client.start_message_move_task().source_arn(arn("plain")).send().await.expect_err("not a DLQ");
    assert_eq!(error_code(&error), "InvalidParameterValue");
    let missing = client.start_message_move_task().source_arn(arn("missing")).send().await.expect_err("no such queue");
    assert_eq!(error_code(&missing), "ResourceNotFoundException");
    let rate = client
        .start_message_move_task()
        .source_arn(arn("plain"))
        .max_number_of_messages_per_second(501)
        .send()
        .await
        .expect_err("rate above 500");
    assert_eq!(error_code(&rate), "InvalidParameterValue");
}

#[tokio::test]
async fn move_task_resumes_after_restart() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let durable = Options { in_memory: false, manual_clock: true };
    let mut server = Server::start_in(directory.path(), durable);
    let client = server.client();
    fill_dead_letter_queue(&server, 5).await;
    client.start_message_move_task().source_arn(arn("dlq")).max_number_of_messages_per_second(2).send().await.expect("start");
    // The first second's two messages move at once. The manual clock does
    // not advance after that, so the task waits there until the kill.
    for _ in 0..500 {
        if task_status(&client, &arn("dlq")).await.1 == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    server.kill();

    let server = Server::start_in(directory.path(), durable);
    let client = server.client();
    let (status, moved, to_move) = task_status(&client, &arn("dlq")).await;
    assert_eq!(status, "RUNNING", "the task resumes");
    assert!(moved >= 2);
    assert_eq!(to_move, 10);
    // On a shared database the lease of the killed process holds until it
    // lapses; then the restarted server takes the task over.
    server.advance(31.0).await;
    for _ in 0..20 {
        server.advance(1.0).await;
        if task_status(&client, &arn("dlq")).await.0 == "COMPLETED" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (status, _, _) = wait_for_status(&client, &arn("dlq"), "COMPLETED").await;
    assert_eq!(status, "COMPLETED");
    let total = depth(&client, &server.queue_url("a")).await.0 + depth(&client, &server.queue_url("b")).await.0;
    assert_eq!(total, 10, "every message is back exactly once");
    assert_eq!(depth(&client, &server.queue_url("dlq")).await, (0, 0));
}

#[tokio::test]
async fn metrics_show_dead_letter_depth_and_moves() {
    let server = Server::start(Options::default());
    let client = server.client();
    create(&client, "orders-dlq", &[]).await;
    let source = create(&client, "orders", &[(QueueAttributeName::RedrivePolicy, redrive_policy("orders-dlq", 1))]).await;
    for body in ["a", "b"] {
        client.send_message().queue_url(&source).message_body(body).send().await.expect("send");
    }
    for _ in 0..2 {
        client.receive_message().queue_url(&source).max_number_of_messages(10).visibility_timeout(0).send().await.expect("receive");
    }
    let metrics = reqwest::get(format!("{}/_postroom/metrics", server.endpoint()))
        .await
        .expect("metrics request")
        .text()
        .await
        .expect("metrics body");
    let labels = |queue: &str| format!("account=\"{ACCOUNT}\",region=\"us-east-1\",queue=\"{queue}\"");
    assert!(metrics.contains(&format!("postroom_dead_letter_queue_messages{{{}}} 2", labels("orders-dlq"))), "{metrics}");
    assert!(metrics.contains(&format!("postroom_dead_letter_moves_total{{{}}} 2", labels("orders"))), "{metrics}");
    assert!(metrics.contains(&format!("postroom_queue_messages{{{},state=\"visible\"}} 2", labels("orders-dlq"))), "{metrics}");
    assert!(
        metrics.contains("postroom_requests_total{service=\"sqs\",operation=\"SendMessage\",status=\"200\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("postroom_request_duration_seconds_count{service=\"sqs\",operation=\"ReceiveMessage\"} 2"), "{metrics}");
}
