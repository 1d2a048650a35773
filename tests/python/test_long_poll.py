"""Long polling: ReceiveMessage with a wait time on the manual server clock.

A poll runs in a thread. The wait time passes only when a test advances the
clock, so a poll that is still running after a short real pause is waiting on
the server, and it must return as soon as a message becomes receivable.
"""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from sqs_errors import error_code
from sqs_polls import POLL_START_SECONDS, Poll, start_poll


def test_long_poll_wakes_on_send(sqs, queue_url):
    poll = start_poll(sqs, queue_url, WaitTimeSeconds=20)
    assert poll.waiting

    sent = sqs.send_message(QueueUrl=queue_url, MessageBody="hello")

    assert [message["MessageId"] for message in poll.messages()] == [sent["MessageId"]]


def test_long_poll_returns_available_message_at_once(sqs, queue_url):
    sqs.send_message(QueueUrl=queue_url, MessageBody="hello")

    poll = Poll(sqs, queue_url, WaitTimeSeconds=20)

    assert [message["Body"] for message in poll.messages()] == ["hello"]


def test_long_poll_wakes_when_delay_ends(sqs, queue_url, advance):
    sqs.send_message(QueueUrl=queue_url, MessageBody="later", DelaySeconds=10)
    poll = start_poll(sqs, queue_url, WaitTimeSeconds=20)
    advance(9)
    time.sleep(POLL_START_SECONDS)

    assert poll.waiting

    advance(1)
    assert [message["Body"] for message in poll.messages()] == ["later"]


def test_long_poll_wakes_when_visibility_ends(sqs, queue_url, advance):
    sent = sqs.send_message(QueueUrl=queue_url, MessageBody="hello")
    sqs.receive_message(QueueUrl=queue_url)
    poll = start_poll(sqs, queue_url, WaitTimeSeconds=20)
    assert poll.waiting

    advance(30)

    assert [message["MessageId"] for message in poll.messages()] == [sent["MessageId"]]


def test_long_poll_wakes_on_visibility_zero(sqs, queue_url):
    sent = sqs.send_message(QueueUrl=queue_url, MessageBody="hello")
    handle = sqs.receive_message(QueueUrl=queue_url)["Messages"][0]["ReceiptHandle"]
    poll = start_poll(sqs, queue_url, WaitTimeSeconds=20)
    assert poll.waiting

    sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=handle, VisibilityTimeout=0)

    assert [message["MessageId"] for message in poll.messages()] == [sent["MessageId"]]


def test_concurrent_pollers_get_distinct_messages(sqs, queue_url):
    polls = [Poll(sqs, queue_url, WaitTimeSeconds=20, MaxNumberOfMessages=1) for _ in range(3)]
    time.sleep(POLL_START_SECONDS)
    assert all(poll.waiting for poll in polls)

    sent = {sqs.send_message(QueueUrl=queue_url, MessageBody=f"m{index}")["MessageId"] for index in range(3)}

    received = [message["MessageId"] for poll in polls for message in poll.messages()]
    assert len(received) == 3
    assert set(received) == sent


def test_long_poll_wait_time_expires_by_clock(sqs, queue_url, advance):
    poll = start_poll(sqs, queue_url, WaitTimeSeconds=5)
    advance(4)
    time.sleep(POLL_START_SECONDS)

    assert poll.waiting

    advance(1)
    assert poll.messages() == []


def test_long_poll_ignores_real_time(sqs, queue_url, advance):
    poll = start_poll(sqs, queue_url, WaitTimeSeconds=1)
    time.sleep(1.2)

    assert poll.waiting

    advance(1)
    assert poll.messages() == []


def test_queue_wait_time_attribute_used(sqs):
    url = sqs.create_queue(QueueName="polled", Attributes={"ReceiveMessageWaitTimeSeconds": "20"})["QueueUrl"]
    poll = start_poll(sqs, url)
    assert poll.waiting

    sqs.send_message(QueueUrl=url, MessageBody="hello")

    assert [message["Body"] for message in poll.messages()] == ["hello"]


def test_wait_time_zero_overrides_queue_attribute(sqs):
    url = sqs.create_queue(QueueName="polled", Attributes={"ReceiveMessageWaitTimeSeconds": "20"})["QueueUrl"]

    poll = Poll(sqs, url, WaitTimeSeconds=0)

    assert poll.messages() == []


@pytest.mark.parametrize("wait", [-1, 21])
def test_wait_time_out_of_range(sqs, queue_url, wait):
    with pytest.raises(ClientError) as raised:
        sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=wait)

    assert error_code(raised.value) == "InvalidParameterValue"
