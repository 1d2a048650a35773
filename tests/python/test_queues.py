"""Queue operations through boto3: lifecycle, names, listing, attributes, tags, permissions."""

import json

import pytest
from botocore.exceptions import ClientError

from conftest import DEFAULT_ACCOUNT, REGION
from sqs_errors import error_code, http_status

NON_EXISTENT_QUEUE = "AWS.SimpleQueueService.NonExistentQueue"


def queue_arn(name: str, account: str = DEFAULT_ACCOUNT, region: str = REGION) -> str:
    return f"arn:aws:sqs:{region}:{account}:{name}"


def get_attributes(sqs, queue_url: str, *names: str) -> dict:
    response = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=list(names) or ["All"])
    return response.get("Attributes", {})


def policy_statements(sqs, queue_url: str) -> list[dict]:
    policy = get_attributes(sqs, queue_url, "Policy").get("Policy")
    if policy is None:
        return []
    return json.loads(policy).get("Statement", [])


# CreateQueue


def test_create_queue_returns_url(sqs, endpoint):
    response = sqs.create_queue(QueueName="orders")

    assert response["QueueUrl"] == f"{endpoint}/{DEFAULT_ACCOUNT}/orders"


def test_create_queue_idempotent_for_same_attributes(sqs):
    attributes = {"VisibilityTimeout": "45", "DelaySeconds": "5"}
    first = sqs.create_queue(QueueName="orders", Attributes=attributes)["QueueUrl"]

    second = sqs.create_queue(QueueName="orders", Attributes=attributes)["QueueUrl"]

    assert second == first


def test_create_queue_idempotent_with_default_values(sqs):
    first = sqs.create_queue(QueueName="orders")["QueueUrl"]

    second = sqs.create_queue(QueueName="orders", Attributes={"VisibilityTimeout": "30"})["QueueUrl"]

    assert second == first


def test_create_queue_conflicting_attributes(sqs):
    sqs.create_queue(QueueName="orders", Attributes={"VisibilityTimeout": "45"})

    with pytest.raises(sqs.exceptions.QueueNameExists) as raised:
        sqs.create_queue(QueueName="orders", Attributes={"VisibilityTimeout": "46"})

    assert error_code(raised.value) == "QueueAlreadyExists"
    assert http_status(raised.value) == 400


def test_create_queue_deleted_recently(sqs):
    url = sqs.create_queue(QueueName="orders")["QueueUrl"]
    sqs.delete_queue(QueueUrl=url)

    with pytest.raises(sqs.exceptions.QueueDeletedRecently) as raised:
        sqs.create_queue(QueueName="orders")

    assert error_code(raised.value) == "AWS.SimpleQueueService.QueueDeletedRecently"
    assert http_status(raised.value) == 400


def test_create_queue_deleted_recently_until_60_seconds(sqs, advance):
    url = sqs.create_queue(QueueName="orders")["QueueUrl"]
    sqs.delete_queue(QueueUrl=url)
    advance(59)

    with pytest.raises(sqs.exceptions.QueueDeletedRecently):
        sqs.create_queue(QueueName="orders")

    advance(2)
    assert sqs.create_queue(QueueName="orders")["QueueUrl"] == url


def test_create_queue_other_name_after_delete(sqs):
    url = sqs.create_queue(QueueName="orders")["QueueUrl"]
    sqs.delete_queue(QueueUrl=url)

    other = sqs.create_queue(QueueName="orders-2")["QueueUrl"]

    assert other.endswith("/orders-2")


@pytest.mark.parametrize("name", ["a", "Z", "order_events-2", "x" * 80, "0123456789"])
def test_create_queue_valid_name(sqs, name):
    url = sqs.create_queue(QueueName=name)["QueueUrl"]

    assert url.endswith(f"/{DEFAULT_ACCOUNT}/{name}")


@pytest.mark.parametrize(
    "name",
    ["", "x" * 81, "with space", "dot.name", "slash/name", "colon:name", "caf\u00e9", "star*"],
    ids=["empty", "81-chars", "space", "dot", "slash", "colon", "non-ascii", "star"],
)
def test_create_queue_invalid_name(sqs, name):
    with pytest.raises(ClientError) as raised:
        sqs.create_queue(QueueName=name)

    assert error_code(raised.value) == "InvalidParameterValue"
    assert http_status(raised.value) == 400


def test_queue_names_case_sensitive(sqs):
    lower = sqs.create_queue(QueueName="orders")["QueueUrl"]
    upper = sqs.create_queue(QueueName="Orders")["QueueUrl"]

    assert lower != upper
    assert sorted(sqs.list_queues()["QueueUrls"]) == sorted([lower, upper])


def test_create_queue_fifo_suffix_without_attribute(sqs):
    with pytest.raises(ClientError) as raised:
        sqs.create_queue(QueueName="jobs.fifo")

    assert error_code(raised.value) == "InvalidParameterValue"


def test_create_queue_fifo_attribute_without_suffix(sqs):
    with pytest.raises(ClientError) as raised:
        sqs.create_queue(QueueName="jobs", Attributes={"FifoQueue": "true"})

    assert error_code(raised.value) in ("InvalidParameterValue", "InvalidAttributeValue")


def test_create_queue_with_tags(sqs):
    url = sqs.create_queue(QueueName="orders", tags={"team": "billing"})["QueueUrl"]

    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "billing"}


# Accounts and regions


def test_queue_url_uses_account_from_access_key(sqs, sqs_for, endpoint):
    other_account = sqs_for(access_key_id="123456789012")

    url = other_account.create_queue(QueueName="orders")["QueueUrl"]

    assert url == f"{endpoint}/123456789012/orders"


def test_accounts_have_separate_queues(sqs, sqs_for):
    other_account = sqs_for(access_key_id="123456789012")
    other_account.create_queue(QueueName="orders")

    assert sqs.list_queues().get("QueueUrls", []) == []


def test_queue_arn_uses_signing_region(sqs_for):
    client = sqs_for(region="eu-west-1")
    url = client.create_queue(QueueName="orders")["QueueUrl"]

    arn = get_attributes(client, url, "QueueArn")["QueueArn"]

    assert arn == queue_arn("orders", region="eu-west-1")


def test_queue_arn_uses_account_from_access_key(sqs_for):
    client = sqs_for(access_key_id="123456789012")
    url = client.create_queue(QueueName="orders")["QueueUrl"]

    arn = get_attributes(client, url, "QueueArn")["QueueArn"]

    assert arn == queue_arn("orders", account="123456789012")


# DeleteQueue and GetQueueUrl


def test_delete_queue_removes_queue(sqs, queue_url):
    sqs.delete_queue(QueueUrl=queue_url)

    assert sqs.list_queues().get("QueueUrls", []) == []


def test_delete_queue_missing(sqs, endpoint):
    with pytest.raises(sqs.exceptions.QueueDoesNotExist) as raised:
        sqs.delete_queue(QueueUrl=f"{endpoint}/{DEFAULT_ACCOUNT}/missing")

    assert error_code(raised.value) == NON_EXISTENT_QUEUE


def test_get_queue_url_returns_created_url(sqs, queue_url):
    assert sqs.get_queue_url(QueueName="main")["QueueUrl"] == queue_url


def test_get_queue_url_with_owner_account(sqs, queue_url):
    response = sqs.get_queue_url(QueueName="main", QueueOwnerAWSAccountId=DEFAULT_ACCOUNT)

    assert response["QueueUrl"] == queue_url


def test_get_queue_url_missing(sqs):
    with pytest.raises(sqs.exceptions.QueueDoesNotExist) as raised:
        sqs.get_queue_url(QueueName="missing")

    assert error_code(raised.value) == NON_EXISTENT_QUEUE
    assert http_status(raised.value) == 400


def test_get_queue_url_after_delete(sqs, queue_url):
    sqs.delete_queue(QueueUrl=queue_url)

    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.get_queue_url(QueueName="main")


def test_send_to_deleted_queue(sqs, queue_url):
    sqs.delete_queue(QueueUrl=queue_url)

    with pytest.raises(sqs.exceptions.QueueDoesNotExist) as raised:
        sqs.send_message(QueueUrl=queue_url, MessageBody="hello")

    assert error_code(raised.value) == NON_EXISTENT_QUEUE


# ListQueues


def test_list_queues_empty(sqs):
    assert sqs.list_queues().get("QueueUrls", []) == []


def test_list_queues_all(sqs):
    urls = [sqs.create_queue(QueueName=name)["QueueUrl"] for name in ["a", "b", "c"]]

    assert sorted(sqs.list_queues()["QueueUrls"]) == sorted(urls)


def test_list_queues_prefix(sqs):
    alpha = [sqs.create_queue(QueueName=name)["QueueUrl"] for name in ["alpha-1", "alpha-2"]]
    sqs.create_queue(QueueName="beta")
    sqs.create_queue(QueueName="Alpha-3")

    response = sqs.list_queues(QueueNamePrefix="alpha")

    assert sorted(response["QueueUrls"]) == sorted(alpha)


def test_list_queues_prefix_no_match(sqs):
    sqs.create_queue(QueueName="alpha")

    assert sqs.list_queues(QueueNamePrefix="gamma").get("QueueUrls", []) == []


def test_list_queues_no_token_by_default(sqs):
    for index in range(3):
        sqs.create_queue(QueueName=f"queue-{index}")

    assert "NextToken" not in sqs.list_queues()


def test_list_queues_pagination(sqs):
    expected = sorted(sqs.create_queue(QueueName=f"queue-{index}")["QueueUrl"] for index in range(5))

    pages = []
    response = sqs.list_queues(MaxResults=2)
    pages.append(response["QueueUrls"])
    while "NextToken" in response:
        response = sqs.list_queues(MaxResults=2, NextToken=response["NextToken"])
        pages.append(response.get("QueueUrls", []))

    assert [len(page) for page in pages] == [2, 2, 1]
    assert sorted(url for page in pages for url in page) == expected


def test_list_queues_pagination_with_prefix(sqs):
    for index in range(3):
        sqs.create_queue(QueueName=f"alpha-{index}")
        sqs.create_queue(QueueName=f"beta-{index}")

    first = sqs.list_queues(QueueNamePrefix="beta", MaxResults=2)
    second = sqs.list_queues(QueueNamePrefix="beta", MaxResults=2, NextToken=first["NextToken"])

    names = sorted(url.rsplit("/", 1)[1] for url in first["QueueUrls"] + second["QueueUrls"])
    assert names == ["beta-0", "beta-1", "beta-2"]
    assert "NextToken" not in second


@pytest.mark.parametrize("max_results", [0, 1001])
def test_list_queues_max_results_out_of_range(sqs, max_results):
    with pytest.raises(ClientError) as raised:
        sqs.list_queues(MaxResults=max_results)

    assert error_code(raised.value) == "InvalidParameterValue"


# GetQueueAttributes and SetQueueAttributes

DEFAULTS = {
    "VisibilityTimeout": "30",
    "MessageRetentionPeriod": "345600",
    "DelaySeconds": "0",
    "ReceiveMessageWaitTimeSeconds": "0",
    "MaximumMessageSize": "1048576",
}

RANGES = {
    "VisibilityTimeout": (0, 43200),
    "MessageRetentionPeriod": (60, 1209600),
    "DelaySeconds": (0, 900),
    "ReceiveMessageWaitTimeSeconds": (0, 20),
    "MaximumMessageSize": (1024, 1048576),
}


@pytest.mark.parametrize("name, default", DEFAULTS.items())
def test_attribute_default(sqs, queue_url, name, default):
    assert get_attributes(sqs, queue_url)[name] == default


def test_attribute_queue_arn(sqs, queue_url):
    assert get_attributes(sqs, queue_url)["QueueArn"] == queue_arn("main")


@pytest.mark.parametrize(
    "name",
    ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"],
)
def test_attribute_counts_start_at_zero(sqs, queue_url, name):
    assert get_attributes(sqs, queue_url)[name] == "0"


def test_attribute_created_timestamp_from_clock(sqs, clock_now_ms):
    now_seconds = clock_now_ms() // 1000
    url = sqs.create_queue(QueueName="orders")["QueueUrl"]

    attributes = get_attributes(sqs, url)

    assert int(attributes["CreatedTimestamp"]) == now_seconds
    assert int(attributes["LastModifiedTimestamp"]) == now_seconds


def test_set_attributes_updates_last_modified(sqs, queue_url, advance):
    created = int(get_attributes(sqs, queue_url)["CreatedTimestamp"])
    advance(100)

    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"VisibilityTimeout": "60"})

    attributes = get_attributes(sqs, queue_url)
    assert int(attributes["CreatedTimestamp"]) == created
    assert int(attributes["LastModifiedTimestamp"]) == created + 100


def test_get_attributes_selected_names_only(sqs, queue_url):
    attributes = get_attributes(sqs, queue_url, "VisibilityTimeout", "DelaySeconds")

    assert attributes == {"VisibilityTimeout": "30", "DelaySeconds": "0"}


def test_get_attributes_missing_queue(sqs, endpoint):
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        get_attributes(sqs, f"{endpoint}/{DEFAULT_ACCOUNT}/missing")


@pytest.mark.parametrize(
    "name, value",
    [(name, str(bound)) for name, bounds in RANGES.items() for bound in bounds],
)
def test_set_attribute_within_range(sqs, queue_url, name, value):
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={name: value})

    assert get_attributes(sqs, queue_url, name) == {name: value}


@pytest.mark.parametrize(
    "name, value",
    [(name, str(low - 1)) for name, (low, _) in RANGES.items()]
    + [(name, str(high + 1)) for name, (_, high) in RANGES.items()]
    + [("VisibilityTimeout", "abc"), ("DelaySeconds", "1.5"), ("MaximumMessageSize", "")],
)
def test_set_attribute_out_of_range(sqs, queue_url, name, value):
    with pytest.raises(ClientError) as raised:
        sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={name: value})

    assert error_code(raised.value) == "InvalidAttributeValue"
    assert get_attributes(sqs, queue_url, name) == {name: DEFAULTS[name]}


@pytest.mark.parametrize("name, value", [("VisibilityTimeout", "43201"), ("MessageRetentionPeriod", "59")])
def test_create_queue_attribute_out_of_range(sqs, name, value):
    with pytest.raises(ClientError) as raised:
        sqs.create_queue(QueueName="orders", Attributes={name: value})

    assert error_code(raised.value) == "InvalidAttributeValue"
    assert sqs.list_queues().get("QueueUrls", []) == []


def test_set_attribute_unknown_name(sqs, queue_url):
    with pytest.raises(ClientError) as raised:
        sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Colour": "blue"})

    assert error_code(raised.value) == "InvalidAttributeName"


def test_get_attribute_unknown_name(sqs, queue_url):
    with pytest.raises(ClientError) as raised:
        sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["Colour"])

    assert error_code(raised.value) == "InvalidAttributeName"


def test_create_queue_unknown_attribute(sqs):
    with pytest.raises(ClientError) as raised:
        sqs.create_queue(QueueName="orders", Attributes={"Colour": "blue"})

    assert error_code(raised.value) == "InvalidAttributeName"


@pytest.mark.parametrize(
    "name, value",
    [
        ("QueueArn", "arn:aws:sqs:us-east-1:000000000000:other"),
        ("CreatedTimestamp", "1"),
        ("LastModifiedTimestamp", "1"),
        ("ApproximateNumberOfMessages", "5"),
        ("ApproximateNumberOfMessagesNotVisible", "5"),
        ("ApproximateNumberOfMessagesDelayed", "5"),
    ],
)
def test_set_read_only_attribute(sqs, queue_url, name, value):
    with pytest.raises(ClientError) as raised:
        sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={name: value})

    assert error_code(raised.value) == "InvalidAttributeName"


def test_set_attributes_all_or_nothing(sqs, queue_url):
    with pytest.raises(ClientError):
        sqs.set_queue_attributes(
            QueueUrl=queue_url, Attributes={"VisibilityTimeout": "60", "DelaySeconds": "901"}
        )

    assert get_attributes(sqs, queue_url, "VisibilityTimeout") == {"VisibilityTimeout": "30"}


def test_policy_stored(sqs, queue_url):
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "allow-send",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                "Action": "SQS:SendMessage",
                "Resource": queue_arn("main"),
            }
        ],
    }

    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})

    assert json.loads(get_attributes(sqs, queue_url, "Policy")["Policy"]) == policy


def test_policy_invalid_json(sqs, queue_url):
    with pytest.raises(ClientError) as raised:
        sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": "{not json"})

    assert error_code(raised.value) == "InvalidAttributeValue"


def test_redrive_policy_stored(sqs, queue_url):
    sqs.create_queue(QueueName="main-dlq")
    redrive = {"deadLetterTargetArn": queue_arn("main-dlq"), "maxReceiveCount": 3}

    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"RedrivePolicy": json.dumps(redrive)})

    stored = json.loads(get_attributes(sqs, queue_url, "RedrivePolicy")["RedrivePolicy"])
    assert stored["deadLetterTargetArn"] == queue_arn("main-dlq")
    assert int(stored["maxReceiveCount"]) == 3


def test_redrive_policy_missing_target_queue(sqs, queue_url):
    redrive = {"deadLetterTargetArn": queue_arn("no-such-queue"), "maxReceiveCount": 3}

    with pytest.raises(ClientError) as raised:
        sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"RedrivePolicy": json.dumps(redrive)})

    assert error_code(raised.value) in ("InvalidParameterValue", "InvalidAttributeValue")


@pytest.mark.parametrize("count", [0, 1001])
def test_redrive_policy_count_out_of_range(sqs, queue_url, count):
    sqs.create_queue(QueueName="main-dlq")
    redrive = {"deadLetterTargetArn": queue_arn("main-dlq"), "maxReceiveCount": count}

    with pytest.raises(ClientError) as raised:
        sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"RedrivePolicy": json.dumps(redrive)})

    assert error_code(raised.value) in ("InvalidParameterValue", "InvalidAttributeValue")


def test_redrive_allow_policy_stored(sqs, queue_url):
    allow = {"redrivePermission": "allowAll"}

    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"RedriveAllowPolicy": json.dumps(allow)})

    stored = get_attributes(sqs, queue_url, "RedriveAllowPolicy")["RedriveAllowPolicy"]
    assert json.loads(stored) == allow


def test_list_dead_letter_source_queues(sqs):
    dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    redrive = json.dumps({"deadLetterTargetArn": queue_arn("dlq"), "maxReceiveCount": "5"})
    source = sqs.create_queue(QueueName="source", Attributes={"RedrivePolicy": redrive})["QueueUrl"]
    sqs.create_queue(QueueName="unrelated")

    response = sqs.list_dead_letter_source_queues(QueueUrl=dlq)

    assert response["queueUrls"] == [source]


def test_list_dead_letter_source_queues_none(sqs, queue_url):
    response = sqs.list_dead_letter_source_queues(QueueUrl=queue_url)

    assert response.get("queueUrls", []) == []


# Tags


def test_tag_queue_and_list(sqs, queue_url):
    sqs.tag_queue(QueueUrl=queue_url, Tags={"team": "billing", "env": "test"})

    assert sqs.list_queue_tags(QueueUrl=queue_url)["Tags"] == {"team": "billing", "env": "test"}


def test_tag_queue_overwrites_value(sqs, queue_url):
    sqs.tag_queue(QueueUrl=queue_url, Tags={"team": "billing"})

    sqs.tag_queue(QueueUrl=queue_url, Tags={"team": "payments"})

    assert sqs.list_queue_tags(QueueUrl=queue_url)["Tags"] == {"team": "payments"}


def test_untag_queue_removes_keys(sqs, queue_url):
    sqs.tag_queue(QueueUrl=queue_url, Tags={"team": "billing", "env": "test", "owner": "ana"})

    sqs.untag_queue(QueueUrl=queue_url, TagKeys=["env", "owner", "not-there"])

    assert sqs.list_queue_tags(QueueUrl=queue_url)["Tags"] == {"team": "billing"}


def test_list_queue_tags_empty(sqs, queue_url):
    assert sqs.list_queue_tags(QueueUrl=queue_url).get("Tags", {}) == {}


def test_tag_queue_missing(sqs, endpoint):
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.tag_queue(QueueUrl=f"{endpoint}/{DEFAULT_ACCOUNT}/missing", Tags={"a": "b"})


# AddPermission and RemovePermission


def test_add_permission_writes_statement(sqs, queue_url):
    sqs.add_permission(
        QueueUrl=queue_url, Label="partner-send", AWSAccountIds=["111122223333"], Actions=["SendMessage"]
    )

    statements = policy_statements(sqs, queue_url)
    assert [statement["Sid"] for statement in statements] == ["partner-send"]
    statement = statements[0]
    actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
    assert statement["Effect"] == "Allow"
    assert [action.lower() for action in actions] == ["sqs:sendmessage"]
    assert statement["Resource"] == queue_arn("main")
    assert "111122223333" in json.dumps(statement["Principal"])


def test_add_permission_keeps_other_statements(sqs, queue_url):
    sqs.add_permission(QueueUrl=queue_url, Label="first", AWSAccountIds=["111122223333"], Actions=["SendMessage"])

    sqs.add_permission(
        QueueUrl=queue_url, Label="second", AWSAccountIds=["444455556666"], Actions=["ReceiveMessage"]
    )

    assert sorted(statement["Sid"] for statement in policy_statements(sqs, queue_url)) == ["first", "second"]


def test_add_permission_duplicate_label(sqs, queue_url):
    sqs.add_permission(QueueUrl=queue_url, Label="first", AWSAccountIds=["111122223333"], Actions=["SendMessage"])

    with pytest.raises(ClientError) as raised:
        sqs.add_permission(
            QueueUrl=queue_url, Label="first", AWSAccountIds=["444455556666"], Actions=["SendMessage"]
        )

    assert error_code(raised.value) == "InvalidParameterValue"


def test_remove_permission_deletes_statement(sqs, queue_url):
    sqs.add_permission(QueueUrl=queue_url, Label="first", AWSAccountIds=["111122223333"], Actions=["SendMessage"])
    sqs.add_permission(QueueUrl=queue_url, Label="second", AWSAccountIds=["111122223333"], Actions=["DeleteMessage"])

    sqs.remove_permission(QueueUrl=queue_url, Label="first")

    assert [statement["Sid"] for statement in policy_statements(sqs, queue_url)] == ["second"]


def test_remove_permission_last_statement(sqs, queue_url):
    sqs.add_permission(QueueUrl=queue_url, Label="first", AWSAccountIds=["111122223333"], Actions=["SendMessage"])

    sqs.remove_permission(QueueUrl=queue_url, Label="first")

    assert policy_statements(sqs, queue_url) == []


def test_remove_permission_unknown_label(sqs, queue_url):
    with pytest.raises(ClientError) as raised:
        sqs.remove_permission(QueueUrl=queue_url, Label="missing")

    assert error_code(raised.value) == "InvalidParameterValue"
