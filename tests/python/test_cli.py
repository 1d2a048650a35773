"""The aws CLI (v1, JSON output) driving Postroom.

Each CLI call starts a new Python process, so these tests group several
steps per test to keep the run short.
"""

import json
import os
import subprocess

from conftest import DEFAULT_ACCOUNT, aws_cli_path
from sqs_digests import md5_of_attributes, md5_of_body
from sqs_redrive import drain_to_dead_letter_queue, queue_arn, redrive_policy, wait_for_status


def test_cli_create_and_list_queues(cli, endpoint):
    created = cli("create-queue", "--queue-name", "orders")
    cli("create-queue", "--queue-name", "invoices")

    listed = cli("list-queues", "--queue-name-prefix", "ord")

    assert created["QueueUrl"] == f"{endpoint}/{DEFAULT_ACCOUNT}/orders"
    assert listed["QueueUrls"] == [created["QueueUrl"]]


def test_cli_send_receive_delete(cli):
    url = cli("create-queue", "--queue-name", "orders")["QueueUrl"]
    attributes = {"kind": {"DataType": "String", "StringValue": "order"}}

    sent = cli(
        "send-message", "--queue-url", url, "--message-body", "hello from the CLI",
        "--message-attributes", json.dumps(attributes),
    )
    received = cli(
        "receive-message", "--queue-url", url,
        "--message-attribute-names", "All", "--attribute-names", "All",
    )
    message = received["Messages"][0]
    cli("delete-message", "--queue-url", url, "--receipt-handle", message["ReceiptHandle"])
    counts = cli(
        "get-queue-attributes", "--queue-url", url, "--attribute-names",
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
    )

    assert sent["MD5OfMessageBody"] == md5_of_body("hello from the CLI")
    assert sent["MD5OfMessageAttributes"] == md5_of_attributes(attributes)
    assert message["MessageId"] == sent["MessageId"]
    assert message["Body"] == "hello from the CLI"
    assert message["MessageAttributes"] == attributes
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"
    assert counts["Attributes"] == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}


def test_cli_queue_attributes(cli):
    url = cli("create-queue", "--queue-name", "orders", "--attributes", "DelaySeconds=5")["QueueUrl"]

    cli("set-queue-attributes", "--queue-url", url, "--attributes", "VisibilityTimeout=45")
    attributes = cli(
        "get-queue-attributes", "--queue-url", url, "--attribute-names", "VisibilityTimeout", "DelaySeconds"
    )

    assert attributes["Attributes"] == {"VisibilityTimeout": "45", "DelaySeconds": "5"}


def test_cli_tags(cli):
    url = cli("create-queue", "--queue-name", "orders")["QueueUrl"]

    cli("tag-queue", "--queue-url", url, "--tags", "team=billing,env=test")
    cli("untag-queue", "--queue-url", url, "--tag-keys", "env")
    tags = cli("list-queue-tags", "--queue-url", url)

    assert tags["Tags"] == {"team": "billing"}


def test_cli_missing_queue_fails(cli_run):
    completed = cli_run("get-queue-url", "--queue-name", "missing")

    assert completed.returncode != 0
    assert "NonExistentQueue" in completed.stderr


def test_cli_delete_queue(cli):
    url = cli("create-queue", "--queue-name", "orders")["QueueUrl"]

    cli("delete-queue", "--queue-url", url)
    listed = cli("list-queues")

    assert (listed or {}).get("QueueUrls", []) == []


def test_cli_start_message_move_task(sqs, endpoint):
    # The command as a user types it, with only --endpoint-url added. The
    # region and the dummy credentials come from the environment (conftest).
    sqs.create_queue(QueueName="orders-dlq")
    orders = sqs.create_queue(QueueName="orders", Attributes={"RedrivePolicy": redrive_policy("orders-dlq", 1)})[
        "QueueUrl"
    ]
    sent = sorted(sqs.send_message(QueueUrl=orders, MessageBody=f"order {index}")["MessageId"] for index in range(3))
    drain_to_dead_letter_queue(sqs, orders)
    command = [
        aws_cli_path(), "sqs", "start-message-move-task",
        "--source-arn", "arn:aws:sqs:us-east-1:000000000000:orders-dlq",
        "--destination-arn", "arn:aws:sqs:us-east-1:000000000000:orders",
        "--endpoint-url", endpoint,
    ]

    completed = subprocess.run(command, capture_output=True, text=True, timeout=60, env=os.environ.copy())

    assert completed.returncode == 0, completed.stderr
    handle = json.loads(completed.stdout)["TaskHandle"]
    assert handle
    task = wait_for_status(sqs, queue_arn("orders-dlq"), "COMPLETED")
    assert task["DestinationArn"] == queue_arn("orders")
    assert task["ApproximateNumberOfMessagesMoved"] == 3
    messages = sqs.receive_message(QueueUrl=orders, MaxNumberOfMessages=10)["Messages"]
    assert sorted(message["MessageId"] for message in messages) == sent
