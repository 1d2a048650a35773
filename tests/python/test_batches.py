"""SendMessageBatch, DeleteMessageBatch and ChangeMessageVisibilityBatch through boto3."""

import pytest
from botocore.exceptions import ClientError

from conftest import DEFAULT_ACCOUNT
from sqs_digests import md5_of_attributes, md5_of_body
from sqs_errors import error_code, http_status

BATCH_OPERATIONS = ["send_message_batch", "delete_message_batch", "change_message_visibility_batch"]


def entries_for(operation: str, ids: list[str]) -> list[dict]:
    """Build one well-formed entry per id for the batch operation.

    Delete and visibility entries carry forged receipt handles, so only the
    batch-level checks decide the outcome of a request that is invalid as a whole.
    """
    if operation == "send_message_batch":
        return [{"Id": entry_id, "MessageBody": f"body of {entry_id}"} for entry_id in ids]
    if operation == "delete_message_batch":
        return [{"Id": entry_id, "ReceiptHandle": f"forged-{index}"} for index, entry_id in enumerate(ids)]
    return [
        {"Id": entry_id, "ReceiptHandle": f"forged-{index}", "VisibilityTimeout": 0}
        for index, entry_id in enumerate(ids)
    ]


def call_batch(sqs, operation: str, queue_url: str, entries: list[dict]) -> dict:
    return getattr(sqs, operation)(QueueUrl=queue_url, Entries=entries)


def receive_all(sqs, queue_url: str, **params) -> list[dict]:
    return sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, **params).get("Messages", [])


def send_and_receive(sqs, queue_url: str, count: int) -> list[dict]:
    sqs.send_message_batch(
        QueueUrl=queue_url,
        Entries=[{"Id": f"m{index}", "MessageBody": f"message {index}"} for index in range(count)],
    )
    messages = receive_all(sqs, queue_url)
    assert len(messages) == count, f"expected {count} messages, received {len(messages)}"
    return messages


# Rules shared by the three batch operations


@pytest.mark.parametrize("operation", BATCH_OPERATIONS)
def test_batch_empty(sqs, queue_url, operation):
    with pytest.raises(sqs.exceptions.EmptyBatchRequest) as raised:
        call_batch(sqs, operation, queue_url, [])

    assert error_code(raised.value) == "AWS.SimpleQueueService.EmptyBatchRequest"
    assert http_status(raised.value) == 400


@pytest.mark.parametrize("operation", BATCH_OPERATIONS)
def test_batch_eleven_entries(sqs, queue_url, operation):
    entries = entries_for(operation, [f"e{index}" for index in range(11)])

    with pytest.raises(sqs.exceptions.TooManyEntriesInBatchRequest) as raised:
        call_batch(sqs, operation, queue_url, entries)

    assert error_code(raised.value) == "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"
    assert http_status(raised.value) == 400


@pytest.mark.parametrize("operation", BATCH_OPERATIONS)
@pytest.mark.parametrize(
    "entry_id", ["", "x" * 81, "has space", "dot.id", "star*"], ids=["empty", "81-chars", "space", "dot", "star"]
)
def test_batch_invalid_entry_id(sqs, queue_url, operation, entry_id):
    entries = entries_for(operation, ["valid", entry_id])

    with pytest.raises(sqs.exceptions.InvalidBatchEntryId) as raised:
        call_batch(sqs, operation, queue_url, entries)

    assert error_code(raised.value) == "AWS.SimpleQueueService.InvalidBatchEntryId"
    assert http_status(raised.value) == 400


@pytest.mark.parametrize("operation", BATCH_OPERATIONS)
def test_batch_ids_not_distinct(sqs, queue_url, operation):
    entries = entries_for(operation, ["same", "other", "same"])

    with pytest.raises(sqs.exceptions.BatchEntryIdsNotDistinct) as raised:
        call_batch(sqs, operation, queue_url, entries)

    assert error_code(raised.value) == "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"
    assert http_status(raised.value) == 400


@pytest.mark.parametrize("operation", BATCH_OPERATIONS)
def test_batch_missing_queue(sqs, endpoint, operation):
    entries = entries_for(operation, ["a"])

    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        call_batch(sqs, operation, f"{endpoint}/{DEFAULT_ACCOUNT}/missing", entries)


@pytest.mark.parametrize("operation", BATCH_OPERATIONS)
def test_batch_ids_case_sensitive(sqs, queue_url, operation):
    entries = entries_for(operation, ["id", "ID"])

    response = call_batch(sqs, operation, queue_url, entries)

    returned = [entry["Id"] for entry in response.get("Successful", []) + response.get("Failed", [])]
    assert sorted(returned) == ["ID", "id"]


# SendMessageBatch


def test_send_batch_all_successful(sqs, queue_url):
    entries = [{"Id": f"m{index}", "MessageBody": f"message {index}"} for index in range(10)]

    response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)

    assert sorted(entry["Id"] for entry in response["Successful"]) == sorted(entry["Id"] for entry in entries)
    assert response.get("Failed", []) == []


def test_send_batch_body_digests(sqs, queue_url):
    entries = [{"Id": "a", "MessageBody": "first"}, {"Id": "b", "MessageBody": "Zürich – 東京"}]

    response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)

    digests = {entry["Id"]: entry["MD5OfMessageBody"] for entry in response["Successful"]}
    assert digests == {"a": md5_of_body("first"), "b": md5_of_body("Zürich – 東京")}


def test_send_batch_attribute_digest(sqs, queue_url):
    attributes = {
        "kind": {"DataType": "String", "StringValue": "order"},
        "weight": {"DataType": "Number.float", "StringValue": "1.25"},
        "raw": {"DataType": "Binary", "BinaryValue": b"\x00\xff"},
    }

    response = sqs.send_message_batch(
        QueueUrl=queue_url, Entries=[{"Id": "a", "MessageBody": "hello", "MessageAttributes": attributes}]
    )

    assert response["Successful"][0]["MD5OfMessageAttributes"] == md5_of_attributes(attributes)


def test_send_batch_messages_receivable(sqs, queue_url):
    response = sqs.send_message_batch(
        QueueUrl=queue_url,
        Entries=[{"Id": f"m{index}", "MessageBody": f"message {index}"} for index in range(3)],
    )

    messages = receive_all(sqs, queue_url)

    assert sorted(message["MessageId"] for message in messages) == sorted(
        entry["MessageId"] for entry in response["Successful"]
    )


def test_send_batch_entry_delay(sqs, queue_url, advance):
    sqs.send_message_batch(
        QueueUrl=queue_url,
        Entries=[
            {"Id": "now", "MessageBody": "now"},
            {"Id": "later", "MessageBody": "later", "DelaySeconds": 30},
        ],
    )

    assert [message["Body"] for message in receive_all(sqs, queue_url, VisibilityTimeout=600)] == ["now"]

    advance(30)
    assert [message["Body"] for message in receive_all(sqs, queue_url)] == ["later"]


def test_send_batch_id_80_chars(sqs, queue_url):
    entry_id = "A-z_9" * 16

    response = sqs.send_message_batch(QueueUrl=queue_url, Entries=[{"Id": entry_id, "MessageBody": "hello"}])

    assert [entry["Id"] for entry in response["Successful"]] == [entry_id]


def test_send_batch_total_one_mib_accepted(sqs, queue_url):
    half = "a" * (512 * 1024)
    entries = [{"Id": "a", "MessageBody": half}, {"Id": "b", "MessageBody": half}]

    response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)

    assert len(response["Successful"]) == 2


def test_send_batch_too_long(sqs, queue_url):
    body = "a" * (600 * 1024)
    entries = [{"Id": "a", "MessageBody": body}, {"Id": "b", "MessageBody": body}]

    with pytest.raises(sqs.exceptions.BatchRequestTooLong) as raised:
        sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)

    assert error_code(raised.value) == "AWS.SimpleQueueService.BatchRequestTooLong"
    assert http_status(raised.value) == 400
    assert receive_all(sqs, queue_url) == []


def test_send_batch_too_long_counts_attributes(sqs, queue_url):
    # Entry a adds a 1-byte name, a 6-byte type and a 1-byte value to 512 KiB of body,
    # so the batch is 8 bytes over 1 MiB.
    half = "a" * (512 * 1024)
    attributes = {"n": {"DataType": "String", "StringValue": "x"}}
    entries = [
        {"Id": "a", "MessageBody": half, "MessageAttributes": attributes},
        {"Id": "b", "MessageBody": half},
    ]

    with pytest.raises(sqs.exceptions.BatchRequestTooLong):
        sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)


def test_send_batch_invalid_body_fails_entry(sqs, queue_url):
    entries = [
        {"Id": "good-1", "MessageBody": "fine"},
        {"Id": "bad", "MessageBody": "nul \x00 inside"},
        {"Id": "good-2", "MessageBody": "also fine"},
    ]

    response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)

    assert sorted(entry["Id"] for entry in response["Successful"]) == ["good-1", "good-2"]
    assert [entry["Id"] for entry in response["Failed"]] == ["bad"]
    assert response["Failed"][0]["SenderFault"] is True
    assert response["Failed"][0]["Code"] == "InvalidMessageContents"
    assert sorted(message["Body"] for message in receive_all(sqs, queue_url)) == ["also fine", "fine"]


def test_send_batch_oversized_entry_fails_entry(sqs):
    url = sqs.create_queue(QueueName="small", Attributes={"MaximumMessageSize": "1024"})["QueueUrl"]
    entries = [{"Id": "fits", "MessageBody": "a" * 1024}, {"Id": "too-big", "MessageBody": "a" * 1025}]

    response = sqs.send_message_batch(QueueUrl=url, Entries=entries)

    assert [entry["Id"] for entry in response["Successful"]] == ["fits"]
    assert [entry["Id"] for entry in response["Failed"]] == ["too-big"]
    assert response["Failed"][0]["SenderFault"] is True


# DeleteMessageBatch


def test_delete_batch_all_successful(sqs, queue_url, advance):
    messages = send_and_receive(sqs, queue_url, 3)
    entries = [{"Id": f"d{index}", "ReceiptHandle": message["ReceiptHandle"]} for index, message in enumerate(messages)]

    response = sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)
    advance(30)

    assert sorted(entry["Id"] for entry in response["Successful"]) == ["d0", "d1", "d2"]
    assert response.get("Failed", []) == []
    assert receive_all(sqs, queue_url) == []


def test_delete_batch_forged_handle_fails_entry(sqs, queue_url, advance):
    messages = send_and_receive(sqs, queue_url, 2)
    entries = [
        {"Id": "real", "ReceiptHandle": messages[0]["ReceiptHandle"]},
        {"Id": "forged", "ReceiptHandle": "forged-receipt-handle"},
    ]

    response = sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)
    advance(30)

    assert [entry["Id"] for entry in response["Successful"]] == ["real"]
    assert [entry["Id"] for entry in response["Failed"]] == ["forged"]
    assert response["Failed"][0]["Code"] == "ReceiptHandleIsInvalid"
    assert response["Failed"][0]["SenderFault"] is True
    assert [message["MessageId"] for message in receive_all(sqs, queue_url)] == [messages[1]["MessageId"]]


# ChangeMessageVisibilityBatch


def test_change_visibility_batch_all_successful(sqs, queue_url):
    messages = send_and_receive(sqs, queue_url, 2)
    entries = [
        {"Id": f"c{index}", "ReceiptHandle": message["ReceiptHandle"], "VisibilityTimeout": 0}
        for index, message in enumerate(messages)
    ]

    response = sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)

    assert sorted(entry["Id"] for entry in response["Successful"]) == ["c0", "c1"]
    assert response.get("Failed", []) == []
    assert len(receive_all(sqs, queue_url)) == 2


def test_change_visibility_batch_forged_handle(sqs, queue_url):
    messages = send_and_receive(sqs, queue_url, 1)
    entries = [
        {"Id": "real", "ReceiptHandle": messages[0]["ReceiptHandle"], "VisibilityTimeout": 0},
        {"Id": "forged", "ReceiptHandle": "forged-receipt-handle", "VisibilityTimeout": 0},
    ]

    response = sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)

    assert [entry["Id"] for entry in response["Successful"]] == ["real"]
    assert [entry["Id"] for entry in response["Failed"]] == ["forged"]
    assert response["Failed"][0]["Code"] == "ReceiptHandleIsInvalid"
    assert response["Failed"][0]["SenderFault"] is True
    assert len(receive_all(sqs, queue_url)) == 1


def test_change_visibility_batch_out_of_range(sqs, queue_url, advance):
    messages = send_and_receive(sqs, queue_url, 2)
    entries = [
        {"Id": "valid", "ReceiptHandle": messages[0]["ReceiptHandle"], "VisibilityTimeout": 100},
        {"Id": "too-long", "ReceiptHandle": messages[1]["ReceiptHandle"], "VisibilityTimeout": 43201},
    ]

    response = sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)
    advance(30)

    assert [entry["Id"] for entry in response["Successful"]] == ["valid"]
    assert [entry["Id"] for entry in response["Failed"]] == ["too-long"]
    assert response["Failed"][0]["SenderFault"] is True
    assert [message["MessageId"] for message in receive_all(sqs, queue_url)] == [messages[1]["MessageId"]]


def test_change_visibility_batch_not_in_flight(sqs, queue_url, advance):
    messages = send_and_receive(sqs, queue_url, 1)
    advance(30)
    entries = [{"Id": "expired", "ReceiptHandle": messages[0]["ReceiptHandle"], "VisibilityTimeout": 60}]

    response = sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)

    assert response["Failed"][0]["Code"].endswith("MessageNotInflight")
    assert response["Failed"][0]["SenderFault"] is True


def test_batch_entry_errors_do_not_raise(sqs, queue_url):
    entries = [{"Id": "forged", "ReceiptHandle": "forged-receipt-handle"}]

    try:
        response = sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)
    except ClientError as error:
        pytest.fail(f"a failed entry must be reported in Failed, not as an error: {error}")

    assert response.get("Successful", []) == []
