"""Durability of the embedded store: servers without --in-memory, stopped and restarted.

Each test starts its own server on its own data directory, so these tests do
not use the session server's state.
"""

from __future__ import annotations

import signal
import threading
import time

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from conftest import make_sqs_client
from postroom_server import postgres_url

SENDER_THREADS = 3
DELETER_THREADS = 2
# The load runs until this many sends are acknowledged or the time runs out.
LOAD_TARGET_SENDS = 1000
LOAD_MAX_SECONDS = 4.0
# More than the 12-hour visibility maximum, so every in-flight message is visible again.
PAST_ANY_VISIBILITY_SECONDS = 43_201


class LoadRecord:
    """Sends and deletes that received a success response, shared by the load threads.

    `delete_requested` also contains deletes that got no response. The server
    may have applied them before the kill, so their messages may be gone.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sent: dict[str, str] = {}
        self.delete_requested: set[str] = set()
        self.deleted: set[str] = set()
        self.errors: list[str] = []

    def add_sent(self, message_id: str, body: str) -> None:
        with self.lock:
            self.sent[message_id] = body

    def add_delete_requested(self, message_ids: list[str]) -> None:
        with self.lock:
            self.delete_requested.update(message_ids)

    def add_deleted(self, message_ids: list[str]) -> None:
        with self.lock:
            self.deleted.update(message_ids)

    def sent_count(self) -> int:
        with self.lock:
            return len(self.sent)


def run_sender(endpoint: str, queue_url: str, worker: int, record: LoadRecord, killing: threading.Event) -> None:
    """Alternate SendMessage and SendMessageBatch until the server is killed."""
    sqs = make_sqs_client(endpoint, read_timeout=5)
    sequence = 0
    try:
        while not killing.is_set():
            if sequence % 2 == 0:
                body = f"sender {worker} message {sequence}"
                response = sqs.send_message(QueueUrl=queue_url, MessageBody=body)
                record.add_sent(response["MessageId"], body)
                sequence += 1
            else:
                bodies = {f"e{index}": f"sender {worker} message {sequence + index}" for index in range(5)}
                entries = [{"Id": entry_id, "MessageBody": body} for entry_id, body in bodies.items()]
                response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
                for entry in response.get("Successful", []):
                    record.add_sent(entry["MessageId"], bodies[entry["Id"]])
                sequence += len(bodies)
    except (BotoCoreError, ClientError) as error:
        # Errors after the kill are expected: those requests got no success response.
        if not killing.is_set():
            record.errors.append(f"sender {worker}: {error}")


def run_deleter(endpoint: str, queue_url: str, worker: int, record: LoadRecord, killing: threading.Event) -> None:
    """Receive messages and delete every other one, until the server is killed.

    The messages left undeleted stay in flight for 600 s, so the restarted
    server must also bring back messages that were received but not deleted.
    Small receives are deleted one by one, larger ones with DeleteMessageBatch.
    """
    sqs = make_sqs_client(endpoint, read_timeout=5)
    try:
        while not killing.is_set():
            received = sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=600
            ).get("Messages", [])
            to_delete = received[::2]
            record.add_delete_requested([message["MessageId"] for message in to_delete])
            if len(to_delete) < 3:
                for message in to_delete:
                    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                    record.add_deleted([message["MessageId"]])
                continue
            entries = [
                {"Id": f"d{index}", "ReceiptHandle": message["ReceiptHandle"]} for index, message in enumerate(to_delete)
            ]
            response = sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)
            deleted = [to_delete[int(entry["Id"][1:])]["MessageId"] for entry in response.get("Successful", [])]
            record.add_deleted(deleted)
    except (BotoCoreError, ClientError) as error:
        # Errors after the kill are expected: those requests got no success response.
        if not killing.is_set():
            record.errors.append(f"deleter {worker}: {error}")


def drain(sqs, queue_url: str) -> list[dict]:
    """Receive every message once, hiding each for 12 hours, until the queue reports none."""
    drained: list[dict] = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=43_200
        ).get("Messages", [])
        drained.extend(messages)
        if messages:
            continue
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
        if attributes["Attributes"]["ApproximateNumberOfMessages"] == "0":
            return drained


def test_kill_under_load_keeps_acknowledged_state(durable_server):
    server = durable_server()
    sqs = make_sqs_client(server.endpoint)
    queue_url = sqs.create_queue(QueueName="durable")["QueueUrl"]
    record = LoadRecord()
    killing = threading.Event()
    threads = [
        threading.Thread(target=run_sender, args=(server.endpoint, queue_url, worker, record, killing), daemon=True)
        for worker in range(SENDER_THREADS)
    ] + [
        threading.Thread(target=run_deleter, args=(server.endpoint, queue_url, worker, record, killing), daemon=True)
        for worker in range(DELETER_THREADS)
    ]
    for thread in threads:
        thread.start()

    deadline = time.monotonic() + LOAD_MAX_SECONDS
    while record.sent_count() < LOAD_TARGET_SENDS and time.monotonic() < deadline:
        time.sleep(0.05)
    # Kill while requests are in flight, then let the threads fail and exit.
    killing.set()
    server.kill()
    for thread in threads:
        thread.join(timeout=15)

    restarted = durable_server()
    restarted.advance_clock(PAST_ANY_VISIBILITY_SECONDS)
    sqs = make_sqs_client(restarted.endpoint)
    drained = drain(sqs, sqs.get_queue_url(QueueName="durable")["QueueUrl"])

    drained_ids = [message["MessageId"] for message in drained]
    drained_bodies = {message["MessageId"]: message["Body"] for message in drained}
    expected_ids = set(record.sent) - record.delete_requested
    lost = expected_ids - set(drained_ids)
    resurrected = record.deleted & set(drained_ids)
    changed = [
        message_id
        for message_id in expected_ids & set(drained_ids)
        if drained_bodies[message_id] != record.sent[message_id]
    ]

    # Shown by pytest when an assert below fails.
    print(f"acknowledged {len(record.sent)} sends and {len(record.deleted)} deletes, drained {len(drained_ids)}")
    assert record.errors == [], "load threads failed before the kill"
    assert record.sent, "no send was acknowledged before the kill"
    assert record.deleted, "no delete was acknowledged before the kill"
    assert not any(thread.is_alive() for thread in threads), "load threads still running after the kill"
    assert len(drained_ids) == len(set(drained_ids)), "the drain received a message twice"
    assert lost == set(), f"{len(lost)} of {len(expected_ids)} acknowledged messages lost: {sorted(lost)[:5]}"
    assert resurrected == set(), f"{len(resurrected)} acknowledged deletes came back: {sorted(resurrected)[:5]}"
    assert changed == [], f"bodies changed for {changed[:5]}"


def test_sigterm_exits_zero_and_keeps_data(durable_server):
    server = durable_server()
    sqs = make_sqs_client(server.endpoint)
    queue_url = sqs.create_queue(
        QueueName="kept", Attributes={"VisibilityTimeout": "45"}, tags={"team": "billing"}
    )["QueueUrl"]
    attributes = {"kind": {"DataType": "String", "StringValue": "order"}}
    sent_ids = {
        sqs.send_message(QueueUrl=queue_url, MessageBody=f"message {index}", MessageAttributes=attributes)["MessageId"]
        for index in range(3)
    }

    exit_code = server.stop()

    assert exit_code == 0, f"postroom exited with {exit_code}; log:\n{server.log_tail()}"

    # The restarted server listens on another port, and queue URLs carry the Host header.
    restarted = durable_server()
    sqs = make_sqs_client(restarted.endpoint)
    queue_url = sqs.get_queue_url(QueueName="kept")["QueueUrl"]
    messages = sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", [])
    assert {message["MessageId"] for message in messages} == sent_ids
    assert all(message["MessageAttributes"] == attributes for message in messages)
    visibility = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["VisibilityTimeout"])
    assert visibility["Attributes"] == {"VisibilityTimeout": "45"}
    assert sqs.list_queue_tags(QueueUrl=queue_url)["Tags"] == {"team": "billing"}


def test_sigint_exits_zero_and_keeps_data(durable_server):
    server = durable_server()
    sqs = make_sqs_client(server.endpoint)
    queue_url = sqs.create_queue(QueueName="kept")["QueueUrl"]
    sent = sqs.send_message(QueueUrl=queue_url, MessageBody="hello")

    exit_code = server.stop(signal.SIGINT)

    assert exit_code == 0, f"postroom exited with {exit_code}; log:\n{server.log_tail()}"

    restarted = durable_server()
    sqs = make_sqs_client(restarted.endpoint)
    queue_url = sqs.get_queue_url(QueueName="kept")["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=queue_url).get("Messages", [])
    assert [message["MessageId"] for message in messages] == [sent["MessageId"]]


def test_deleted_queue_stays_deleted_after_kill(durable_server):
    server = durable_server()
    sqs = make_sqs_client(server.endpoint)
    deleted_url = sqs.create_queue(QueueName="deleted")["QueueUrl"]
    sqs.create_queue(QueueName="kept")
    sqs.delete_queue(QueueUrl=deleted_url)

    server.kill()

    restarted = durable_server()
    sqs = make_sqs_client(restarted.endpoint)
    names = [url.rsplit("/", 1)[1] for url in sqs.list_queues().get("QueueUrls", [])]
    assert names == ["kept"]


def test_durable_server_health(durable_server):
    server = durable_server()

    health = server.health()

    assert health["durable"] is True
    assert health["store"] == ("postgres" if postgres_url() else "embedded")
