"""Dead-letter queues through boto3: redrive, redrive policies and message move tasks.

A message moves to the dead-letter queue on the first receive after it was
delivered maxReceiveCount times. Receives with VisibilityTimeout=0 deliver a
message again at once, so the tests count deliveries without moving the clock.
"""

import json
import time

import pytest
from botocore.exceptions import ClientError

from sqs_errors import error_code, http_status
from sqs_redrive import (
    TASK_POLL_SECONDS,
    TASK_TIMEOUT_SECONDS,
    drain_to_dead_letter_queue,
    latest_task,
    queue_arn,
    queue_depth,
    redrive_policy,
    wait_for_moved,
    wait_for_status,
)

# Real time during which a rate-limited task must not move more messages
# while the manual clock does not move.
STANDSTILL_SECONDS = 0.3


def create_queue(sqs, name: str, **attributes) -> str:
    return sqs.create_queue(QueueName=name, Attributes={key: str(value) for key, value in attributes.items()})[
        "QueueUrl"
    ]


def create_fifo_queue(sqs, name: str, **attributes) -> str:
    return create_queue(sqs, name, FifoQueue="true", ContentBasedDeduplication="true", **attributes)


def receive(sqs, queue_url: str, **params) -> list[dict]:
    return sqs.receive_message(QueueUrl=queue_url, **params).get("Messages", [])


def deliveries_until_moved(sqs, queue_url: str) -> int:
    """Receive one message with a zero visibility timeout until it is gone, and count the deliveries."""
    deliveries = 0
    while receive(sqs, queue_url, VisibilityTimeout=0):
        deliveries += 1
        assert deliveries <= 1001, "the message was never moved to the dead-letter queue"
    return deliveries


def set_redrive_policy(sqs, queue_url: str, policy: str) -> None:
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"RedrivePolicy": policy})


def stored_attribute(sqs, queue_url: str, name: str) -> str | None:
    return sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=[name]).get("Attributes", {}).get(name)


def fill_dead_letter_queue(sqs, per_source: int) -> dict[str, list[str]]:
    """Fill queue `dlq` with messages from sources `a` and `b` (maxReceiveCount 1).

    Returns the MessageIds sent to each source.
    """
    create_queue(sqs, "dlq")
    sent = {}
    for name in ("a", "b"):
        url = create_queue(sqs, name, RedrivePolicy=redrive_policy("dlq", 1))
        sent[name] = [
            sqs.send_message(QueueUrl=url, MessageBody=f"{name}-{index}")["MessageId"] for index in range(per_source)
        ]
        drain_to_dead_letter_queue(sqs, url)
    assert queue_depth(sqs, sqs.get_queue_url(QueueName="dlq")["QueueUrl"]) == (2 * per_source, 0)
    return sent


def wait_until_no_task_runs(sqs, source_arn: str) -> None:
    deadline = time.monotonic() + TASK_TIMEOUT_SECONDS
    while True:
        tasks = sqs.list_message_move_tasks(SourceArn=source_arn, MaxResults=10)["Results"]
        if all(task["Status"] != "RUNNING" for task in tasks):
            return
        assert time.monotonic() < deadline, f"a move task of {source_arn} is still running: {tasks}"
        time.sleep(TASK_POLL_SECONDS)


# Redrive on receive


@pytest.mark.parametrize("max_receive_count", [1, 3, 1000])
def test_redrive_after_max_receive_count(sqs, max_receive_count):
    dlq = create_queue(sqs, "dlq")
    source = create_queue(sqs, "source", RedrivePolicy=redrive_policy("dlq", max_receive_count))
    sqs.send_message(QueueUrl=source, MessageBody="poison")

    deliveries = deliveries_until_moved(sqs, source)

    assert deliveries == max_receive_count
    assert queue_depth(sqs, dlq) == (1, 0)
    assert queue_depth(sqs, source) == (0, 0)


def test_redrive_happens_on_next_receive(sqs, advance):
    dlq = create_queue(sqs, "dlq")
    source = create_queue(sqs, "source", RedrivePolicy=redrive_policy("dlq", 1))
    sqs.send_message(QueueUrl=source, MessageBody="poison")
    receive(sqs, source, VisibilityTimeout=30)
    advance(30)

    depth_before = (queue_depth(sqs, source), queue_depth(sqs, dlq))
    returned = receive(sqs, source)

    assert depth_before == ((1, 0), (0, 0)), "the exhausted message waits in the source until a receive"
    assert returned == []
    assert queue_depth(sqs, source) == (0, 0)
    assert queue_depth(sqs, dlq) == (1, 0)


def test_redrive_returns_other_messages(sqs):
    dlq = create_queue(sqs, "dlq")
    source = create_queue(sqs, "source", RedrivePolicy=redrive_policy("dlq", 1))
    sqs.send_message(QueueUrl=source, MessageBody="poison")
    receive(sqs, source, VisibilityTimeout=0)
    sqs.send_message(QueueUrl=source, MessageBody="good")

    returned = receive(sqs, source, MaxNumberOfMessages=10)

    assert [message["Body"] for message in returned] == ["good"]
    assert [message["Body"] for message in receive(sqs, dlq)] == ["poison"]


def test_redrive_keeps_message_identity(sqs, advance):
    dlq = create_queue(sqs, "orders-dlq")
    source = create_queue(sqs, "orders", RedrivePolicy=redrive_policy("orders-dlq", 2))
    attributes = {"kind": {"DataType": "String", "StringValue": "order"}}
    sent = sqs.send_message(QueueUrl=source, MessageBody="poison", MessageAttributes=attributes)
    first = receive(sqs, source, VisibilityTimeout=30, MessageSystemAttributeNames=["SentTimestamp"])[0]
    advance(30)
    receive(sqs, source, VisibilityTimeout=30)
    advance(30)
    assert receive(sqs, source) == [], "the third receive moves the message"

    moved = receive(sqs, dlq, MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"])

    assert len(moved) == 1
    message = moved[0]
    assert message["MessageId"] == sent["MessageId"]
    assert message["Body"] == "poison"
    assert message["MD5OfBody"] == sent["MD5OfMessageBody"]
    assert message["MessageAttributes"] == attributes
    assert message["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert message["Attributes"]["SentTimestamp"] == first["Attributes"]["SentTimestamp"]
    assert message["Attributes"]["DeadLetterQueueSourceArn"] == queue_arn("orders")


def test_redrive_source_arn_only_in_dead_letter_queue(sqs):
    create_queue(sqs, "dlq")
    source = create_queue(sqs, "source", RedrivePolicy=redrive_policy("dlq", 5))
    sqs.send_message(QueueUrl=source, MessageBody="hello")

    [message] = receive(sqs, source, MessageSystemAttributeNames=["All"])

    assert "DeadLetterQueueSourceArn" not in message["Attributes"]


def test_redrive_fifo_keeps_order(sqs):
    dlq = create_fifo_queue(sqs, "jobs-dlq.fifo")
    source = create_fifo_queue(sqs, "jobs.fifo", RedrivePolicy=redrive_policy("jobs-dlq.fifo", 2))
    for body in ("first", "second", "third"):
        sqs.send_message(QueueUrl=source, MessageBody=body, MessageGroupId="g")

    bodies = []
    for _ in range(7):
        bodies += [message["Body"] for message in receive(sqs, source, VisibilityTimeout=0)]

    assert bodies == ["first", "first", "second", "second", "third", "third"]
    moved = receive(sqs, dlq, MaxNumberOfMessages=10, MessageSystemAttributeNames=["MessageGroupId"])
    assert [message["Body"] for message in moved] == ["first", "second", "third"]
    assert {message["Attributes"]["MessageGroupId"] for message in moved} == {"g"}


def test_redrive_standard_keeps_enqueue_time(sqs, advance):
    # SQS counts the retention period of a standard queue's message from its
    # first enqueue, also in the dead-letter queue.
    dlq = create_queue(sqs, "dlq", MessageRetentionPeriod=60)
    source = create_queue(sqs, "source", RedrivePolicy=redrive_policy("dlq", 1))
    sqs.send_message(QueueUrl=source, MessageBody="poison")
    receive(sqs, source, VisibilityTimeout=0)
    advance(50)
    receive(sqs, source)
    assert queue_depth(sqs, dlq) == (1, 0)

    advance(10)

    assert queue_depth(sqs, dlq) == (0, 0), "60 seconds after the send the message has expired"


def test_redrive_fifo_restarts_enqueue_time(sqs, advance):
    # SQS restarts the retention period of a FIFO message when it moves to
    # the dead-letter queue.
    dlq = create_fifo_queue(sqs, "dlq.fifo", MessageRetentionPeriod=60)
    source = create_fifo_queue(sqs, "source.fifo", RedrivePolicy=redrive_policy("dlq.fifo", 1))
    sqs.send_message(QueueUrl=source, MessageBody="poison", MessageGroupId="g")
    receive(sqs, source, VisibilityTimeout=0)
    advance(50)
    receive(sqs, source)

    advance(59)
    depth_before_expiry = queue_depth(sqs, dlq)
    advance(1)

    assert depth_before_expiry == (1, 0), "the retention period restarted with the move"
    assert queue_depth(sqs, dlq) == (0, 0)


# RedrivePolicy


def test_redrive_policy_stored_canonically(sqs):
    create_queue(sqs, "dlq")
    source = create_queue(sqs, "source")
    policy_with_string_count = json.dumps({"maxReceiveCount": "7", "deadLetterTargetArn": queue_arn("dlq")})

    set_redrive_policy(sqs, source, policy_with_string_count)

    stored = json.loads(stored_attribute(sqs, source, "RedrivePolicy"))
    assert stored == {"deadLetterTargetArn": queue_arn("dlq"), "maxReceiveCount": 7}


def test_redrive_policy_on_create(sqs):
    create_queue(sqs, "dlq")

    source = create_queue(sqs, "source", RedrivePolicy=redrive_policy("dlq", 4))

    stored = json.loads(stored_attribute(sqs, source, "RedrivePolicy"))
    assert stored == {"deadLetterTargetArn": queue_arn("dlq"), "maxReceiveCount": 4}


@pytest.mark.parametrize("max_receive_count", [1, 1000, "1000"])
def test_redrive_policy_count_bounds(sqs, max_receive_count):
    create_queue(sqs, "dlq")
    source = create_queue(sqs, "source")

    set_redrive_policy(sqs, source, redrive_policy("dlq", max_receive_count))

    assert json.loads(stored_attribute(sqs, source, "RedrivePolicy"))["maxReceiveCount"] == int(max_receive_count)


def test_redrive_policy_removed_by_empty_value(sqs):
    create_queue(sqs, "dlq")
    source = create_queue(sqs, "source", RedrivePolicy=redrive_policy("dlq", 3))

    set_redrive_policy(sqs, source, "")

    assert stored_attribute(sqs, source, "RedrivePolicy") is None


@pytest.mark.parametrize(
    "policy",
    [
        "{not json",
        "[]",
        json.dumps({"maxReceiveCount": 3}),
        json.dumps({"deadLetterTargetArn": queue_arn("dlq")}),
        json.dumps({"deadLetterTargetArn": queue_arn("dlq"), "maxReceiveCount": 0}),
        json.dumps({"deadLetterTargetArn": queue_arn("dlq"), "maxReceiveCount": 1001}),
        json.dumps({"deadLetterTargetArn": queue_arn("dlq"), "maxReceiveCount": "three"}),
        redrive_policy("missing", 3),
        redrive_policy("source", 3),
        json.dumps({"deadLetterTargetArn": queue_arn("dlq", region="eu-west-1"), "maxReceiveCount": 3}),
        json.dumps({"deadLetterTargetArn": queue_arn("dlq", account="111122223333"), "maxReceiveCount": 3}),
        json.dumps({"deadLetterTargetArn": "not-an-arn", "maxReceiveCount": 3}),
    ],
    ids=[
        "not-json",
        "not-an-object",
        "missing-target",
        "missing-count",
        "count-0",
        "count-1001",
        "count-not-a-number",
        "unknown-target",
        "self",
        "other-region",
        "other-account",
        "target-not-an-arn",
    ],
)
def test_redrive_policy_invalid(sqs, policy):
    create_queue(sqs, "dlq")
    source = create_queue(sqs, "source")

    with pytest.raises(ClientError) as raised:
        set_redrive_policy(sqs, source, policy)

    assert error_code(raised.value) == "InvalidParameterValue"
    assert http_status(raised.value) == 400
    assert stored_attribute(sqs, source, "RedrivePolicy") is None


def test_redrive_policy_invalid_on_create(sqs):
    with pytest.raises(ClientError) as raised:
        create_queue(sqs, "source", RedrivePolicy=redrive_policy("missing", 3))

    assert error_code(raised.value) == "InvalidParameterValue"
    assert sqs.list_queues().get("QueueUrls", []) == []


@pytest.mark.parametrize(
    "source_name, target_name",
    [("source", "dlq.fifo"), ("source.fifo", "dlq")],
    ids=["standard-to-fifo", "fifo-to-standard"],
)
def test_redrive_policy_queue_type_mismatch(sqs, source_name, target_name):
    for name in (source_name, target_name):
        if name.endswith(".fifo"):
            create_fifo_queue(sqs, name)
        else:
            create_queue(sqs, name)
    source = sqs.get_queue_url(QueueName=source_name)["QueueUrl"]

    with pytest.raises(ClientError) as raised:
        set_redrive_policy(sqs, source, redrive_policy(target_name, 3))

    assert error_code(raised.value) == "InvalidParameterValue"


# RedriveAllowPolicy


@pytest.mark.parametrize(
    "allow, accepted",
    [
        ({"redrivePermission": "allowAll"}, True),
        ({"redrivePermission": "denyAll"}, False),
        ({"redrivePermission": "byQueue", "sourceQueueArns": [queue_arn("source")]}, True),
        ({"redrivePermission": "byQueue", "sourceQueueArns": [queue_arn("other")]}, False),
    ],
    ids=["allow-all", "deny-all", "by-queue-listed", "by-queue-not-listed"],
)
def test_redrive_allow_policy_decides(sqs, allow, accepted):
    create_queue(sqs, "dlq", RedriveAllowPolicy=json.dumps(allow))
    source = create_queue(sqs, "source")

    if accepted:
        set_redrive_policy(sqs, source, redrive_policy("dlq", 3))
        assert stored_attribute(sqs, source, "RedrivePolicy") is not None
    else:
        with pytest.raises(ClientError) as raised:
            set_redrive_policy(sqs, source, redrive_policy("dlq", 3))
        assert error_code(raised.value) == "InvalidParameterValue"


def test_redrive_allow_policy_checked_on_create(sqs):
    create_queue(sqs, "dlq", RedriveAllowPolicy=json.dumps({"redrivePermission": "denyAll"}))

    with pytest.raises(ClientError) as raised:
        create_queue(sqs, "source", RedrivePolicy=redrive_policy("dlq", 3))

    assert error_code(raised.value) == "InvalidParameterValue"


def test_redrive_allow_policy_ten_sources(sqs):
    arns = [queue_arn(f"source-{index}") for index in range(10)]
    allow = {"redrivePermission": "byQueue", "sourceQueueArns": arns}

    url = create_queue(sqs, "dlq", RedriveAllowPolicy=json.dumps(allow))

    assert json.loads(stored_attribute(sqs, url, "RedriveAllowPolicy")) == allow


@pytest.mark.parametrize(
    "allow",
    [
        "{not json",
        "[]",
        json.dumps({}),
        json.dumps({"redrivePermission": "sometimes"}),
        json.dumps({"redrivePermission": "byQueue"}),
        json.dumps({"redrivePermission": "byQueue", "sourceQueueArns": []}),
        json.dumps({"redrivePermission": "byQueue", "sourceQueueArns": [queue_arn(f"q{i}") for i in range(11)]}),
        json.dumps({"redrivePermission": "byQueue", "sourceQueueArns": ["not-an-arn"]}),
    ],
    ids=[
        "not-json",
        "not-an-object",
        "missing-permission",
        "unknown-permission",
        "by-queue-without-sources",
        "by-queue-empty-sources",
        "by-queue-eleven-sources",
        "by-queue-not-an-arn",
    ],
)
def test_redrive_allow_policy_invalid(sqs, queue_url, allow):
    with pytest.raises(ClientError) as raised:
        sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"RedriveAllowPolicy": allow})

    assert error_code(raised.value) == "InvalidParameterValue"
    assert stored_attribute(sqs, queue_url, "RedriveAllowPolicy") is None


# ListDeadLetterSourceQueues


def test_list_dead_letter_source_queues_pages(sqs):
    dlq = create_queue(sqs, "dlq")
    sources = [create_queue(sqs, name, RedrivePolicy=redrive_policy("dlq", 3)) for name in ("a", "b", "c")]
    create_queue(sqs, "other-dlq")
    create_queue(sqs, "elsewhere", RedrivePolicy=redrive_policy("other-dlq", 3))

    first = sqs.list_dead_letter_source_queues(QueueUrl=dlq, MaxResults=2)
    second = sqs.list_dead_letter_source_queues(QueueUrl=dlq, MaxResults=2, NextToken=first["NextToken"])

    assert first["queueUrls"] == sources[:2]
    assert second["queueUrls"] == sources[2:]
    assert "NextToken" not in second


def test_list_dead_letter_source_queues_without_max_results(sqs):
    dlq = create_queue(sqs, "dlq")
    sources = [create_queue(sqs, f"source-{index}", RedrivePolicy=redrive_policy("dlq", 3)) for index in range(3)]

    response = sqs.list_dead_letter_source_queues(QueueUrl=dlq)

    assert response["queueUrls"] == sources
    assert "NextToken" not in response


# StartMessageMoveTask, ListMessageMoveTasks, CancelMessageMoveTask


def test_move_task_returns_messages_to_sources(sqs):
    sent = fill_dead_letter_queue(sqs, per_source=3)

    handle = sqs.start_message_move_task(SourceArn=queue_arn("dlq"))["TaskHandle"]
    task = wait_for_status(sqs, queue_arn("dlq"), "COMPLETED")

    assert handle
    assert task["ApproximateNumberOfMessagesMoved"] == 6
    assert task["ApproximateNumberOfMessagesToMove"] == 6
    assert "DestinationArn" not in task
    assert queue_depth(sqs, sqs.get_queue_url(QueueName="dlq")["QueueUrl"]) == (0, 0)
    for name in ("a", "b"):
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        messages = receive(sqs, url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"])
        assert sorted(message["MessageId"] for message in messages) == sorted(sent[name])
        for message in messages:
            assert message["Body"].startswith(f"{name}-")
            assert message["Attributes"]["ApproximateReceiveCount"] == "1", "the receive count starts over"
            assert "DeadLetterQueueSourceArn" not in message["Attributes"]


def test_move_task_fails_without_source_queue(sqs):
    fill_dead_letter_queue(sqs, per_source=2)
    sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName="a")["QueueUrl"])

    sqs.start_message_move_task(SourceArn=queue_arn("dlq"))
    task = wait_for_status(sqs, queue_arn("dlq"), "FAILED")

    assert queue_arn("a") in task["FailureReason"]
    assert "TaskHandle" not in task
    remaining = queue_depth(sqs, sqs.get_queue_url(QueueName="dlq")["QueueUrl"])[0]
    returned = queue_depth(sqs, sqs.get_queue_url(QueueName="b")["QueueUrl"])[0]
    assert remaining + returned == 4, "no message is lost"
    assert task["ApproximateNumberOfMessagesMoved"] == returned


def test_move_task_restarts_receive_count(sqs):
    fill_dead_letter_queue(sqs, per_source=2)
    sqs.start_message_move_task(SourceArn=queue_arn("dlq"))
    wait_for_status(sqs, queue_arn("dlq"), "COMPLETED")
    source = sqs.get_queue_url(QueueName="a")["QueueUrl"]

    deliveries = drain_to_dead_letter_queue(sqs, source)

    assert deliveries == 2, "each moved message gets maxReceiveCount (1) deliveries again"
    assert queue_depth(sqs, sqs.get_queue_url(QueueName="dlq")["QueueUrl"]) == (2, 0)


def test_move_task_to_destination(sqs):
    fill_dead_letter_queue(sqs, per_source=2)
    target = create_queue(sqs, "target")

    sqs.start_message_move_task(SourceArn=queue_arn("dlq"), DestinationArn=queue_arn("target"))
    task = wait_for_status(sqs, queue_arn("dlq"), "COMPLETED")

    assert task["DestinationArn"] == queue_arn("target")
    assert task["ApproximateNumberOfMessagesMoved"] == 4
    assert queue_depth(sqs, target) == (4, 0)
    for name in ("a", "b"):
        assert queue_depth(sqs, sqs.get_queue_url(QueueName=name)["QueueUrl"]) == (0, 0)


def test_move_task_rate_follows_server_clock(sqs, advance):
    fill_dead_letter_queue(sqs, per_source=6)
    target = create_queue(sqs, "target")

    sqs.start_message_move_task(
        SourceArn=queue_arn("dlq"), DestinationArn=queue_arn("target"), MaxNumberOfMessagesPerSecond=5
    )

    first_second = wait_for_moved(sqs, queue_arn("dlq"), 5)
    time.sleep(STANDSTILL_SECONDS)
    still = latest_task(sqs, queue_arn("dlq"))
    assert first_second["ApproximateNumberOfMessagesMoved"] == 5
    assert first_second["MaxNumberOfMessagesPerSecond"] == 5
    assert first_second["ApproximateNumberOfMessagesToMove"] == 12
    assert still["Status"] == "RUNNING"
    assert still["ApproximateNumberOfMessagesMoved"] == 5, "no more moves while the clock does not move"
    assert queue_depth(sqs, target) == (5, 0)

    advance(1)
    second_second = wait_for_moved(sqs, queue_arn("dlq"), 10)
    time.sleep(STANDSTILL_SECONDS)
    assert second_second["ApproximateNumberOfMessagesMoved"] == 10
    assert latest_task(sqs, queue_arn("dlq"))["ApproximateNumberOfMessagesMoved"] == 10

    advance(1)
    completed = wait_for_status(sqs, queue_arn("dlq"), "COMPLETED")
    assert completed["ApproximateNumberOfMessagesMoved"] == 12
    assert queue_depth(sqs, target) == (12, 0)


def test_move_task_one_running_per_source(sqs):
    fill_dead_letter_queue(sqs, per_source=2)
    sqs.start_message_move_task(SourceArn=queue_arn("dlq"), MaxNumberOfMessagesPerSecond=1)

    with pytest.raises(ClientError) as raised:
        sqs.start_message_move_task(SourceArn=queue_arn("dlq"))

    assert error_code(raised.value) == "InvalidParameterValue"
    assert http_status(raised.value) == 400


def test_move_task_cancel(sqs):
    fill_dead_letter_queue(sqs, per_source=3)
    handle = sqs.start_message_move_task(SourceArn=queue_arn("dlq"), MaxNumberOfMessagesPerSecond=2)["TaskHandle"]
    running = wait_for_moved(sqs, queue_arn("dlq"), 2)

    cancelled = sqs.cancel_message_move_task(TaskHandle=handle)
    task = wait_for_status(sqs, queue_arn("dlq"), "CANCELLED")

    assert running["Status"] == "RUNNING"
    assert running["TaskHandle"] == handle
    assert cancelled["ApproximateNumberOfMessagesMoved"] == 2
    assert task["ApproximateNumberOfMessagesMoved"] == 2
    assert "TaskHandle" not in task, "only a running task has a handle"
    assert queue_depth(sqs, sqs.get_queue_url(QueueName="dlq")["QueueUrl"]) == (4, 0)


def test_move_task_cancel_twice(sqs):
    fill_dead_letter_queue(sqs, per_source=2)
    handle = sqs.start_message_move_task(SourceArn=queue_arn("dlq"), MaxNumberOfMessagesPerSecond=1)["TaskHandle"]
    sqs.cancel_message_move_task(TaskHandle=handle)
    wait_for_status(sqs, queue_arn("dlq"), "CANCELLED")

    with pytest.raises(ClientError) as raised:
        sqs.cancel_message_move_task(TaskHandle=handle)

    assert error_code(raised.value) == "InvalidParameterValue"


def test_move_task_cancel_completed(sqs):
    fill_dead_letter_queue(sqs, per_source=1)
    handle = sqs.start_message_move_task(SourceArn=queue_arn("dlq"))["TaskHandle"]
    wait_for_status(sqs, queue_arn("dlq"), "COMPLETED")

    with pytest.raises(ClientError) as raised:
        sqs.cancel_message_move_task(TaskHandle=handle)

    assert error_code(raised.value) == "InvalidParameterValue"


def test_move_task_cancel_unknown_handle(sqs):
    with pytest.raises(ClientError) as raised:
        sqs.cancel_message_move_task(TaskHandle="not-a-task-handle")

    assert error_code(raised.value) == "ResourceNotFoundException"
    assert http_status(raised.value) == 404


def test_move_task_after_cancel_starts_again(sqs, advance):
    fill_dead_letter_queue(sqs, per_source=2)
    handle = sqs.start_message_move_task(SourceArn=queue_arn("dlq"), MaxNumberOfMessagesPerSecond=1)["TaskHandle"]
    wait_for_moved(sqs, queue_arn("dlq"), 1)
    sqs.cancel_message_move_task(TaskHandle=handle)
    wait_for_status(sqs, queue_arn("dlq"), "CANCELLED")
    # NOTE: the server lists tasks started in the same millisecond in random
    # order (see test_list_message_move_tasks_same_millisecond), so the new
    # task starts a second later to be listed first.
    advance(1)

    sqs.start_message_move_task(SourceArn=queue_arn("dlq"))
    task = wait_for_status(sqs, queue_arn("dlq"), "COMPLETED")

    assert task["ApproximateNumberOfMessagesToMove"] == 3
    assert task["ApproximateNumberOfMessagesMoved"] == 3


def test_list_message_move_tasks_newest_first(sqs, advance, clock_now_ms):
    fill_dead_letter_queue(sqs, per_source=2)
    create_queue(sqs, "target")
    started = []
    for destination in ("a", "b", "target"):
        started.append(clock_now_ms())
        sqs.start_message_move_task(SourceArn=queue_arn("dlq"), DestinationArn=queue_arn(destination))
        wait_for_status(sqs, queue_arn("dlq"), "COMPLETED")
        advance(1)

    default = sqs.list_message_move_tasks(SourceArn=queue_arn("dlq"))["Results"]
    everything = sqs.list_message_move_tasks(SourceArn=queue_arn("dlq"), MaxResults=10)["Results"]
    two = sqs.list_message_move_tasks(SourceArn=queue_arn("dlq"), MaxResults=2)["Results"]

    assert len(default) == 1, "MaxResults defaults to 1"
    assert [task["DestinationArn"] for task in everything] == [queue_arn("target"), queue_arn("b"), queue_arn("a")]
    assert [task["StartedTimestamp"] for task in everything] == started[::-1]
    assert [task["ApproximateNumberOfMessagesMoved"] for task in everything] == [0, 0, 4]
    assert {task["SourceArn"] for task in everything} == {queue_arn("dlq")}
    assert {task["Status"] for task in everything} == {"COMPLETED"}
    assert two == everything[:2]


def test_list_message_move_tasks_same_millisecond(sqs):
    # The clock does not move, so every task starts at the same instant. With
    # eight tasks a random order matches the start order once in 40,320 runs.
    create_queue(sqs, "dlq")
    create_queue(sqs, "source", RedrivePolicy=redrive_policy("dlq", 3))
    targets = [f"target-{index}" for index in range(8)]
    for target in targets:
        create_queue(sqs, target)
        sqs.start_message_move_task(SourceArn=queue_arn("dlq"), DestinationArn=queue_arn(target))
        wait_until_no_task_runs(sqs, queue_arn("dlq"))

    listed = sqs.list_message_move_tasks(SourceArn=queue_arn("dlq"), MaxResults=10)["Results"]

    assert [task["DestinationArn"] for task in listed] == [queue_arn(target) for target in reversed(targets)]


def test_list_message_move_tasks_none(sqs, queue_url):
    response = sqs.list_message_move_tasks(SourceArn=queue_arn("main"))

    assert response.get("Results", []) == []


@pytest.mark.parametrize("max_results", [0, 11])
def test_list_move_tasks_invalid_max_results(sqs, queue_url, max_results):
    with pytest.raises(ClientError) as raised:
        sqs.list_message_move_tasks(SourceArn=queue_arn("main"), MaxResults=max_results)

    assert error_code(raised.value) == "InvalidParameterValue"


def test_list_message_move_tasks_unknown_queue(sqs):
    with pytest.raises(ClientError) as raised:
        sqs.list_message_move_tasks(SourceArn=queue_arn("missing"))

    assert error_code(raised.value) == "ResourceNotFoundException"
    assert http_status(raised.value) == 404


def test_start_move_task_not_a_dead_letter_queue(sqs):
    create_queue(sqs, "plain")

    with pytest.raises(ClientError) as raised:
        sqs.start_message_move_task(SourceArn=queue_arn("plain"))

    assert error_code(raised.value) == "InvalidParameterValue"
    assert http_status(raised.value) == 400


@pytest.mark.parametrize(
    "params",
    [
        {"SourceArn": queue_arn("missing")},
        {"SourceArn": queue_arn("dlq"), "DestinationArn": queue_arn("missing")},
    ],
    ids=["source", "destination"],
)
def test_start_move_task_unknown_queue(sqs, params):
    fill_dead_letter_queue(sqs, per_source=1)

    with pytest.raises(ClientError) as raised:
        sqs.start_message_move_task(**params)

    assert error_code(raised.value) == "ResourceNotFoundException"
    assert http_status(raised.value) == 404
    assert sqs.list_message_move_tasks(SourceArn=queue_arn("dlq")).get("Results", []) == []


@pytest.mark.parametrize("rate", [0, 501])
def test_start_move_task_rate_out_of_range(sqs, rate):
    fill_dead_letter_queue(sqs, per_source=1)

    with pytest.raises(ClientError) as raised:
        sqs.start_message_move_task(SourceArn=queue_arn("dlq"), MaxNumberOfMessagesPerSecond=rate)

    assert error_code(raised.value) == "InvalidParameterValue"


@pytest.mark.parametrize("rate", [1, 500])
def test_start_move_task_rate_bounds(sqs, rate):
    fill_dead_letter_queue(sqs, per_source=1)

    sqs.start_message_move_task(SourceArn=queue_arn("dlq"), MaxNumberOfMessagesPerSecond=rate)
    task = wait_for_moved(sqs, queue_arn("dlq"), 1)

    assert task["MaxNumberOfMessagesPerSecond"] == rate
    assert task["ApproximateNumberOfMessagesMoved"] == min(rate, 2)


def test_move_task_fifo_queues(sqs):
    dlq = create_fifo_queue(sqs, "jobs-dlq.fifo")
    source = create_fifo_queue(sqs, "jobs.fifo", RedrivePolicy=redrive_policy("jobs-dlq.fifo", 1))
    for body in ("first", "second", "third"):
        sqs.send_message(QueueUrl=source, MessageBody=body, MessageGroupId="g")
    drain_to_dead_letter_queue(sqs, source)
    assert queue_depth(sqs, dlq) == (3, 0)

    sqs.start_message_move_task(SourceArn=queue_arn("jobs-dlq.fifo"))
    wait_for_status(sqs, queue_arn("jobs-dlq.fifo"), "COMPLETED")

    bodies = [message["Body"] for message in receive(sqs, source, MaxNumberOfMessages=10)]
    assert bodies == ["first", "second", "third"]


def test_start_move_task_destination_type_mismatch(sqs):
    fill_dead_letter_queue(sqs, per_source=1)
    create_fifo_queue(sqs, "target.fifo")

    with pytest.raises(ClientError) as raised:
        sqs.start_message_move_task(SourceArn=queue_arn("dlq"), DestinationArn=queue_arn("target.fifo"))

    assert error_code(raised.value) == "InvalidParameterValue"
