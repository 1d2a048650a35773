"""Helpers for dead-letter queues and message move tasks."""

from __future__ import annotations

import json
import time

from conftest import DEFAULT_ACCOUNT, REGION

# Real time that a move task gets to reach a state. A task without a rate
# limit moves everything at once, so this is only a bound on a slow machine.
TASK_TIMEOUT_SECONDS = 10.0
TASK_POLL_SECONDS = 0.01


def queue_arn(name: str, account: str = DEFAULT_ACCOUNT, region: str = REGION) -> str:
    return f"arn:aws:sqs:{region}:{account}:{name}"


def redrive_policy(target: str, max_receive_count) -> str:
    """Return a RedrivePolicy value that names the queue `target` in the default account."""
    return json.dumps({"deadLetterTargetArn": queue_arn(target), "maxReceiveCount": max_receive_count})


def queue_depth(sqs, queue_url: str) -> tuple[int, int]:
    """Return (ApproximateNumberOfMessages, ApproximateNumberOfMessagesNotVisible)."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]
    return int(attributes[names[0]]), int(attributes[names[1]])


def drain_to_dead_letter_queue(sqs, queue_url: str, max_deliveries: int = 1001) -> int:
    """Receive with a zero visibility timeout until the queue returns nothing.

    Every message in the queue must have a redrive policy that ends its
    deliveries. Returns the number of messages delivered, counting each
    delivery of the same message.
    """
    deliveries = 0
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0).get(
            "Messages", []
        )
        if not messages:
            return deliveries
        deliveries += len(messages)
        assert deliveries <= max_deliveries, f"messages still delivered after {deliveries} deliveries"


def latest_task(sqs, source_arn: str) -> dict:
    results = sqs.list_message_move_tasks(SourceArn=source_arn).get("Results", [])
    assert results, f"no message move task for {source_arn}"
    return results[0]


def wait_for_task(sqs, source_arn: str, condition, description: str) -> dict:
    """Poll the newest move task of `source_arn` until `condition(task)` holds, and return it.

    Fails the test after TASK_TIMEOUT_SECONDS of real time, showing the last
    state seen.
    """
    deadline = time.monotonic() + TASK_TIMEOUT_SECONDS
    while True:
        task = latest_task(sqs, source_arn)
        if condition(task):
            return task
        if time.monotonic() > deadline:
            raise AssertionError(f"move task of {source_arn} never {description}; last state: {task}")
        time.sleep(TASK_POLL_SECONDS)


def wait_for_status(sqs, source_arn: str, status: str) -> dict:
    return wait_for_task(sqs, source_arn, lambda task: task["Status"] == status, f"reached {status}")


def wait_for_moved(sqs, source_arn: str, moved: int) -> dict:
    return wait_for_task(
        sqs,
        source_arn,
        lambda task: task["ApproximateNumberOfMessagesMoved"] >= moved,
        f"moved {moved} messages",
    )
