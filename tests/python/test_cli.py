"""The aws CLI (v1, JSON output) driving Postroom.

Each CLI call starts a new Python process, so these tests group several
steps per test to keep the run short.
"""

import json

from conftest import DEFAULT_ACCOUNT
from sqs_digests import md5_of_attributes, md5_of_body


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
