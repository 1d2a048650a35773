"""SNS through boto3: topics, subscriptions, filter policies, FIFO topics,
signed HTTP delivery and dead-letter queues."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from conftest import REGION, aws_cli_path, make_client
from postroom_server import PostroomServer

ACCOUNT = "000000000000"


@pytest.fixture(scope="session")
def sns(server):
    return make_client("sns", server.endpoint)


def queue_arn(name: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"


def error_code(error: ClientError) -> str:
    return error.response["Error"]["Code"]


def wait_for_messages(sqs, url: str, count: int = 1) -> list[dict]:
    """Long-polls until `count` messages arrived; the manual clock never ends
    the wait, so only an arrival returns it."""
    messages: list[dict] = []
    while len(messages) < count:
        response = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=20, MessageAttributeNames=["All"], AttributeNames=["All"]
        )
        messages.extend(response.get("Messages", []))
    return messages


def signed_string(envelope: dict) -> bytes:
    if envelope["Type"] == "Notification":
        names = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        names = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    return "".join(f"{name}\n{envelope[name]}\n" for name in names if name in envelope).encode()


def verify_signature(envelope: dict) -> None:
    """Verifies an envelope as an SNS subscriber does, with the certificate
    fetched from its SigningCertURL."""
    certificate = x509.load_pem_x509_certificate(requests.get(envelope["SigningCertURL"], timeout=5).content)
    algorithm = hashes.SHA256() if envelope["SignatureVersion"] == "2" else hashes.SHA1()
    certificate.public_key().verify(base64.b64decode(envelope["Signature"]), signed_string(envelope), padding.PKCS1v15(), algorithm)


def test_topic_lifecycle(sns):
    arn = sns.create_topic(Name="orders", Attributes={"DisplayName": "Orders"}, Tags=[{"Key": "team", "Value": "shop"}])["TopicArn"]
    assert arn == f"arn:aws:sns:{REGION}:{ACCOUNT}:orders"
    assert sns.create_topic(Name="orders")["TopicArn"] == arn, "creating the topic again returns it"
    with pytest.raises(ClientError) as differs:
        sns.create_topic(Name="orders", Attributes={"DisplayName": "Other"})
    assert error_code(differs.value) == "InvalidParameter"

    attributes = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attributes["TopicArn"] == arn
    assert attributes["Owner"] == ACCOUNT
    assert attributes["DisplayName"] == "Orders"
    assert attributes["SubscriptionsConfirmed"] == "0"
    assert "Policy" in attributes
    sns.set_topic_attributes(TopicArn=arn, AttributeName="DisplayName", AttributeValue="Shop")
    assert sns.get_topic_attributes(TopicArn=arn)["Attributes"]["DisplayName"] == "Shop"

    assert [topic["TopicArn"] for topic in sns.list_topics()["Topics"]] == [arn]
    sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "dev"}])
    sns.untag_resource(ResourceArn=arn, TagKeys=["team"])
    assert sns.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "env", "Value": "dev"}]
    sns.delete_topic(TopicArn=arn)
    with pytest.raises(ClientError) as missing:
        sns.get_topic_attributes(TopicArn=arn)
    assert error_code(missing.value) == "NotFound"


def test_fifo_topic_rules(sns):
    with pytest.raises(ClientError) as suffix:
        sns.create_topic(Name="plain", Attributes={"FifoTopic": "true"})
    assert error_code(suffix.value) == "InvalidParameter"
    with pytest.raises(ClientError) as dot:
        sns.create_topic(Name="plain.fifo")
    assert error_code(dot.value) == "InvalidParameter"
    arn = sns.create_topic(Name="jobs.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    with pytest.raises(ClientError) as group:
        sns.publish(TopicArn=arn, Message="x", MessageDeduplicationId="d")
    assert error_code(group.value) == "InvalidParameter"
    with pytest.raises(ClientError) as dedup:
        sns.publish(TopicArn=arn, Message="x", MessageGroupId="g")
    assert error_code(dedup.value) == "InvalidParameter"


@pytest.mark.parametrize(("protocol", "endpoint"), [("http", "http://127.0.0.1:9/hook"), ("lambda", "arn:aws:lambda:us-east-1:000000000000:function:f")])
def test_fifo_topic_takes_only_queues(sns, protocol, endpoint):
    arn = sns.create_topic(Name="jobs.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]

    with pytest.raises(ClientError) as rejected:
        sns.subscribe(TopicArn=arn, Protocol=protocol, Endpoint=endpoint)

    assert error_code(rejected.value) == "InvalidParameter"
    assert rejected.value.response["Error"]["Message"] == f"Invalid parameter: Invalid protocol type: {protocol}"
    assert sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"] == []


def test_fan_out_envelope_and_signature(sns, sqs):
    topic = sns.create_topic(Name="orders")["TopicArn"]
    url = sqs.create_queue(QueueName="inventory")["QueueUrl"]
    subscription = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn("inventory"))["SubscriptionArn"]
    assert subscription.startswith(topic + ":")

    published = sns.publish(
        TopicArn=topic,
        Message="order placed",
        Subject="Order",
        MessageAttributes={"event_type": {"DataType": "String", "StringValue": "OrderPlaced"}, "total": {"DataType": "Number", "StringValue": "12.5"}},
    )

    [message] = wait_for_messages(sqs, url)
    envelope = json.loads(message["Body"])
    assert envelope["Type"] == "Notification"
    assert envelope["MessageId"] == published["MessageId"]
    assert envelope["TopicArn"] == topic
    assert envelope["Subject"] == "Order"
    assert envelope["Message"] == "order placed"
    assert envelope["Timestamp"].endswith("Z")
    assert "." in envelope["Timestamp"], "the timestamp has milliseconds"
    assert envelope["SignatureVersion"] == "1"
    assert envelope["MessageAttributes"]["total"] == {"Type": "Number", "Value": "12.5"}
    assert "Action=Unsubscribe" in envelope["UnsubscribeURL"]
    verify_signature(envelope)


def test_subject_absent_when_not_given(sns, sqs):
    topic = sns.create_topic(Name="plain")["TopicArn"]
    url = sqs.create_queue(QueueName="plain-q")["QueueUrl"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn("plain-q"))
    sns.publish(TopicArn=topic, Message="no subject")
    [message] = wait_for_messages(sqs, url)
    assert "Subject" not in json.loads(message["Body"])


def test_raw_delivery_and_filters(sns, sqs):
    topic = sns.create_topic(Name="order-events")["TopicArn"]
    inventory = sqs.create_queue(QueueName="inventory")["QueueUrl"]
    email = sqs.create_queue(QueueName="email")["QueueUrl"]
    body_scope = sqs.create_queue(QueueName="big-orders")["QueueUrl"]
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=queue_arn("inventory"),
        Attributes={"RawMessageDelivery": "true", "FilterPolicy": json.dumps({"event_type": ["OrderPlaced"]})},
    )
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=queue_arn("email"),
        Attributes={"FilterPolicy": json.dumps({"event_type": [{"prefix": "Order"}], "total": [{"numeric": [">=", 100]}]})},
    )
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=queue_arn("big-orders"),
        Attributes={"FilterPolicyScope": "MessageBody", "FilterPolicy": json.dumps({"order": {"total": [{"numeric": [">", 1000]}]}})},
    )

    def publish(event_type: str, total: int) -> None:
        sns.publish(
            TopicArn=topic,
            Message=json.dumps({"order": {"total": total}}),
            MessageAttributes={
                "event_type": {"DataType": "String", "StringValue": event_type},
                "total": {"DataType": "Number", "StringValue": str(total)},
            },
        )

    publish("OrderPlaced", 50)
    publish("OrderShipped", 150)
    publish("OrderPlaced", 5000)

    raw = wait_for_messages(sqs, inventory, 2)
    assert sorted(json.loads(m["Body"])["order"]["total"] for m in raw) == [50, 5000], "raw bodies, OrderPlaced only"
    assert raw[0]["MessageAttributes"]["event_type"]["StringValue"] == "OrderPlaced"
    emails = wait_for_messages(sqs, email, 2)
    assert sorted(json.loads(json.loads(m["Body"])["Message"])["order"]["total"] for m in emails) == [150, 5000]
    [big] = wait_for_messages(sqs, body_scope)
    assert json.loads(json.loads(big["Body"])["Message"])["order"]["total"] == 5000


def test_invalid_filter_policy_rejected(sns, sqs):
    topic = sns.create_topic(Name="orders")["TopicArn"]
    sqs.create_queue(QueueName="q")
    with pytest.raises(ClientError) as invalid:
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn("q"), Attributes={"FilterPolicy": json.dumps({"a": "b"})})
    assert error_code(invalid.value) == "InvalidParameter"
    assert "FilterPolicy" in invalid.value.response["Error"]["Message"]


def test_message_structure_json(sns, sqs):
    topic = sns.create_topic(Name="structured")["TopicArn"]
    url = sqs.create_queue(QueueName="structured-q")["QueueUrl"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn("structured-q"))
    with pytest.raises(ClientError) as no_default:
        sns.publish(TopicArn=topic, MessageStructure="json", Message=json.dumps({"sqs": "x"}))
    assert error_code(no_default.value) == "InvalidParameter"
    sns.publish(TopicArn=topic, MessageStructure="json", Message=json.dumps({"default": "fallback", "sqs": "for queues"}))
    [message] = wait_for_messages(sqs, url)
    assert json.loads(message["Body"])["Message"] == "for queues"


def test_fifo_topic_to_fifo_queue(sns, sqs):
    topic = sns.create_topic(Name="orders.fifo", Attributes={"FifoTopic": "true", "ContentBasedDeduplication": "true"})["TopicArn"]
    url = sqs.create_queue(QueueName="orders.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn("orders.fifo"), Attributes={"RawMessageDelivery": "true"})

    results = [sns.publish(TopicArn=topic, Message=f"m{i}", MessageGroupId="g") for i in range(5)]
    duplicate = sns.publish(TopicArn=topic, Message="m0", MessageGroupId="g")
    assert duplicate["MessageId"] == results[0]["MessageId"]
    assert duplicate["SequenceNumber"] == results[0]["SequenceNumber"]
    numbers = [int(result["SequenceNumber"]) for result in results]
    assert numbers == sorted(numbers)
    assert len(set(numbers)) == 5

    bodies: list[str] = []
    while len(bodies) < 5:
        response = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=20, AttributeNames=["All"])
        for message in response.get("Messages", []):
            bodies.append(message["Body"])
            assert message["Attributes"]["MessageGroupId"] == "g"
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert bodies == [f"m{i}" for i in range(5)], "order and deduplication hold end to end"


class Recorder(BaseHTTPRequestHandler):
    """Records posts and responds with the status in `server.status` once
    `server.answering` is set."""

    def do_POST(self):  # noqa: N802 (the http.server interface)
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length).decode()
        self.server.posts.append({"headers": dict(self.headers), "body": body})
        self.server.answering.wait(timeout=30)
        self.send_response(self.server.status)
        self.end_headers()

    def log_message(self, *args):
        pass


def recording_endpoint():
    """Yields a started `Recorder` server and stops it afterwards."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    server.posts = []
    server.status = 200
    server.answering = threading.Event()
    server.answering.set()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.answering.set()
    server.shutdown()
    server.server_close()


http_endpoint = pytest.fixture(recording_endpoint, name="http_endpoint")
other_http_endpoint = pytest.fixture(recording_endpoint, name="other_http_endpoint")


def wait_for_posts(endpoint, count: int, advance=None) -> list[dict]:
    for _ in range(200):
        if len(endpoint.posts) >= count:
            return endpoint.posts
        if advance:
            advance(1)
        time.sleep(0.05)
    raise AssertionError(f"expected {count} posts, got {len(endpoint.posts)}")


def test_http_subscription_confirmation_and_notification(sns, http_endpoint):
    topic = sns.create_topic(Name="webhooks")["TopicArn"]
    url = f"http://127.0.0.1:{http_endpoint.server_address[1]}/hook"
    pending = sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=url)
    assert pending["SubscriptionArn"] == "pending confirmation"

    [confirmation] = wait_for_posts(http_endpoint, 1)
    assert confirmation["headers"]["x-amz-sns-message-type"] == "SubscriptionConfirmation"
    envelope = json.loads(confirmation["body"])
    verify_signature(envelope)
    confirmed = requests.get(envelope["SubscribeURL"], timeout=5)
    assert confirmed.status_code == 200
    assert "<SubscriptionArn>" in confirmed.text
    [listed] = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert listed["SubscriptionArn"].startswith(topic + ":")

    published = sns.publish(TopicArn=topic, Message="hello", Subject="Greeting")
    posts = wait_for_posts(http_endpoint, 2)
    notification = posts[1]
    assert notification["headers"]["x-amz-sns-message-type"] == "Notification"
    assert notification["headers"]["x-amz-sns-message-id"] == published["MessageId"]
    assert notification["headers"]["x-amz-sns-topic-arn"] == topic
    body = json.loads(notification["body"])
    assert body["Message"] == "hello"
    verify_signature(body)


def confirmed_http_subscription(sns, http_endpoint, topic: str) -> str:
    url = f"http://127.0.0.1:{http_endpoint.server_address[1]}/hook"
    subscription = sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=url, ReturnSubscriptionArn=True)["SubscriptionArn"]
    confirmation = json.loads(wait_for_posts(http_endpoint, 1)[0]["body"])
    sns.confirm_subscription(TopicArn=topic, Token=confirmation["Token"])
    return subscription


@pytest.mark.parametrize("status", [500, 503, 429])
def test_failing_endpoint_ends_in_dead_letter_queue(sns, sqs, http_endpoint, advance, status):
    topic = sns.create_topic(Name="fragile")["TopicArn"]
    dlq = sqs.create_queue(QueueName="sns-dlq")["QueueUrl"]
    subscription = confirmed_http_subscription(sns, http_endpoint, topic)
    sns.set_subscription_attributes(
        SubscriptionArn=subscription,
        AttributeName="DeliveryPolicy",
        AttributeValue=json.dumps({"healthyRetryPolicy": {"numRetries": 2, "minDelayTarget": 1, "maxDelayTarget": 1}}),
    )
    sns.set_subscription_attributes(
        SubscriptionArn=subscription, AttributeName="RedrivePolicy", AttributeValue=json.dumps({"deadLetterTargetArn": queue_arn("sns-dlq")})
    )
    http_endpoint.status = status

    sns.publish(TopicArn=topic, Message="lost?")
    wait_for_posts(http_endpoint, 4, advance)  # the confirmation, then three attempts

    messages: list[dict] = []
    for _ in range(100):
        messages = sqs.receive_message(QueueUrl=dlq, MessageAttributeNames=["All"]).get("Messages", [])
        if messages:
            break
        time.sleep(0.05)
    [message] = messages
    assert json.loads(message["Body"])["Message"] == "lost?"
    assert message["MessageAttributes"]["SubscriptionArn"]["StringValue"] == subscription
    metrics = requests.get(f"{sqs.meta.endpoint_url}/_postroom/metrics", timeout=5).text
    assert 'postroom_deliveries_total{service="sns",outcome="dead_lettered"} 1' in metrics
    assert 'postroom_deliveries_total{service="sns",outcome="retried"} 2' in metrics


@pytest.mark.parametrize("status", [400, 403, 404, 302])
def test_permanent_http_failure_skips_retries(sns, sqs, http_endpoint, status):
    topic = sns.create_topic(Name="strict")["TopicArn"]
    dlq = sqs.create_queue(QueueName="sns-dlq")["QueueUrl"]
    subscription = confirmed_http_subscription(sns, http_endpoint, topic)
    sns.set_subscription_attributes(
        SubscriptionArn=subscription, AttributeName="RedrivePolicy", AttributeValue=json.dumps({"deadLetterTargetArn": queue_arn("sns-dlq")})
    )
    http_endpoint.status = status

    sns.publish(TopicArn=topic, Message="refused")

    # The server clock does not move, so only a failure that dead-letters at
    # once brings the message.
    response = sqs.receive_message(QueueUrl=dlq, MessageAttributeNames=["All"], WaitTimeSeconds=20)
    [message] = response["Messages"]
    assert json.loads(message["Body"])["Message"] == "refused"
    assert f"HTTP {status}" in message["MessageAttributes"]["ErrorMessage"]["StringValue"]
    assert len(http_endpoint.posts) == 2, "the confirmation, then one attempt"
    metrics = requests.get(f"{sqs.meta.endpoint_url}/_postroom/metrics", timeout=5).text
    assert 'postroom_deliveries_total{service="sns",outcome="dead_lettered"} 1' in metrics
    assert 'outcome="retried"' not in metrics


def delivery_queue_depths(server: PostroomServer) -> dict[str, int]:
    """Jobs of the internal SNS delivery queue by state, from the metrics."""
    metrics = requests.get(f"{server.endpoint}/_postroom/metrics", timeout=5).text
    prefix = 'postroom_queue_messages{account="internal",region="sns",queue="deliveries",state="'
    depths = {}
    for line in metrics.splitlines():
        if line.startswith(prefix):
            state, value = line[len(prefix) :].split('"} ')
            depths[state] = int(value)
    return depths


def wait_for_log(server: PostroomServer, text: str) -> None:
    for _ in range(200):
        if text in server.log_path.read_text():
            return
        time.sleep(0.05)
    raise AssertionError(f"the server never logged {text!r}; log:\n{server.log_tail()}")


def publish_to_held_endpoint(server: PostroomServer, http_endpoint, message: str) -> None:
    """Publishes `message` to a topic with a confirmed HTTP subscription, and
    returns once the endpoint has the post and is not yet responding."""
    sns = make_client("sns", server.endpoint)
    topic = sns.create_topic(Name="held")["TopicArn"]
    confirmed_http_subscription(sns, http_endpoint, topic)
    http_endpoint.answering.clear()
    sns.publish(TopicArn=topic, Message=message)
    wait_for_posts(http_endpoint, 2)


def test_stop_lets_delivery_finish(durable_server, http_endpoint):
    server = durable_server()
    publish_to_held_endpoint(server, http_endpoint, "in progress")

    server.process.send_signal(signal.SIGTERM)
    wait_for_log(server, "stopping")
    assert server.process.poll() is None, "the server waits for the delivery in progress"
    http_endpoint.answering.set()
    assert server.stop() == 0

    restarted = durable_server()
    assert delivery_queue_depths(restarted) == {"visible": 0, "in_flight": 0, "delayed": 0}
    assert len(http_endpoint.posts) == 2


def test_stop_cuts_hung_delivery_short(durable_server, http_endpoint):
    server = durable_server("--stop-grace", "0")
    publish_to_held_endpoint(server, http_endpoint, "cut short")

    assert server.stop() == 0
    http_endpoint.answering.set()

    # The server clock does not move, so the job comes back only if the stop
    # made it visible again.
    durable_server()
    posts = wait_for_posts(http_endpoint, 3)
    assert json.loads(posts[2]["body"])["Message"] == "cut short"


def test_deleted_queue_skips_retries(sns, sqs):
    topic = sns.create_topic(Name="orders")["TopicArn"]
    deleted_url = sqs.create_queue(QueueName="gone")["QueueUrl"]
    dlq = sqs.create_queue(QueueName="sns-dlq")["QueueUrl"]
    subscription = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn("gone"), ReturnSubscriptionArn=True)["SubscriptionArn"]
    sns.set_subscription_attributes(
        SubscriptionArn=subscription, AttributeName="RedrivePolicy", AttributeValue=json.dumps({"deadLetterTargetArn": queue_arn("sns-dlq")})
    )
    sqs.delete_queue(QueueUrl=deleted_url)

    sns.publish(TopicArn=topic, Message="to nowhere")

    # The server clock does not move, so a retry, which waits on it, would
    # never come: the message arrives only if the first failure sends it.
    response = sqs.receive_message(QueueUrl=dlq, MessageAttributeNames=["All"], WaitTimeSeconds=20)
    [message] = response["Messages"]
    assert json.loads(message["Body"])["Message"] == "to nowhere"
    assert message["MessageAttributes"]["SubscriptionArn"]["StringValue"] == subscription
    assert "gone" in message["MessageAttributes"]["ErrorMessage"]["StringValue"]
    metrics = requests.get(f"{sqs.meta.endpoint_url}/_postroom/metrics", timeout=5).text
    assert 'postroom_deliveries_total{service="sns",outcome="dead_lettered"} 1' in metrics
    assert 'outcome="retried"' not in metrics


def test_subscription_attributes_and_unsubscribe(sns, sqs):
    topic = sns.create_topic(Name="orders")["TopicArn"]
    sqs.create_queue(QueueName="q")
    arn = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn("q"))["SubscriptionArn"]
    assert sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn("q"))["SubscriptionArn"] == arn
    attributes = sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
    assert attributes["Protocol"] == "sqs"
    assert attributes["RawMessageDelivery"] == "false"
    assert attributes["PendingConfirmation"] == "false"
    sns.set_subscription_attributes(SubscriptionArn=arn, AttributeName="RawMessageDelivery", AttributeValue="true")
    assert sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]["RawMessageDelivery"] == "true"
    with pytest.raises(ClientError) as unknown:
        sns.set_subscription_attributes(SubscriptionArn=arn, AttributeName="Nope", AttributeValue="x")
    assert error_code(unknown.value) == "InvalidParameter"
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["SubscriptionsConfirmed"] == "1"
    sns.unsubscribe(SubscriptionArn=arn)
    assert sns.list_subscriptions()["Subscriptions"] == []


def test_publish_batch(sns, sqs):
    topic = sns.create_topic(Name="batch")["TopicArn"]
    url = sqs.create_queue(QueueName="batch-q")["QueueUrl"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn("batch-q"), Attributes={"RawMessageDelivery": "true"})
    result = sns.publish_batch(
        TopicArn=topic,
        PublishBatchRequestEntries=[{"Id": "a", "Message": "one"}, {"Id": "b", "Message": ""}, {"Id": "c", "Message": "three"}],
    )
    assert [entry["Id"] for entry in result["Successful"]] == ["a", "c"]
    assert [entry["Id"] for entry in result["Failed"]] == ["b"]
    assert sorted(m["Body"] for m in wait_for_messages(sqs, url, 2)) == ["one", "three"]
    with pytest.raises(ClientError) as duplicate:
        sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[{"Id": "a", "Message": "x"}, {"Id": "a", "Message": "y"}])
    assert error_code(duplicate.value) == "BatchEntryIdsNotDistinct"


def test_publish_to_missing_topic(sns):
    with pytest.raises(ClientError) as missing:
        sns.publish(TopicArn=f"arn:aws:sns:{REGION}:{ACCOUNT}:nope", Message="x")
    assert error_code(missing.value) == "NotFound"


def test_cli_publish(sqs, endpoint):
    def sns_cli(*args: str) -> dict:
        command = [aws_cli_path(), "--endpoint-url", endpoint, "--region", REGION, "--output", "json", "sns", *args]
        completed = subprocess.run(command, capture_output=True, text=True, timeout=60, env=os.environ.copy())
        assert completed.returncode == 0, completed.stderr
        return json.loads(completed.stdout or "{}")

    sqs.create_queue(QueueName="cli-q")
    url = sqs.get_queue_url(QueueName="cli-q")["QueueUrl"]
    topic = sns_cli("create-topic", "--name", "cli-topic")["TopicArn"]
    sns_cli("subscribe", "--topic-arn", topic, "--protocol", "sqs", "--notification-endpoint", queue_arn("cli-q"))
    sns_cli("publish", "--topic-arn", topic, "--message", "from the cli")
    [message] = wait_for_messages(sqs, url)
    assert json.loads(message["Body"])["Message"] == "from the cli"


def dead_lettered(sqs, url: str) -> dict:
    """Long-polls the dead-letter queue for its one message."""
    response = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"], WaitTimeSeconds=20)
    [message] = response["Messages"]
    return message


def test_topic_delivery_policy_applies(sns, sqs, http_endpoint, advance):
    policy = {
        "http": {
            "defaultHealthyRetryPolicy": {"minDelayTarget": 5, "maxDelayTarget": 5, "numRetries": 1},
            "defaultRequestPolicy": {"headerContentType": "application/json"},
        }
    }
    topic = sns.create_topic(Name="policied", Attributes={"DeliveryPolicy": json.dumps(policy)})["TopicArn"]
    dlq = sqs.create_queue(QueueName="sns-dlq")["QueueUrl"]
    subscription = confirmed_http_subscription(sns, http_endpoint, topic)
    sns.set_subscription_attributes(
        SubscriptionArn=subscription, AttributeName="RedrivePolicy", AttributeValue=json.dumps({"deadLetterTargetArn": queue_arn("sns-dlq")})
    )
    http_endpoint.status = 503

    sns.publish(TopicArn=topic, Message="twice")
    first = wait_for_posts(http_endpoint, 2)[1]
    advance(5)
    wait_for_posts(http_endpoint, 3)

    assert first["headers"]["content-type"] == "application/json"
    assert json.loads(dead_lettered(sqs, dlq)["Body"])["Message"] == "twice"
    assert len(http_endpoint.posts) == 3, "the confirmation, the attempt and one retry"
    topic_effective = json.loads(sns.get_topic_attributes(TopicArn=topic)["Attributes"]["EffectiveDeliveryPolicy"])
    assert topic_effective["http"]["defaultHealthyRetryPolicy"]["numRetries"] == 1
    subscription_effective = json.loads(sns.get_subscription_attributes(SubscriptionArn=subscription)["Attributes"]["EffectiveDeliveryPolicy"])
    assert subscription_effective["healthyRetryPolicy"]["minDelayTarget"] == 5
    assert subscription_effective["requestPolicy"] == {"headerContentType": "application/json"}


def test_no_delay_retries_run_at_once(sns, sqs, http_endpoint):
    topic = sns.create_topic(Name="eager")["TopicArn"]
    dlq = sqs.create_queue(QueueName="sns-dlq")["QueueUrl"]
    subscription = confirmed_http_subscription(sns, http_endpoint, topic)
    policy = {"healthyRetryPolicy": {"minDelayTarget": 1, "maxDelayTarget": 1, "numRetries": 2, "numNoDelayRetries": 2}}
    sns.set_subscription_attributes(SubscriptionArn=subscription, AttributeName="DeliveryPolicy", AttributeValue=json.dumps(policy))
    sns.set_subscription_attributes(
        SubscriptionArn=subscription, AttributeName="RedrivePolicy", AttributeValue=json.dumps({"deadLetterTargetArn": queue_arn("sns-dlq")})
    )
    http_endpoint.status = 500

    sns.publish(TopicArn=topic, Message="thrice")

    # The server clock does not move, so only retries without delay arrive.
    message = dead_lettered(sqs, dlq)
    assert json.loads(message["Body"])["Message"] == "thrice"
    assert len(http_endpoint.posts) == 4, "the confirmation, then three attempts"


@pytest.mark.parametrize(
    ("policy", "reason"),
    [
        (
            {"healthyRetryPolicy": {"minDelayTarget": 0, "maxDelayTarget": 5, "numRetries": 1}},
            "healthyRetryPolicy.minDelayTarget must be greater than or equal to 1",
        ),
        ({"healthyRetryPolicy": {"maxDelayTarget": 5, "numRetries": 1}}, "healthyRetryPolicy.minDelayTarget must be specified"),
        (
            {"healthyRetryPolicy": {"minDelayTarget": 1, "maxDelayTarget": 5, "numRetries": 1, "backoffFunction": "cubic"}},
            "healthyRetryPolicy.backoffFunction must be one of linear, arithmetic, geometric, exponential",
        ),
        ({"throttlePolicy": {"maxReceivesPerSecond": 0}}, "throttlePolicy.maxReceivesPerSecond must be an integer greater than or equal to 1"),
        ({"requestPolicy": {"headerContentType": "image/png"}}, "requestPolicy.headerContentType must be one of"),
    ],
)
def test_invalid_delivery_policy_rejected(sns, http_endpoint, policy, reason):
    topic = sns.create_topic(Name="strict-policy")["TopicArn"]
    subscription = confirmed_http_subscription(sns, http_endpoint, topic)

    with pytest.raises(ClientError) as rejected:
        sns.set_subscription_attributes(SubscriptionArn=subscription, AttributeName="DeliveryPolicy", AttributeValue=json.dumps(policy))

    assert error_code(rejected.value) == "InvalidParameter"
    assert rejected.value.response["Error"]["Message"].startswith(f"Invalid parameter: DeliveryPolicy: {reason}")


def test_invalid_topic_delivery_policy_rejected(sns):
    policy = {"http": {"defaultHealthyRetryPolicy": {"minDelayTarget": 9, "maxDelayTarget": 5, "numRetries": 1}}}

    with pytest.raises(ClientError) as rejected:
        sns.create_topic(Name="bad-policy", Attributes={"DeliveryPolicy": json.dumps(policy)})

    assert error_code(rejected.value) == "InvalidParameter"
    message = rejected.value.response["Error"]["Message"]
    assert message == "Invalid parameter: Attributes Reason: DeliveryPolicy: http.defaultHealthyRetryPolicy.maxDelayTarget must be greater than or equal to minDelayTarget"


def test_confirmation_follows_topic_signature_version(sns, http_endpoint):
    topic = sns.create_topic(Name="signed", Attributes={"SignatureVersion": "2"})["TopicArn"]
    url = f"http://127.0.0.1:{http_endpoint.server_address[1]}/hook"

    sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=url)

    [confirmation] = wait_for_posts(http_endpoint, 1)
    envelope = json.loads(confirmation["body"])
    assert envelope["SignatureVersion"] == "2"
    verify_signature(envelope)
    assert confirmation["headers"]["x-amz-sns-message-id"] == envelope["MessageId"]


def test_confirmed_subscription_stops_confirmation_retries(sns, http_endpoint, advance):
    topic = sns.create_topic(Name="confirm-once")["TopicArn"]
    url = f"http://127.0.0.1:{http_endpoint.server_address[1]}/hook"
    http_endpoint.status = 500
    sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=url)
    token = json.loads(wait_for_posts(http_endpoint, 1)[0]["body"])["Token"]

    sns.confirm_subscription(TopicArn=topic, Token=token)
    http_endpoint.status = 200
    advance(21)
    sns.publish(TopicArn=topic, Message="after")

    posts = wait_for_posts(http_endpoint, 2)
    assert [post["headers"]["x-amz-sns-message-type"] for post in posts] == ["SubscriptionConfirmation", "Notification"]


def test_fifo_queue_needs_fifo_topic(sns, sqs):
    topic = sns.create_topic(Name="plain")["TopicArn"]
    sqs.create_queue(QueueName="ordered.fifo", Attributes={"FifoQueue": "true"})

    with pytest.raises(ClientError) as rejected:
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn("ordered.fifo"))

    assert error_code(rejected.value) == "InvalidParameter"
    expected = "Invalid parameter: Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be subscribed to standard SNS topics"
    assert rejected.value.response["Error"]["Message"] == expected


def test_subscribe_again_with_other_attributes(sns, sqs):
    topic = sns.create_topic(Name="again")["TopicArn"]
    sqs.create_queue(QueueName="again-queue")
    first = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn("again-queue"), ReturnSubscriptionArn=True)["SubscriptionArn"]

    sns.set_subscription_attributes(SubscriptionArn=first, AttributeName="FilterPolicy", AttributeValue='{"kind": ["a", "b"]}')
    same = sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=queue_arn("again-queue"),
        Attributes={"RawMessageDelivery": "false", "FilterPolicy": '{ "kind" : ["a","b"] }'},
        ReturnSubscriptionArn=True,
    )
    with pytest.raises(ClientError) as differs:
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn("again-queue"), Attributes={"RawMessageDelivery": "true"})

    assert same["SubscriptionArn"] == first
    assert error_code(differs.value) == "InvalidParameter"
    assert differs.value.response["Error"]["Message"] == "Invalid parameter: Attributes Reason: Subscription already exists with different attributes"


@pytest.mark.parametrize("endpoint", ["http://", "http://exa mple.com/", "http://:80/hook", "http:///path", "http://127.0.0.1:9/a b"])
def test_malformed_http_endpoint_rejected(sns, endpoint):
    topic = sns.create_topic(Name="urls")["TopicArn"]

    with pytest.raises(ClientError) as rejected:
        sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=endpoint)

    assert error_code(rejected.value) == "InvalidParameter"
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []


def test_redrive_policy_checks(sns, sqs):
    topic = sns.create_topic(Name="orders.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    sqs.create_queue(QueueName="orders.fifo", Attributes={"FifoQueue": "true"})
    subscription = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn("orders.fifo"), ReturnSubscriptionArn=True)["SubscriptionArn"]

    def set_policy(value: str) -> None:
        sns.set_subscription_attributes(SubscriptionArn=subscription, AttributeName="RedrivePolicy", AttributeValue=value)

    with pytest.raises(ClientError) as unknown:
        set_policy(json.dumps({"deadLetterTargetArn": queue_arn("dlq.fifo"), "maxReceiveCount": 3}))
    with pytest.raises(ClientError) as standard:
        set_policy(json.dumps({"deadLetterTargetArn": queue_arn("dlq")}))
    with pytest.raises(ClientError) as elsewhere:
        set_policy(json.dumps({"deadLetterTargetArn": "arn:aws:sqs:eu-west-1:000000000000:dlq.fifo"}))
    set_policy(json.dumps({"deadLetterTargetArn": queue_arn("dlq.fifo")}))
    set_policy("")

    assert unknown.value.response["Error"]["Message"] == "Invalid parameter: RedrivePolicy: invalid JSON. Attribute maxReceiveCount is unknown."
    assert "must use a FIFO queue as DLQ" in standard.value.response["Error"]["Message"]
    assert "same account and Region" in elsewhere.value.response["Error"]["Message"]
    assert "RedrivePolicy" not in sns.get_subscription_attributes(SubscriptionArn=subscription)["Attributes"]


def test_slow_endpoint_delays_only_itself(sns, sqs, http_endpoint):
    slow = sns.create_topic(Name="slow")["TopicArn"]
    confirmed_http_subscription(sns, http_endpoint, slow)
    fast = sns.create_topic(Name="fast")["TopicArn"]
    url = sqs.create_queue(QueueName="fast-queue")["QueueUrl"]
    sns.subscribe(TopicArn=fast, Protocol="sqs", Endpoint=queue_arn("fast-queue"), Attributes={"RawMessageDelivery": "true"})
    http_endpoint.answering.clear()
    sns.publish(TopicArn=slow, Message="held")
    wait_for_posts(http_endpoint, 2)

    retried_before = sns_deliveries(sqs, "retried")

    sns.publish(TopicArn=fast, Message="not held")

    response = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20)
    assert [message["Body"] for message in response.get("Messages", [])] == ["not held"]
    # The held post can end only by timing out, which counts a retry, so the
    # message arrived while the post was still in progress.
    assert sns_deliveries(sqs, "retried") == retried_before


def sns_deliveries(sqs, outcome: str) -> int:
    """SNS deliveries with `outcome` so far, from the server's metrics."""
    metrics = requests.get(f"{sqs.meta.endpoint_url}/_postroom/metrics", timeout=5).text
    prefix = f'postroom_deliveries_total{{service="sns",outcome="{outcome}"}} '
    return sum(int(line[len(prefix) :]) for line in metrics.splitlines() if line.startswith(prefix))


def test_unsubscribe_confirmation_restores(sns, http_endpoint):
    topic = sns.create_topic(Name="leaving")["TopicArn"]
    subscription = confirmed_http_subscription(sns, http_endpoint, topic)

    sns.unsubscribe(SubscriptionArn=subscription)

    post = wait_for_posts(http_endpoint, 2)[1]
    envelope = json.loads(post["body"])
    assert post["headers"]["x-amz-sns-message-type"] == "UnsubscribeConfirmation"
    assert post["headers"]["x-amz-sns-subscription-arn"] == subscription
    assert envelope["Type"] == "UnsubscribeConfirmation"
    assert subscription in envelope["Message"]
    verify_signature(envelope)
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []

    assert requests.get(envelope["SubscribeURL"], timeout=5).status_code == 200
    [restored] = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert restored["SubscriptionArn"] == subscription
    sns.publish(TopicArn=topic, Message="welcome back")
    assert json.loads(wait_for_posts(http_endpoint, 3)[2]["body"])["Message"] == "welcome back"


def test_stop_waits_for_every_receiver(durable_server, http_endpoint, other_http_endpoint):
    server = durable_server("--stop-grace", "2")
    publish_to_held_endpoint(server, http_endpoint, "first")
    sns = make_client("sns", server.endpoint)
    other = sns.create_topic(Name="other")["TopicArn"]
    confirmed_http_subscription(sns, other_http_endpoint, other)
    other_http_endpoint.answering.clear()
    # The first delivery keeps its receiver busy, so a standby receiver takes this one.
    sns.publish(TopicArn=other, Message="second")
    wait_for_posts(other_http_endpoint, 2)

    server.process.send_signal(signal.SIGTERM)
    wait_for_log(server, "stopping")
    http_endpoint.answering.set()
    assert server.stop() == 0
    other_http_endpoint.answering.set()

    # The server clock does not move, so the held delivery comes back only
    # if the stop waited for its receiver and made its job visible again.
    durable_server()
    assert json.loads(wait_for_posts(other_http_endpoint, 3)[2]["body"])["Message"] == "second"


def test_stale_unsubscribe_token_rejected(sns, http_endpoint):
    topic = sns.create_topic(Name="returning")["TopicArn"]
    subscription = confirmed_http_subscription(sns, http_endpoint, topic)
    sns.unsubscribe(SubscriptionArn=subscription)
    stale = json.loads(wait_for_posts(http_endpoint, 2)[1]["body"])["Token"]
    url = f"http://127.0.0.1:{http_endpoint.server_address[1]}/hook"
    sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=url)

    with pytest.raises(ClientError) as rejected:
        sns.confirm_subscription(TopicArn=topic, Token=stale)

    assert error_code(rejected.value) == "InvalidParameter"
    assert len(sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]) == 1


def test_standard_topic_rejects_fifo_dlq(sns, sqs):
    topic = sns.create_topic(Name="plain-orders")["TopicArn"]
    sqs.create_queue(QueueName="plain-queue")
    subscription = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn("plain-queue"), ReturnSubscriptionArn=True)["SubscriptionArn"]

    with pytest.raises(ClientError) as rejected:
        sns.set_subscription_attributes(
            SubscriptionArn=subscription, AttributeName="RedrivePolicy", AttributeValue=json.dumps({"deadLetterTargetArn": queue_arn("dlq.fifo")})
        )

    assert error_code(rejected.value) == "InvalidParameter"
    assert "standard queue" in rejected.value.response["Error"]["Message"]
