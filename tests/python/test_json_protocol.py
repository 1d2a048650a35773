"""The AWS JSON 1.0 protocol on the wire, below what boto3 shows.

boto3 maps error codes through the x-amzn-query-error header and exception
classes through __type, so these tests check both directly.
"""

import json

import pytest
import requests

from conftest import DEFAULT_ACCOUNT, QUERY_AUTHORIZATION

JSON_CONTENT_TYPE = "application/x-amz-json-1.0"


@pytest.fixture
def post_json(endpoint):
    """Return a function that posts one JSON 1.0 request and returns the response."""

    def post(operation: str, body) -> requests.Response:
        data = body if isinstance(body, str) else json.dumps(body)
        headers = {
            "Content-Type": JSON_CONTENT_TYPE,
            "X-Amz-Target": f"AmazonSQS.{operation}",
            "Authorization": QUERY_AUTHORIZATION,
        }
        return requests.post(f"{endpoint}/", data=data, headers=headers, timeout=30)

    return post


def test_json_create_queue_response(post_json, endpoint):
    response = post_json("CreateQueue", {"QueueName": "main"})

    assert response.status_code == 200
    assert response.headers["Content-Type"] == JSON_CONTENT_TYPE
    assert response.headers["x-amzn-RequestId"]
    assert response.json() == {"QueueUrl": f"{endpoint}/{DEFAULT_ACCOUNT}/main"}


def test_json_error_type_and_query_header(post_json):
    response = post_json("GetQueueUrl", {"QueueName": "missing"})

    assert response.status_code == 400
    assert response.json()["__type"].endswith("#QueueDoesNotExist")
    assert response.json()["message"]
    assert response.headers["x-amzn-query-error"] == "AWS.SimpleQueueService.NonExistentQueue;Sender"


def test_json_queue_name_exists_type(post_json):
    post_json("CreateQueue", {"QueueName": "main", "Attributes": {"DelaySeconds": "1"}})

    response = post_json("CreateQueue", {"QueueName": "main", "Attributes": {"DelaySeconds": "2"}})

    assert response.json()["__type"].endswith("#QueueNameExists")
    assert response.headers["x-amzn-query-error"] == "QueueAlreadyExists;Sender"


def test_json_missing_parameter(post_json):
    response = post_json("GetQueueUrl", {})

    assert response.status_code == 400
    assert response.headers["x-amzn-query-error"].split(";")[0] == "MissingParameter"


def test_json_unknown_operation(post_json):
    response = post_json("FlyToTheMoon", {})

    assert response.status_code == 400
    assert "UnknownOperationException" in response.json()["__type"]


def test_json_malformed_body(post_json):
    response = post_json("ListQueues", "{not json")

    assert response.status_code == 400
    assert "SerializationException" in response.json()["__type"]


def test_json_lone_surrogate_named(post_json):
    # JSON allows the escape of half a UTF-16 pair; a message body cannot hold it.
    response = post_json("SendMessage", '{"QueueUrl": "http://x/000000000000/q", "MessageBody": "x \\ud83c"}')

    assert response.status_code == 400
    assert "SerializationException" in response.json()["__type"]
    assert response.json()["message"].startswith("The request body is not valid JSON: ")
    assert "escape at line 1" in response.json()["message"]


def test_json_empty_list_queues(post_json):
    response = post_json("ListQueues", {})

    assert response.status_code == 200
    assert response.json().get("QueueUrls", []) == []
