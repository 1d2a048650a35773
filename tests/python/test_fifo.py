"""FIFO queues through boto3: attributes, send rules, group order, deduplication, receive attempts.

The deduplication window and the receive attempt window are 5 minutes of the
server clock, so the tests move the manual clock across them.
"""

from __future__ import annotations

import hashlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from conftest import make_sqs_client
from sqs_errors import error_code, http_status
from sqs_polls import start_poll

DEDUPLICATION_WINDOW_SECONDS = 300
RECEIVE_ATTEMPT_WINDOW_SECONDS = 300
# Real time after which a long poll that should have returned counts as stuck.
# A woken poll returns within milliseconds, so only a poll that the server
# never wakes costs this much.
STUCK_POLL_SECONDS = 1.0
FIFO_ONLY_ATTRIBUTES = {
    "ContentBasedDeduplication": "true",
    "DeduplicationScope": "messageGroup",
    "FifoThroughputLimit": "perQueue",
}


def create_fifo(sqs, name: str = "orders.fifo", **attributes) -> str:
    return sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true", **attributes})["QueueUrl"]


def send(sqs, queue_url: str, body: str, group: str = "g", **params) -> dict:
    return sqs.send_message(QueueUrl=queue_url, MessageBody=body, MessageGroupId=group, **params)


def receive(sqs, queue_url: str, **params) -> list[dict]:
    return sqs.receive_message(QueueUrl=queue_url, **params).get("Messages", [])


def bodies(messages: list[dict]) -> list[str]:
    return [message["Body"] for message in messages]


def queue_attributes(sqs, queue_url: str, *names: str) -> dict:
    return sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=list(names) or ["All"])["Attributes"]


def visible_count(sqs, queue_url: str) -> int:
    return int(queue_attributes(sqs, queue_url, "ApproximateNumberOfMessages")["ApproximateNumberOfMessages"])


@pytest.fixture
def fifo_url(sqs) -> str:
    """URL of a FIFO queue with content-based deduplication, so sends need only a group."""
    return create_fifo(sqs, ContentBasedDeduplication="true")


# Queue attributes


def test_fifo_queue_default_attributes(sqs):
    url = create_fifo(sqs)

    attributes = queue_attributes(sqs, url)

    assert url.endswith("/orders.fifo")
    assert attributes["FifoQueue"] == "true"
    assert attributes["ContentBasedDeduplication"] == "false"
    assert attributes["DeduplicationScope"] == "messageQueue"
    assert attributes["FifoThroughputLimit"] == "perQueue"


def test_fifo_queue_created_with_attributes(sqs):
    url = create_fifo(
        sqs,
        ContentBasedDeduplication="true",
        DeduplicationScope="messageGroup",
        FifoThroughputLimit="perMessageGroupId",
    )

    attributes = queue_attributes(sqs, url, "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit")

    assert attributes == {
        "ContentBasedDeduplication": "true",
        "DeduplicationScope": "messageGroup",
        "FifoThroughputLimit": "perMessageGroupId",
    }


def test_fifo_queue_create_idempotent(sqs):
    first = create_fifo(sqs, ContentBasedDeduplication="true")

    second = create_fifo(sqs, ContentBasedDeduplication="true")

    assert second == first


def test_standard_queue_has_no_fifo_attributes(sqs, queue_url):
    attributes = queue_attributes(sqs, queue_url)

    assert "FifoQueue" not in attributes
    assert not set(FIFO_ONLY_ATTRIBUTES) & set(attributes)


def test_fifo_queue_type_cannot_change(sqs):
    url = create_fifo(sqs)

    with pytest.raises(ClientError) as raised:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"FifoQueue": "false"})

    assert error_code(raised.value) == "InvalidAttributeValue"
    assert http_status(raised.value) == 400
    assert queue_attributes(sqs, url, "FifoQueue") == {"FifoQueue": "true"}


@pytest.mark.parametrize("name", sorted(FIFO_ONLY_ATTRIBUTES))
def test_fifo_attribute_on_standard_queue(sqs, queue_url, name):
    with pytest.raises(ClientError) as raised:
        sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={name: FIFO_ONLY_ATTRIBUTES[name]})

    assert error_code(raised.value) == "InvalidAttributeName"
    assert name not in queue_attributes(sqs, queue_url)


@pytest.mark.parametrize("name", sorted(FIFO_ONLY_ATTRIBUTES))
def test_fifo_attribute_on_standard_create(sqs, name):
    with pytest.raises(ClientError) as raised:
        sqs.create_queue(QueueName="standard", Attributes={name: FIFO_ONLY_ATTRIBUTES[name]})

    assert error_code(raised.value) == "InvalidAttributeName"


def test_fifo_per_group_throughput_needs_group_scope(sqs):
    url = create_fifo(sqs)

    with pytest.raises(ClientError) as raised:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"FifoThroughputLimit": "perMessageGroupId"})

    assert error_code(raised.value) == "InvalidAttributeValue"
    assert queue_attributes(sqs, url, "FifoThroughputLimit") == {"FifoThroughputLimit": "perQueue"}


def test_fifo_per_group_throughput_needs_group_scope_on_create(sqs):
    with pytest.raises(ClientError) as raised:
        create_fifo(sqs, FifoThroughputLimit="perMessageGroupId")

    assert error_code(raised.value) == "InvalidAttributeValue"


def test_fifo_high_throughput_mode(sqs):
    url = create_fifo(sqs)

    sqs.set_queue_attributes(
        QueueUrl=url, Attributes={"DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId"}
    )

    attributes = queue_attributes(sqs, url, "DeduplicationScope", "FifoThroughputLimit")
    assert attributes == {"DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId"}


def test_fifo_queue_scope_with_per_group_throughput(sqs):
    url = create_fifo(sqs, DeduplicationScope="messageGroup", FifoThroughputLimit="perMessageGroupId")

    with pytest.raises(ClientError) as raised:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"DeduplicationScope": "messageQueue"})

    assert error_code(raised.value) == "InvalidAttributeValue"


@pytest.mark.parametrize(
    "name, value",
    [
        ("ContentBasedDeduplication", "maybe"),
        ("DeduplicationScope", "queue"),
        ("FifoThroughputLimit", "perGroup"),
    ],
)
def test_fifo_attribute_invalid_value(sqs, name, value):
    url = create_fifo(sqs)

    with pytest.raises(ClientError) as raised:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={name: value})

    assert error_code(raised.value) == "InvalidAttributeValue"


# SendMessage rules


def test_fifo_send_missing_group(sqs, fifo_url):
    with pytest.raises(ClientError) as raised:
        sqs.send_message(QueueUrl=fifo_url, MessageBody="hello", MessageDeduplicationId="d")

    assert error_code(raised.value) == "MissingParameter"
    assert http_status(raised.value) == 400


def test_fifo_send_missing_deduplication_id(sqs):
    url = create_fifo(sqs)

    with pytest.raises(ClientError) as raised:
        send(sqs, url, "hello")

    assert error_code(raised.value) == "InvalidParameterValue"


def test_fifo_send_rejects_message_delay(sqs, fifo_url):
    with pytest.raises(ClientError) as raised:
        send(sqs, fifo_url, "hello", DelaySeconds=5)

    assert error_code(raised.value) == "InvalidParameterValue"
    assert visible_count(sqs, fifo_url) == 0


def test_fifo_queue_delay_applies(sqs, fifo_url, advance):
    sqs.set_queue_attributes(QueueUrl=fifo_url, Attributes={"DelaySeconds": "10"})
    send(sqs, fifo_url, "later")

    early = receive(sqs, fifo_url)
    advance(10)

    assert early == []
    assert bodies(receive(sqs, fifo_url)) == ["later"]


@pytest.mark.parametrize(
    "value",
    ["has space", "x" * 129, "naïve", "tab\there"],
    ids=["space", "129-characters", "non-ascii", "tab"],
)
@pytest.mark.parametrize("parameter", ["MessageGroupId", "MessageDeduplicationId"])
def test_fifo_send_invalid_id(sqs, parameter, value):
    url = create_fifo(sqs)
    params = {"MessageGroupId": "g", "MessageDeduplicationId": "d", parameter: value}

    with pytest.raises(ClientError) as raised:
        sqs.send_message(QueueUrl=url, MessageBody="hello", **params)

    assert error_code(raised.value) == "InvalidParameterValue"


@pytest.mark.parametrize(
    "value",
    ["x" * 128, "a", "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", "Order-42_eu.west"],
    ids=["128-characters", "one-character", "punctuation", "mixed"],
)
def test_fifo_send_valid_ids(sqs, value):
    url = create_fifo(sqs)
    send(sqs, url, "hello", group=value, MessageDeduplicationId=value)

    [message] = receive(sqs, url, MessageSystemAttributeNames=["MessageGroupId", "MessageDeduplicationId"])

    assert message["Attributes"] == {"MessageGroupId": value, "MessageDeduplicationId": value}


def test_fifo_send_batch_entry_without_group(sqs, fifo_url):
    response = sqs.send_message_batch(
        QueueUrl=fifo_url,
        Entries=[
            {"Id": "ok", "MessageBody": "one", "MessageGroupId": "g"},
            {"Id": "no-group", "MessageBody": "two"},
            {"Id": "delayed", "MessageBody": "three", "MessageGroupId": "g", "DelaySeconds": 5},
        ],
    )

    failed = {entry["Id"]: entry for entry in response["Failed"]}
    assert [entry["Id"] for entry in response["Successful"]] == ["ok"]
    assert response["Successful"][0]["SequenceNumber"].isdigit()
    assert sorted(failed) == ["delayed", "no-group"]
    assert failed["no-group"]["Code"] == "MissingParameter"
    assert failed["no-group"]["SenderFault"] is True
    assert failed["delayed"]["Code"] == "InvalidParameterValue"
    assert bodies(receive(sqs, fifo_url, MaxNumberOfMessages=10)) == ["one"]


# Sequence numbers and system attributes


def test_fifo_sequence_numbers_grow(sqs, fifo_url):
    numbers = [send(sqs, fifo_url, f"message {index}", group=f"g{index % 2}")["SequenceNumber"] for index in range(5)]

    assert all(number.isdigit() for number in numbers), numbers
    assert [int(number) for number in numbers] == sorted(int(number) for number in numbers)
    assert len(set(numbers)) == 5


def test_fifo_batch_sequence_numbers_follow_entries(sqs, fifo_url):
    entries = [{"Id": f"e{index}", "MessageBody": f"message {index}", "MessageGroupId": "g"} for index in range(4)]

    response = sqs.send_message_batch(QueueUrl=fifo_url, Entries=entries)

    by_id = {entry["Id"]: int(entry["SequenceNumber"]) for entry in response["Successful"]}
    assert [by_id[f"e{index}"] for index in range(4)] == sorted(by_id.values())
    assert bodies(receive(sqs, fifo_url, MaxNumberOfMessages=10)) == [f"message {index}" for index in range(4)]


def test_fifo_receive_system_attributes(sqs):
    url = create_fifo(sqs)
    sent = send(sqs, url, "hello", group="customer-7", MessageDeduplicationId="order-42")

    [message] = receive(sqs, url, MessageSystemAttributeNames=["All"])

    attributes = message["Attributes"]
    assert attributes["MessageGroupId"] == "customer-7"
    assert attributes["MessageDeduplicationId"] == "order-42"
    assert attributes["SequenceNumber"] == sent["SequenceNumber"]
    assert attributes["ApproximateReceiveCount"] == "1"


def test_fifo_content_based_deduplication_id(sqs, fifo_url):
    send(sqs, fifo_url, "hello")

    [message] = receive(sqs, fifo_url, MessageSystemAttributeNames=["MessageDeduplicationId"])

    assert message["Attributes"]["MessageDeduplicationId"] == hashlib.sha256(b"hello").hexdigest()


def test_fifo_sequence_number_only_when_requested(sqs, fifo_url):
    send(sqs, fifo_url, "hello")

    [message] = receive(sqs, fifo_url, MessageSystemAttributeNames=["SentTimestamp"])

    assert list(message["Attributes"]) == ["SentTimestamp"]


def test_standard_queue_returns_group_id(sqs, queue_url):
    sent = sqs.send_message(QueueUrl=queue_url, MessageBody="hello", MessageGroupId="tenant-1")

    [message] = receive(sqs, queue_url, MessageSystemAttributeNames=["All"])

    assert "SequenceNumber" not in sent
    assert message["Attributes"]["MessageGroupId"] == "tenant-1"
    assert "SequenceNumber" not in message["Attributes"]


def test_standard_queue_rejects_deduplication_id(sqs, queue_url):
    with pytest.raises(ClientError) as raised:
        sqs.send_message(QueueUrl=queue_url, MessageBody="hello", MessageDeduplicationId="d")

    assert error_code(raised.value) == "InvalidParameterValue"


# Group order and group locking


def test_fifo_groups_keep_send_order(sqs, fifo_url):
    for body, group in [("a1", "a"), ("b1", "b"), ("a2", "a"), ("c1", "c"), ("b2", "b"), ("a3", "a")]:
        send(sqs, fifo_url, body, group=group)

    messages = receive(sqs, fifo_url, MaxNumberOfMessages=10)

    assert bodies(messages) == ["a1", "a2", "a3", "b1", "b2", "c1"], "runs of each group, oldest group first"


def test_fifo_receive_default_one_message(sqs, fifo_url):
    for body in ("a1", "a2"):
        send(sqs, fifo_url, body)

    assert bodies(receive(sqs, fifo_url)) == ["a1"]


def test_fifo_receive_returns_run_of_group(sqs, fifo_url):
    for index in range(1, 6):
        send(sqs, fifo_url, f"a{index}", group="a")
    send(sqs, fifo_url, "b1", group="b")

    first = receive(sqs, fifo_url, MaxNumberOfMessages=3)
    second = receive(sqs, fifo_url, MaxNumberOfMessages=3)

    assert bodies(first) == ["a1", "a2", "a3"]
    assert bodies(second) == ["b1"], "a4 and a5 wait while a1 to a3 are in flight"


def test_fifo_in_flight_message_locks_group(sqs, fifo_url):
    for body, group in [("a1", "a"), ("a2", "a"), ("a3", "a"), ("b1", "b")]:
        send(sqs, fifo_url, body, group=group)

    first = receive(sqs, fifo_url, VisibilityTimeout=30)
    second = receive(sqs, fifo_url, MaxNumberOfMessages=10)
    third = receive(sqs, fifo_url, MaxNumberOfMessages=10)

    assert bodies(first) == ["a1"]
    assert bodies(second) == ["b1"], "a2 waits while a1 is in flight"
    assert third == []


def test_fifo_expired_message_returns_first(sqs, fifo_url, advance):
    for body in ("a1", "a2", "a3"):
        send(sqs, fifo_url, body, group="a")
    receive(sqs, fifo_url, VisibilityTimeout=30)
    advance(30)

    messages = receive(sqs, fifo_url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["ApproximateReceiveCount"])

    assert bodies(messages) == ["a1", "a2", "a3"]
    assert [message["Attributes"]["ApproximateReceiveCount"] for message in messages] == ["2", "1", "1"]


def test_fifo_visibility_zero_returns_message_first(sqs, fifo_url):
    for body in ("a1", "a2"):
        send(sqs, fifo_url, body, group="a")
    [first] = receive(sqs, fifo_url)

    sqs.change_message_visibility(QueueUrl=fifo_url, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=0)

    assert bodies(receive(sqs, fifo_url, MaxNumberOfMessages=10)) == ["a1", "a2"]


def test_fifo_delete_unlocks_group(sqs, fifo_url):
    for body in ("a1", "a2"):
        send(sqs, fifo_url, body, group="a")
    [first] = receive(sqs, fifo_url)
    assert receive(sqs, fifo_url) == []

    sqs.delete_message(QueueUrl=fifo_url, ReceiptHandle=first["ReceiptHandle"])

    assert bodies(receive(sqs, fifo_url)) == ["a2"]


def test_fifo_partly_deleted_run_keeps_lock(sqs, fifo_url):
    for body in ("a1", "a2", "a3"):
        send(sqs, fifo_url, body, group="a")
    first, second = receive(sqs, fifo_url, MaxNumberOfMessages=2)

    sqs.delete_message(QueueUrl=fifo_url, ReceiptHandle=first["ReceiptHandle"])

    assert receive(sqs, fifo_url) == [], "a2 is still in flight"
    sqs.delete_message(QueueUrl=fifo_url, ReceiptHandle=second["ReceiptHandle"])
    assert bodies(receive(sqs, fifo_url)) == ["a3"]


def test_fifo_delete_with_expired_receipt(sqs, fifo_url, advance):
    send(sqs, fifo_url, "a1")
    [first] = receive(sqs, fifo_url, VisibilityTimeout=10)
    advance(10)

    with pytest.raises(ClientError) as expired:
        sqs.delete_message(QueueUrl=fifo_url, ReceiptHandle=first["ReceiptHandle"])

    assert error_code(expired.value) == "InvalidParameterValue"
    [again] = receive(sqs, fifo_url)
    assert again["MessageId"] == first["MessageId"], "the message is still in the queue"
    with pytest.raises(ClientError) as stale:
        sqs.delete_message(QueueUrl=fifo_url, ReceiptHandle=first["ReceiptHandle"])
    assert error_code(stale.value) == "InvalidParameterValue"
    sqs.delete_message(QueueUrl=fifo_url, ReceiptHandle=again["ReceiptHandle"])
    assert visible_count(sqs, fifo_url) == 0


def test_fifo_consumers_keep_group_order(sqs, endpoint):
    groups, per_group, producers, consumers = 12, 15, 4, 4
    total = groups * per_group
    url = create_fifo(sqs, ContentBasedDeduplication="true")

    def produce(group: int) -> None:
        # One call per group sends the group's messages in index order.
        entries = [
            {"Id": f"m{index}", "MessageBody": f"{group}:{index}", "MessageGroupId": f"group-{group}"}
            for index in range(per_group)
        ]
        for start in range(0, per_group, 10):
            response = sqs.send_message_batch(QueueUrl=url, Entries=entries[start : start + 10])
            assert not response.get("Failed"), response["Failed"]

    with ThreadPoolExecutor(max_workers=producers) as pool:
        list(pool.map(produce, range(groups)))
    assert visible_count(sqs, url) == total

    lock = threading.Lock()
    holders: dict[int, int] = {}
    next_index = {group: 0 for group in range(groups)}
    received: list[tuple[int, int]] = []
    stop = threading.Event()
    clients = [make_sqs_client(endpoint) for _ in range(consumers)]
    start_together = threading.Barrier(consumers)
    deadline = time.monotonic() + 30

    def hold_groups(consumer: int, messages: list[dict]) -> set[int]:
        """Check the order and holders of the messages' groups, then mark them held by `consumer` and return them."""
        groups_in_response = set()
        with lock:
            for message in messages:
                group, index = (int(part) for part in message["Body"].split(":"))
                if group not in groups_in_response:
                    holder = holders.get(group)
                    assert holder is None, f"group {group} served to consumer {consumer} while {holder} holds it"
                    holders[group] = consumer
                    groups_in_response.add(group)
                assert index == next_index[group], f"group {group}: index {index}, expected {next_index[group]}"
                next_index[group] += 1
                received.append((group, index))
        return groups_in_response

    def consume(consumer: int) -> int:
        client = clients[consumer]
        handled = 0
        start_together.wait()
        try:
            while not stop.is_set():
                assert time.monotonic() < deadline, f"consumer {consumer} timed out; progress {next_index}"
                messages = receive(client, url, MaxNumberOfMessages=3, VisibilityTimeout=60)
                if not messages:
                    with lock:
                        if len(received) == total:
                            return handled
                    time.sleep(0.002)
                    continue
                groups_in_response = hold_groups(consumer, messages)
                # Processing time, during which another consumer that is
                # served one of these groups finds it held.
                time.sleep(0.001)
                # Release before deleting, because the server unlocks a group
                # as soon as its last in-flight message is deleted.
                with lock:
                    for group in groups_in_response:
                        del holders[group]
                entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
                response = client.delete_message_batch(QueueUrl=url, Entries=entries)
                assert not response.get("Failed"), response["Failed"]
                handled += len(messages)
            return handled
        except BaseException:
            stop.set()
            raise

    with ThreadPoolExecutor(max_workers=consumers) as pool:
        futures = [pool.submit(consume, index) for index in range(consumers)]
        handled = [future.result() for future in futures]

    assert sum(handled) == total
    assert len(set(received)) == total, "every message was received exactly once"
    assert next_index == {group: per_group for group in range(groups)}
    assert sum(1 for count in handled if count > 0) > 1, f"only one consumer received messages: {handled}"
    assert visible_count(sqs, url) == 0


# Deduplication


def test_fifo_duplicate_id_returns_original(sqs):
    url = create_fifo(sqs)
    original = send(sqs, url, "first body", MessageDeduplicationId="order-7")

    repeat = send(sqs, url, "second body", MessageDeduplicationId="order-7")

    assert repeat["MessageId"] == original["MessageId"]
    assert repeat["SequenceNumber"] == original["SequenceNumber"]
    assert repeat["MD5OfMessageBody"] == hashlib.md5(b"second body").hexdigest()
    assert bodies(receive(sqs, url, MaxNumberOfMessages=10)) == ["first body"]


def test_fifo_content_based_duplicate(sqs, fifo_url):
    original = send(sqs, fifo_url, "same body")

    repeat = send(sqs, fifo_url, "same body")
    other = send(sqs, fifo_url, "other body")

    assert repeat["MessageId"] == original["MessageId"]
    assert repeat["SequenceNumber"] == original["SequenceNumber"]
    assert other["MessageId"] != original["MessageId"]
    assert visible_count(sqs, fifo_url) == 2


def test_fifo_explicit_id_overrides_content(sqs, fifo_url):
    first = send(sqs, fifo_url, "same body", MessageDeduplicationId="one")
    second = send(sqs, fifo_url, "same body", MessageDeduplicationId="two")
    third = send(sqs, fifo_url, "different body", MessageDeduplicationId="one")

    assert second["MessageId"] != first["MessageId"]
    assert third["MessageId"] == first["MessageId"]
    assert visible_count(sqs, fifo_url) == 2


def test_fifo_duplicate_after_delete(sqs, fifo_url):
    original = send(sqs, fifo_url, "hello")
    [message] = receive(sqs, fifo_url)
    sqs.delete_message(QueueUrl=fifo_url, ReceiptHandle=message["ReceiptHandle"])

    repeat = send(sqs, fifo_url, "hello")

    assert repeat["MessageId"] == original["MessageId"]
    assert repeat["SequenceNumber"] == original["SequenceNumber"]
    assert receive(sqs, fifo_url) == []


def test_fifo_duplicate_after_purge(sqs, fifo_url):
    original = send(sqs, fifo_url, "hello")
    sqs.purge_queue(QueueUrl=fifo_url)

    repeat = send(sqs, fifo_url, "hello")

    assert repeat["MessageId"] == original["MessageId"]
    assert receive(sqs, fifo_url) == []


def test_fifo_deduplication_window(sqs, fifo_url, advance):
    original = send(sqs, fifo_url, "hello")
    advance(DEDUPLICATION_WINDOW_SECONDS - 1)
    inside = send(sqs, fifo_url, "hello")
    advance(1)

    after = send(sqs, fifo_url, "hello")

    assert inside["MessageId"] == original["MessageId"]
    assert after["MessageId"] != original["MessageId"]
    assert int(after["SequenceNumber"]) > int(original["SequenceNumber"])
    assert visible_count(sqs, fifo_url) == 2


def test_fifo_window_counts_from_original_send(sqs, fifo_url, advance):
    original = send(sqs, fifo_url, "hello")
    advance(DEDUPLICATION_WINDOW_SECONDS - 1)
    send(sqs, fifo_url, "hello")
    advance(1)

    after = send(sqs, fifo_url, "hello")

    assert after["MessageId"] != original["MessageId"], "a duplicate does not extend the window"


def test_fifo_deduplication_scope_queue(sqs):
    url = create_fifo(sqs)
    first = send(sqs, url, "x", group="a", MessageDeduplicationId="same")

    other_group = send(sqs, url, "x", group="b", MessageDeduplicationId="same")

    assert other_group["MessageId"] == first["MessageId"]


def test_fifo_deduplication_scope_group(sqs):
    url = create_fifo(sqs, DeduplicationScope="messageGroup")
    first = send(sqs, url, "x", group="a", MessageDeduplicationId="same")

    other_group = send(sqs, url, "x", group="b", MessageDeduplicationId="same")
    same_group = send(sqs, url, "x", group="a", MessageDeduplicationId="same")

    assert other_group["MessageId"] != first["MessageId"]
    assert same_group["MessageId"] == first["MessageId"]
    assert visible_count(sqs, url) == 2


def test_fifo_duplicate_within_batch(sqs, fifo_url):
    response = sqs.send_message_batch(
        QueueUrl=fifo_url,
        Entries=[
            {"Id": "first", "MessageBody": "same", "MessageGroupId": "g"},
            {"Id": "second", "MessageBody": "same", "MessageGroupId": "g"},
        ],
    )

    by_id = {entry["Id"]: entry for entry in response["Successful"]}
    assert by_id["second"]["MessageId"] == by_id["first"]["MessageId"]
    assert by_id["second"]["SequenceNumber"] == by_id["first"]["SequenceNumber"]
    assert visible_count(sqs, fifo_url) == 1


# ReceiveRequestAttemptId


def receipt_handles(messages: list[dict]) -> list[str]:
    return [message["ReceiptHandle"] for message in messages]


def test_fifo_receive_attempt_retry_returns_same_messages(sqs, fifo_url):
    for body in ("one", "two"):
        send(sqs, fifo_url, body)

    first = receive(sqs, fifo_url, MaxNumberOfMessages=10, ReceiveRequestAttemptId="attempt-1")
    retry = receive(sqs, fifo_url, MaxNumberOfMessages=10, ReceiveRequestAttemptId="attempt-1")

    assert bodies(first) == ["one", "two"]
    assert receipt_handles(retry) == receipt_handles(first)
    for message in retry:
        sqs.delete_message(QueueUrl=fifo_url, ReceiptHandle=message["ReceiptHandle"])
    assert visible_count(sqs, fifo_url) == 0


def test_fifo_receive_attempt_other_id_receives_anew(sqs, fifo_url):
    for body in ("one", "two"):
        send(sqs, fifo_url, body, group=body)

    first = receive(sqs, fifo_url, ReceiveRequestAttemptId="attempt-1")
    other = receive(sqs, fifo_url, ReceiveRequestAttemptId="attempt-2")

    assert bodies(first) == ["one"]
    assert bodies(other) == ["two"]


def test_fifo_receive_attempt_retry_restarts_visibility(sqs, fifo_url, advance):
    send(sqs, fifo_url, "one")
    first = receive(sqs, fifo_url, VisibilityTimeout=30, ReceiveRequestAttemptId="attempt-1")
    advance(20)

    retry = receive(sqs, fifo_url, VisibilityTimeout=30, ReceiveRequestAttemptId="attempt-1")
    advance(20)

    assert receipt_handles(retry) == receipt_handles(first)
    assert receive(sqs, fifo_url) == [], "the retry restarted the 30-second visibility timeout"
    advance(10)
    assert bodies(receive(sqs, fifo_url)) == ["one"]


def test_fifo_receive_attempt_after_delete(sqs, fifo_url):
    for body in ("one", "two"):
        send(sqs, fifo_url, body)
    [first] = receive(sqs, fifo_url, ReceiveRequestAttemptId="attempt-1")
    sqs.delete_message(QueueUrl=fifo_url, ReceiptHandle=first["ReceiptHandle"])

    retry = receive(sqs, fifo_url, ReceiveRequestAttemptId="attempt-1")

    assert bodies(retry) == ["two"], "a deleted message is a change, so the retry receives anew"


def test_fifo_receive_attempt_after_visibility_change(sqs, fifo_url):
    send(sqs, fifo_url, "one")
    [first] = receive(sqs, fifo_url, ReceiveRequestAttemptId="attempt-1")
    sqs.change_message_visibility(QueueUrl=fifo_url, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=0)

    [retry] = receive(sqs, fifo_url, ReceiveRequestAttemptId="attempt-1", MessageSystemAttributeNames=["All"])

    assert retry["ReceiptHandle"] != first["ReceiptHandle"]
    assert retry["Attributes"]["ApproximateReceiveCount"] == "2"


def test_fifo_receive_attempt_inside_window(sqs, fifo_url, advance):
    send(sqs, fifo_url, "one")
    first = receive(sqs, fifo_url, VisibilityTimeout=900, ReceiveRequestAttemptId="attempt-1")
    advance(RECEIVE_ATTEMPT_WINDOW_SECONDS - 1)

    retry = receive(sqs, fifo_url, VisibilityTimeout=900, ReceiveRequestAttemptId="attempt-1")

    assert receipt_handles(retry) == receipt_handles(first)


def test_fifo_receive_attempt_after_window(sqs, fifo_url, advance):
    send(sqs, fifo_url, "one")
    receive(sqs, fifo_url, VisibilityTimeout=900, ReceiveRequestAttemptId="attempt-1")
    advance(RECEIVE_ATTEMPT_WINDOW_SECONDS)

    retry = receive(sqs, fifo_url, VisibilityTimeout=900, ReceiveRequestAttemptId="attempt-1")

    assert retry == [], "after 5 minutes the id starts a new receive, and the group is still locked"


@pytest.mark.parametrize("attempt_id", ["", "has space", "x" * 129])
def test_fifo_receive_attempt_invalid_id(sqs, fifo_url, attempt_id):
    with pytest.raises(ClientError) as raised:
        sqs.receive_message(QueueUrl=fifo_url, ReceiveRequestAttemptId=attempt_id)

    assert error_code(raised.value) == "InvalidParameterValue"


# Long polls


def test_fifo_long_poll_wakes_on_send(sqs, fifo_url):
    poll = start_poll(sqs, fifo_url, WaitTimeSeconds=20)
    assert poll.waiting

    send(sqs, fifo_url, "hello")

    assert bodies(poll.messages()) == ["hello"]


def test_fifo_long_poll_waits_for_locked_group(sqs, fifo_url, advance):
    for body in ("a1", "a2"):
        send(sqs, fifo_url, body)
    receive(sqs, fifo_url, VisibilityTimeout=10)

    poll = start_poll(sqs, fifo_url, WaitTimeSeconds=20, MaxNumberOfMessages=10)
    assert poll.waiting, "the group is locked while a1 is in flight"
    advance(10)

    assert bodies(poll.messages()) == ["a1", "a2"]


def test_fifo_long_poll_wakes_on_delete(sqs, fifo_url, advance):
    for body in ("a1", "a2"):
        send(sqs, fifo_url, body)
    [first] = receive(sqs, fifo_url, VisibilityTimeout=30)
    poll = start_poll(sqs, fifo_url, WaitTimeSeconds=20)

    sqs.delete_message(QueueUrl=fifo_url, ReceiptHandle=first["ReceiptHandle"])
    try:
        messages = poll.messages(timeout=STUCK_POLL_SECONDS)
    finally:
        advance(20)  # Ends a poll that is still waiting.

    assert bodies(messages) == ["a2"]


def test_fifo_long_poll_with_attempt_id(sqs, fifo_url, advance):
    poll = start_poll(sqs, fifo_url, WaitTimeSeconds=20, ReceiveRequestAttemptId="attempt-1")

    send(sqs, fifo_url, "hello")
    try:
        messages = poll.messages(timeout=STUCK_POLL_SECONDS)
    finally:
        advance(20)  # Ends a poll that is still waiting.

    assert bodies(messages) == ["hello"]
