"""The SQS Query protocol: form posts with Action=... and XML responses."""

import base64

import pytest

from conftest import DEFAULT_ACCOUNT, QUERY_NAMESPACE, REGION
from sqs_digests import md5_of_attributes, md5_of_body
from sqs_redrive import drain_to_dead_letter_queue, queue_arn, redrive_policy, wait_for_moved, wait_for_status

QUEUE_PATH = f"/{DEFAULT_ACCOUNT}/main"
TRACE_HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


@pytest.fixture
def main_url(query) -> str:
    response = query("CreateQueue", QueueName="main")
    assert response.status_code == 200, response.text
    return response.text_of("CreateQueueResult/QueueUrl")


def send(query, url: str, body: str, **params) -> str:
    response = query("SendMessage", QueueUrl=url, MessageBody=body, **params)
    assert response.status_code == 200, response.text
    return response.text_of("SendMessageResult/MessageId")


def receive_messages(query, url: str, **params) -> list:
    response = query("ReceiveMessage", QueueUrl=url, **params)
    assert response.status_code == 200, response.text
    return response.root.findall("ReceiveMessageResult/Message")


def receipt_handles(query, url: str, count: int) -> list[str]:
    for index in range(count):
        send(query, url, f"message {index}")
    messages = receive_messages(query, url, MaxNumberOfMessages=10)
    assert len(messages) == count, f"expected {count} messages, received {len(messages)}"
    return [message.findtext("ReceiptHandle") for message in messages]


# Response and error shapes


def test_query_create_queue_xml_shape(query, endpoint):
    response = query("CreateQueue", QueueName="main")

    assert response.status_code == 200
    assert response.namespace == QUERY_NAMESPACE
    assert response.root.tag == "CreateQueueResponse"
    assert response.text_of("CreateQueueResult/QueueUrl") == f"{endpoint}{QUEUE_PATH}"
    assert response.text_of("ResponseMetadata/RequestId")
    assert response.headers["Content-Type"].startswith("text/xml")


def test_query_error_xml_shape(query):
    response = query("GetQueueUrl", QueueName="missing")

    assert response.status_code == 400
    assert response.root.tag == "ErrorResponse"
    assert response.error_type == "Sender"
    assert response.error_code == "AWS.SimpleQueueService.NonExistentQueue"
    assert response.error_message
    assert response.root.find("Error/Detail") is not None
    assert response.text_of("RequestId")


def test_query_error_queue_already_exists(query, main_url):
    response = query("CreateQueue", QueueName="main", **{"Attribute.1.Name": "DelaySeconds", "Attribute.1.Value": "5"})

    assert response.status_code == 400
    assert response.error_code == "QueueAlreadyExists"
    assert response.error_type == "Sender"


def test_query_error_invalid_action(query):
    response = query("FlyToTheMoon")

    assert response.status_code == 400
    assert response.error_code == "InvalidAction"


def test_query_error_missing_parameter(query, main_url):
    response = query("SendMessage", QueueUrl=main_url)

    assert response.status_code == 400
    assert response.error_code == "MissingParameter"


def test_query_error_receipt_handle_invalid(query, main_url):
    response = query("DeleteMessage", QueueUrl=main_url, ReceiptHandle="forged")

    assert response.status_code == 404
    assert response.error_code == "ReceiptHandleIsInvalid"
    assert response.error_type == "Sender"


def test_query_error_invalid_message_contents(query, main_url):
    response = query("SendMessage", QueueUrl=main_url, MessageBody="nul \x00 inside")

    assert response.status_code == 400
    assert response.error_code == "InvalidMessageContents"


def test_query_queue_url_uses_host_header(query):
    # The request still goes to 127.0.0.1. Only the Host header names another authority.
    response = query("CreateQueue", QueueName="main", headers={"Host": "sqs.example.test:9999"})

    assert response.text_of("CreateQueueResult/QueueUrl") == f"http://sqs.example.test:9999{QUEUE_PATH}"


# Queue operations


def test_query_create_queue_with_attributes(query):
    created = query(
        "CreateQueue",
        QueueName="main",
        **{
            "Attribute.1.Name": "VisibilityTimeout",
            "Attribute.1.Value": "45",
            "Attribute.2.Name": "DelaySeconds",
            "Attribute.2.Value": "5",
        },
    )
    url = created.text_of("CreateQueueResult/QueueUrl")

    response = query(
        "GetQueueAttributes",
        QueueUrl=url,
        **{"AttributeName.1": "VisibilityTimeout", "AttributeName.2": "DelaySeconds"},
    )

    assert response.attributes("GetQueueAttributesResult/Attribute") == {
        "VisibilityTimeout": "45",
        "DelaySeconds": "5",
    }


def test_query_get_queue_attributes_all(query, main_url):
    response = query("GetQueueAttributes", QueueUrl=main_url, **{"AttributeName.1": "All"})

    attributes = response.attributes("GetQueueAttributesResult/Attribute")
    assert attributes["QueueArn"] == f"arn:aws:sqs:{REGION}:{DEFAULT_ACCOUNT}:main"
    assert attributes["VisibilityTimeout"] == "30"


def test_query_set_queue_attributes(query, main_url):
    response = query(
        "SetQueueAttributes", QueueUrl=main_url, **{"Attribute.1.Name": "MaximumMessageSize", "Attribute.1.Value": "2048"}
    )
    attributes = query("GetQueueAttributes", QueueUrl=main_url, **{"AttributeName.1": "MaximumMessageSize"})

    assert response.status_code == 200
    assert response.root.tag == "SetQueueAttributesResponse"
    assert attributes.attributes("GetQueueAttributesResult/Attribute") == {"MaximumMessageSize": "2048"}


def test_query_set_queue_attributes_invalid_value(query, main_url):
    response = query(
        "SetQueueAttributes", QueueUrl=main_url, **{"Attribute.1.Name": "DelaySeconds", "Attribute.1.Value": "901"}
    )

    assert response.status_code == 400
    assert response.error_code == "InvalidAttributeValue"


def test_query_get_queue_url(query, main_url):
    response = query("GetQueueUrl", QueueName="main")

    assert response.text_of("GetQueueUrlResult/QueueUrl") == main_url


def test_query_list_queues(query, main_url):
    query("CreateQueue", QueueName="other")

    response = query("ListQueues", QueueNamePrefix="ma")

    assert response.all_text("ListQueuesResult/QueueUrl") == [main_url]


def test_query_list_queues_pagination(query):
    for index in range(3):
        query("CreateQueue", QueueName=f"queue-{index}")

    first = query("ListQueues", MaxResults="2")
    token = first.text_of("ListQueuesResult/NextToken")
    second = query("ListQueues", MaxResults="2", NextToken=token)

    assert len(first.all_text("ListQueuesResult/QueueUrl")) == 2
    assert token
    assert len(second.all_text("ListQueuesResult/QueueUrl")) == 1
    assert second.text_of("ListQueuesResult/NextToken") is None


def test_query_delete_queue(query, main_url):
    response = query("DeleteQueue", QueueUrl=main_url)

    assert response.status_code == 200
    assert response.root.tag == "DeleteQueueResponse"
    assert query("ListQueues").all_text("ListQueuesResult/QueueUrl") == []


def test_query_purge_queue(query, main_url):
    send(query, main_url, "hello")

    response = query("PurgeQueue", QueueUrl=main_url)

    assert response.status_code == 200
    assert receive_messages(query, main_url) == []


def test_query_purge_queue_in_progress(query, main_url):
    query("PurgeQueue", QueueUrl=main_url)

    response = query("PurgeQueue", QueueUrl=main_url)

    assert response.status_code == 403
    assert response.error_code == "AWS.SimpleQueueService.PurgeQueueInProgress"


def test_query_tags(query, main_url):
    query("TagQueue", QueueUrl=main_url, **{"Tag.1.Key": "team", "Tag.1.Value": "billing", "Tag.2.Key": "env", "Tag.2.Value": "test"})
    query("UntagQueue", QueueUrl=main_url, **{"TagKey.1": "env"})

    response = query("ListQueueTags", QueueUrl=main_url)

    tags = {tag.findtext("Key"): tag.findtext("Value") for tag in response.root.findall("ListQueueTagsResult/Tag")}
    assert tags == {"team": "billing"}


def test_query_create_queue_with_tags(query):
    created = query("CreateQueue", QueueName="main", **{"Tag.1.Key": "team", "Tag.1.Value": "billing"})
    url = created.text_of("CreateQueueResult/QueueUrl")

    response = query("ListQueueTags", QueueUrl=url)

    tags = {tag.findtext("Key"): tag.findtext("Value") for tag in response.root.findall("ListQueueTagsResult/Tag")}
    assert tags == {"team": "billing"}


def test_query_permissions(query, main_url):
    added = query(
        "AddPermission",
        QueueUrl=main_url,
        Label="partner-send",
        **{"AWSAccountId.1": "111122223333", "ActionName.1": "SendMessage"},
    )
    policy = query("GetQueueAttributes", QueueUrl=main_url, **{"AttributeName.1": "Policy"})
    removed = query("RemovePermission", QueueUrl=main_url, Label="partner-send")

    assert added.status_code == 200
    assert '"partner-send"' in policy.attributes("GetQueueAttributesResult/Attribute")["Policy"]
    assert removed.status_code == 200


def test_query_remove_permission_unknown_label(query, main_url):
    response = query("RemovePermission", QueueUrl=main_url, Label="missing")

    assert response.status_code == 400
    assert response.error_code == "InvalidParameterValue"


def test_query_list_dead_letter_source_queues(query, main_url):
    redrive = f'{{"deadLetterTargetArn":"arn:aws:sqs:{REGION}:{DEFAULT_ACCOUNT}:main","maxReceiveCount":"5"}}'
    created = query("CreateQueue", QueueName="source", **{"Attribute.1.Name": "RedrivePolicy", "Attribute.1.Value": redrive})

    response = query("ListDeadLetterSourceQueues", QueueUrl=main_url)

    assert response.all_text("ListDeadLetterSourceQueuesResult/QueueUrl") == [
        created.text_of("CreateQueueResult/QueueUrl")
    ]


# Message operations


def test_query_send_message_with_attributes(query, main_url):
    binary = bytes([0, 1, 2, 254, 255])
    response = query(
        "SendMessage",
        QueueUrl=main_url,
        MessageBody="hello",
        **{
            "MessageAttribute.1.Name": "customer",
            "MessageAttribute.1.Value.DataType": "String",
            "MessageAttribute.1.Value.StringValue": "ana",
            "MessageAttribute.2.Name": "price",
            "MessageAttribute.2.Value.DataType": "Number.float",
            "MessageAttribute.2.Value.StringValue": "12.50",
            "MessageAttribute.3.Name": "thumbnail",
            "MessageAttribute.3.Value.DataType": "Binary",
            "MessageAttribute.3.Value.BinaryValue": base64.b64encode(binary).decode(),
        },
    )

    expected = {
        "customer": {"DataType": "String", "StringValue": "ana"},
        "price": {"DataType": "Number.float", "StringValue": "12.50"},
        "thumbnail": {"DataType": "Binary", "BinaryValue": binary},
    }
    assert response.status_code == 200
    assert response.text_of("SendMessageResult/MessageId")
    assert response.text_of("SendMessageResult/MD5OfMessageBody") == md5_of_body("hello")
    assert response.text_of("SendMessageResult/MD5OfMessageAttributes") == md5_of_attributes(expected)


def test_query_send_message_system_attribute(query, main_url):
    response = query(
        "SendMessage",
        QueueUrl=main_url,
        MessageBody="hello",
        **{
            "MessageSystemAttribute.1.Name": "AWSTraceHeader",
            "MessageSystemAttribute.1.Value.DataType": "String",
            "MessageSystemAttribute.1.Value.StringValue": TRACE_HEADER,
        },
    )
    messages = receive_messages(query, main_url, **{"AttributeName.1": "AWSTraceHeader"})

    expected = {"AWSTraceHeader": {"DataType": "String", "StringValue": TRACE_HEADER}}
    assert response.text_of("SendMessageResult/MD5OfMessageSystemAttributes") == md5_of_attributes(expected)
    attributes = {node.findtext("Name"): node.findtext("Value") for node in messages[0].findall("Attribute")}
    assert attributes == {"AWSTraceHeader": TRACE_HEADER}


def test_query_receive_message_xml_shape(query, main_url):
    binary = bytes([7, 8, 9])
    message_id = send(
        query,
        main_url,
        "hello <xml> & co",
        **{
            "MessageAttribute.1.Name": "customer",
            "MessageAttribute.1.Value.DataType": "String",
            "MessageAttribute.1.Value.StringValue": "ana",
            "MessageAttribute.2.Name": "blob",
            "MessageAttribute.2.Value.DataType": "Binary",
            "MessageAttribute.2.Value.BinaryValue": base64.b64encode(binary).decode(),
        },
    )

    messages = receive_messages(query, main_url, **{"AttributeName.1": "All", "MessageAttributeName.1": "All"})

    assert len(messages) == 1
    message = messages[0]
    assert message.findtext("MessageId") == message_id
    assert message.findtext("ReceiptHandle")
    assert message.findtext("Body") == "hello <xml> & co"
    assert message.findtext("MD5OfBody") == md5_of_body("hello <xml> & co")
    system = {node.findtext("Name"): node.findtext("Value") for node in message.findall("Attribute")}
    assert system["ApproximateReceiveCount"] == "1"
    assert "SentTimestamp" in system
    user = {
        node.findtext("Name"): {child.tag: child.text for child in node.find("Value")}
        for node in message.findall("MessageAttribute")
    }
    assert user == {
        "customer": {"DataType": "String", "StringValue": "ana"},
        "blob": {"DataType": "Binary", "BinaryValue": base64.b64encode(binary).decode()},
    }
    assert message.findtext("MD5OfMessageAttributes") == md5_of_attributes(user)


def test_query_body_carriage_returns_round_trip(query, main_url):
    # A bare CR in XML text reads back as LF unless the server escapes it as a character reference.
    send(query, main_url, "line 1\r\nline 2\rline 3")

    messages = receive_messages(query, main_url)

    assert messages[0].findtext("Body") == "line 1\r\nline 2\rline 3"


def test_query_receive_message_system_attribute_name(query, main_url):
    send(query, main_url, "hello")

    messages = receive_messages(query, main_url, **{"MessageSystemAttributeName.1": "SentTimestamp"})

    names = [node.findtext("Name") for node in messages[0].findall("Attribute")]
    assert names == ["SentTimestamp"]


@pytest.mark.parametrize(
    "action, params",
    [
        ("ReceiveMessage", {"QueueUrl": None}),
        ("ListQueues", {"QueueNamePrefix": "nothing-matches"}),
        ("ListQueueTags", {"QueueUrl": None}),
        ("GetQueueAttributes", {"QueueUrl": None, "AttributeName.1": "Policy"}),
    ],
)
def test_query_empty_result_element(query, main_url, action, params):
    # SQS always sends the <ActionResult> element, empty when there is nothing to return.
    params = {key: main_url if key == "QueueUrl" else value for key, value in params.items()}

    response = query(action, **params)

    result = response.root.find(f"{action}Result")
    assert response.status_code == 200
    assert result is not None, f"no <{action}Result> in {response.text}"
    assert len(result) == 0


def test_query_delete_message(query, main_url):
    [handle] = receipt_handles(query, main_url, 1)

    response = query("DeleteMessage", QueueUrl=main_url, ReceiptHandle=handle)

    assert response.status_code == 200
    assert response.root.tag == "DeleteMessageResponse"
    assert response.text_of("ResponseMetadata/RequestId")


def test_query_change_message_visibility(query, main_url):
    [handle] = receipt_handles(query, main_url, 1)

    response = query("ChangeMessageVisibility", QueueUrl=main_url, ReceiptHandle=handle, VisibilityTimeout="0")

    assert response.status_code == 200
    assert response.root.tag == "ChangeMessageVisibilityResponse"
    assert len(receive_messages(query, main_url)) == 1


def test_query_send_message_batch(query, main_url):
    response = query(
        "SendMessageBatch",
        QueueUrl=main_url,
        **{
            "SendMessageBatchRequestEntry.1.Id": "first",
            "SendMessageBatchRequestEntry.1.MessageBody": "one",
            "SendMessageBatchRequestEntry.1.MessageAttribute.1.Name": "kind",
            "SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType": "String",
            "SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue": "order",
            "SendMessageBatchRequestEntry.2.Id": "second",
            "SendMessageBatchRequestEntry.2.MessageBody": "two",
            "SendMessageBatchRequestEntry.2.DelaySeconds": "0",
            "SendMessageBatchRequestEntry.3.Id": "bad",
            "SendMessageBatchRequestEntry.3.MessageBody": "nul \x00 inside",
        },
    )

    successful = {
        entry.findtext("Id"): entry for entry in response.root.findall("SendMessageBatchResult/SendMessageBatchResultEntry")
    }
    failed = response.root.findall("SendMessageBatchResult/BatchResultErrorEntry")
    assert response.status_code == 200
    assert sorted(successful) == ["first", "second"]
    assert successful["first"].findtext("MessageId")
    assert successful["first"].findtext("MD5OfMessageBody") == md5_of_body("one")
    assert successful["first"].findtext("MD5OfMessageAttributes") == md5_of_attributes(
        {"kind": {"DataType": "String", "StringValue": "order"}}
    )
    assert [entry.findtext("Id") for entry in failed] == ["bad"]
    assert failed[0].findtext("Code") == "InvalidMessageContents"
    assert failed[0].findtext("SenderFault") == "true"


def test_query_delete_message_batch(query, main_url):
    handles = receipt_handles(query, main_url, 2)

    response = query(
        "DeleteMessageBatch",
        QueueUrl=main_url,
        **{
            "DeleteMessageBatchRequestEntry.1.Id": "real",
            "DeleteMessageBatchRequestEntry.1.ReceiptHandle": handles[0],
            "DeleteMessageBatchRequestEntry.2.Id": "forged",
            "DeleteMessageBatchRequestEntry.2.ReceiptHandle": "forged-receipt-handle",
        },
    )

    successful = response.all_text("DeleteMessageBatchResult/DeleteMessageBatchResultEntry/Id")
    failed = response.root.findall("DeleteMessageBatchResult/BatchResultErrorEntry")
    assert successful == ["real"]
    assert [entry.findtext("Id") for entry in failed] == ["forged"]
    assert failed[0].findtext("Code") == "ReceiptHandleIsInvalid"
    assert failed[0].findtext("SenderFault") == "true"


def test_query_change_message_visibility_batch(query, main_url):
    handles = receipt_handles(query, main_url, 2)

    response = query(
        "ChangeMessageVisibilityBatch",
        QueueUrl=main_url,
        **{
            "ChangeMessageVisibilityBatchRequestEntry.1.Id": "a",
            "ChangeMessageVisibilityBatchRequestEntry.1.ReceiptHandle": handles[0],
            "ChangeMessageVisibilityBatchRequestEntry.1.VisibilityTimeout": "0",
            "ChangeMessageVisibilityBatchRequestEntry.2.Id": "b",
            "ChangeMessageVisibilityBatchRequestEntry.2.ReceiptHandle": handles[1],
            "ChangeMessageVisibilityBatchRequestEntry.2.VisibilityTimeout": "0",
        },
    )

    entries = response.all_text("ChangeMessageVisibilityBatchResult/ChangeMessageVisibilityBatchResultEntry/Id")
    assert sorted(entries) == ["a", "b"]
    assert len(receive_messages(query, main_url, MaxNumberOfMessages=10)) == 2


@pytest.mark.parametrize(
    "params, code",
    [
        ({}, "AWS.SimpleQueueService.EmptyBatchRequest"),
        (
            {
                f"SendMessageBatchRequestEntry.{index}.{field}": value
                for index in range(1, 12)
                for field, value in (("Id", f"e{index}"), ("MessageBody", "x"))
            },
            "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
        ),
        (
            {
                "SendMessageBatchRequestEntry.1.Id": "same",
                "SendMessageBatchRequestEntry.1.MessageBody": "x",
                "SendMessageBatchRequestEntry.2.Id": "same",
                "SendMessageBatchRequestEntry.2.MessageBody": "y",
            },
            "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
        ),
        (
            {"SendMessageBatchRequestEntry.1.Id": "not valid", "SendMessageBatchRequestEntry.1.MessageBody": "x"},
            "AWS.SimpleQueueService.InvalidBatchEntryId",
        ),
    ],
    ids=["empty", "eleven", "not-distinct", "invalid-id"],
)
def test_query_batch_error_codes(query, main_url, params, code):
    response = query("SendMessageBatch", QueueUrl=main_url, **params)

    assert response.status_code == 400
    assert response.error_code == code
    assert response.error_type == "Sender"


# Requests addressed to the queue URL path


def test_query_send_to_queue_path(query, main_url):
    response = query("SendMessage", path=QUEUE_PATH, MessageBody="by path")

    assert response.status_code == 200
    assert [message.findtext("Body") for message in receive_messages(query, main_url)] == ["by path"]


def test_query_receive_from_queue_path(query, main_url):
    send(query, main_url, "hello")

    response = query("ReceiveMessage", path=QUEUE_PATH)

    assert response.all_text("ReceiveMessageResult/Message/Body") == ["hello"]


def test_query_get_attributes_from_queue_path(query, main_url):
    response = query("GetQueueAttributes", path=QUEUE_PATH, **{"AttributeName.1": "QueueArn"})

    assert response.attributes("GetQueueAttributesResult/Attribute") == {
        "QueueArn": f"arn:aws:sqs:{REGION}:{DEFAULT_ACCOUNT}:main"
    }


def test_query_queue_path_missing_queue(query):
    response = query("SendMessage", path=f"/{DEFAULT_ACCOUNT}/missing", MessageBody="hello")

    assert response.status_code == 400
    assert response.error_code == "AWS.SimpleQueueService.NonExistentQueue"


# FIFO queues


def create_fifo_queue(query, name: str) -> str:
    response = query(
        "CreateQueue",
        QueueName=name,
        **{
            "Attribute.1.Name": "FifoQueue",
            "Attribute.1.Value": "true",
            "Attribute.2.Name": "ContentBasedDeduplication",
            "Attribute.2.Value": "true",
        },
    )
    assert response.status_code == 200, response.text
    return response.text_of("CreateQueueResult/QueueUrl")


def test_query_fifo_send_and_receive(query):
    url = create_fifo_queue(query, "orders.fifo")

    first = query("SendMessage", QueueUrl=url, MessageBody="one", MessageGroupId="customer-7")
    second = query(
        "SendMessage", QueueUrl=url, MessageBody="two", MessageGroupId="customer-7", MessageDeduplicationId="order-2"
    )
    messages = receive_messages(query, url, MaxNumberOfMessages=10, **{"AttributeName.1": "All"})

    sequence_numbers = [response.text_of("SendMessageResult/SequenceNumber") for response in (first, second)]
    assert all(number and number.isdigit() for number in sequence_numbers), first.text
    assert int(sequence_numbers[0]) < int(sequence_numbers[1])
    assert first.text_of("SendMessageResult/MD5OfMessageBody") == md5_of_body("one")
    assert [message.findtext("Body") for message in messages] == ["one", "two"]
    attributes = [
        {node.findtext("Name"): node.findtext("Value") for node in message.findall("Attribute")} for message in messages
    ]
    assert [attribute["SequenceNumber"] for attribute in attributes] == sequence_numbers
    assert [attribute["MessageGroupId"] for attribute in attributes] == ["customer-7", "customer-7"]
    assert attributes[1]["MessageDeduplicationId"] == "order-2"


def test_query_fifo_duplicate_send(query):
    url = create_fifo_queue(query, "orders.fifo")

    first = query("SendMessage", QueueUrl=url, MessageBody="same", MessageGroupId="g")
    repeat = query("SendMessage", QueueUrl=url, MessageBody="same", MessageGroupId="g")

    assert repeat.text_of("SendMessageResult/MessageId") == first.text_of("SendMessageResult/MessageId")
    assert repeat.text_of("SendMessageResult/SequenceNumber") == first.text_of("SendMessageResult/SequenceNumber")


def test_query_fifo_batch_sequence_numbers(query):
    url = create_fifo_queue(query, "orders.fifo")

    response = query(
        "SendMessageBatch",
        QueueUrl=url,
        **{
            "SendMessageBatchRequestEntry.1.Id": "first",
            "SendMessageBatchRequestEntry.1.MessageBody": "one",
            "SendMessageBatchRequestEntry.1.MessageGroupId": "g",
            "SendMessageBatchRequestEntry.2.Id": "second",
            "SendMessageBatchRequestEntry.2.MessageBody": "two",
            "SendMessageBatchRequestEntry.2.MessageGroupId": "g",
        },
    )

    entries = response.root.findall("SendMessageBatchResult/SendMessageBatchResultEntry")
    numbers = [entry.findtext("SequenceNumber") for entry in entries]
    assert [entry.findtext("Id") for entry in entries] == ["first", "second"]
    assert all(number and number.isdigit() for number in numbers), response.text
    assert int(numbers[0]) < int(numbers[1])


def test_query_fifo_missing_group(query):
    url = create_fifo_queue(query, "orders.fifo")

    response = query("SendMessage", QueueUrl=url, MessageBody="one")

    assert response.status_code == 400
    assert response.error_code == "MissingParameter"


# Message move tasks


@pytest.fixture
def dead_letter_queue(query, sqs) -> str:
    """Create queue `dlq` holding two messages that queue `source` moved there, and return its ARN."""
    sqs.create_queue(QueueName="dlq")
    source = sqs.create_queue(QueueName="source", Attributes={"RedrivePolicy": redrive_policy("dlq", 1)})["QueueUrl"]
    for body in ("one", "two"):
        send(query, source, body)
    drain_to_dead_letter_queue(sqs, source)
    return queue_arn("dlq")


def test_query_message_move_task_start_and_cancel(query, sqs, dead_letter_queue):
    started = query("StartMessageMoveTask", SourceArn=dead_letter_queue, MaxNumberOfMessagesPerSecond="1")
    handle = started.text_of("StartMessageMoveTaskResult/TaskHandle")
    wait_for_moved(sqs, dead_letter_queue, 1)

    cancelled = query("CancelMessageMoveTask", TaskHandle=handle)

    assert started.status_code == 200, started.text
    assert started.root.tag == "StartMessageMoveTaskResponse"
    assert handle
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.text_of("CancelMessageMoveTaskResult/ApproximateNumberOfMessagesMoved") == "1"
    assert wait_for_status(sqs, dead_letter_queue, "CANCELLED")["ApproximateNumberOfMessagesMoved"] == 1


def test_query_message_move_task_to_destination(query, sqs, dead_letter_queue):
    target = query("CreateQueue", QueueName="target").text_of("CreateQueueResult/QueueUrl")

    started = query("StartMessageMoveTask", SourceArn=dead_letter_queue, DestinationArn=queue_arn("target"))
    task = wait_for_status(sqs, dead_letter_queue, "COMPLETED")

    assert started.status_code == 200, started.text
    assert task["ApproximateNumberOfMessagesMoved"] == 2
    moved = receive_messages(query, target, MaxNumberOfMessages=10)
    assert sorted(message.findtext("Body") for message in moved) == ["one", "two"]


def test_query_list_message_move_tasks(query, sqs, dead_letter_queue):
    # Query-protocol SDKs read this element name, for example
    # de_ListMessageMoveTasksResult in clients/client-sqs/src/protocols/Aws_query.ts
    # of aws-sdk-js-v3 from before SQS switched to the JSON protocol.
    query("StartMessageMoveTask", SourceArn=dead_letter_queue, MaxNumberOfMessagesPerSecond="1")
    wait_for_moved(sqs, dead_letter_queue, 1)

    response = query("ListMessageMoveTasks", SourceArn=dead_letter_queue, MaxResults="10")

    entries = response.root.findall("ListMessageMoveTasksResult/ListMessageMoveTasksResultEntry")
    assert response.status_code == 200, response.text
    assert len(entries) == 1, response.text
    entry = entries[0]
    assert entry.findtext("Status") == "RUNNING"
    assert entry.findtext("TaskHandle")
    assert entry.findtext("SourceArn") == dead_letter_queue
    assert entry.findtext("MaxNumberOfMessagesPerSecond") == "1"
    assert entry.findtext("ApproximateNumberOfMessagesMoved") == "1"
    assert entry.findtext("ApproximateNumberOfMessagesToMove") == "2"
    assert entry.findtext("StartedTimestamp").isdigit()


@pytest.mark.parametrize(
    "action, params, status, code",
    [
        ("StartMessageMoveTask", {"SourceArn": queue_arn("main")}, 400, "InvalidParameterValue"),
        ("StartMessageMoveTask", {"SourceArn": queue_arn("missing")}, 404, "ResourceNotFoundException"),
        ("ListMessageMoveTasks", {"SourceArn": queue_arn("missing")}, 404, "ResourceNotFoundException"),
        ("CancelMessageMoveTask", {"TaskHandle": "not-a-task-handle"}, 404, "ResourceNotFoundException"),
    ],
    ids=["start-not-a-dead-letter-queue", "start-unknown-queue", "list-unknown-queue", "cancel-unknown-handle"],
)
def test_query_message_move_task_errors(query, main_url, action, params, status, code):
    response = query(action, **params)

    assert response.status_code == status
    assert response.error_code == code
    assert response.error_type == "Sender"


# The two protocols share one store.


def test_query_message_received_by_json_client(query, sqs, main_url):
    message_id = send(query, main_url, "from query")

    message = sqs.receive_message(QueueUrl=main_url)["Messages"][0]

    assert message["MessageId"] == message_id
    assert message["Body"] == "from query"
