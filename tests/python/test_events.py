"""EventBridge through boto3: buses, rules, targets, delivery and patterns."""

from __future__ import annotations

import json
import time

import pytest
from botocore.exceptions import ClientError

from conftest import REGION, make_client, make_sqs_client

ACCOUNT = "000000000000"


@pytest.fixture(scope="session")
def events(server):
    return make_client("events", server.endpoint)


def queue_arn(name: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"


def entry(source: str = "orders", detail_type: str = "OrderPlaced", detail: dict | None = None, **extra) -> dict:
    value = {"Source": source, "DetailType": detail_type, "Detail": json.dumps(detail or {"order_id": "ord_1"})}
    value.update(extra)
    return value


def wait_for_messages(sqs, url: str, count: int = 1) -> list[dict]:
    """Long-polls until `count` messages arrived. The manual clock never ends
    the wait, so only an arrival returns it."""
    messages: list[dict] = []
    while len(messages) < count:
        response = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=20, MessageAttributeNames=["All"], AttributeNames=["All"]
        )
        messages.extend(response.get("Messages", []))
    return messages


def error_code(error: ClientError) -> str:
    return error.response["Error"]["Code"]


def test_rule_delivers_matching_event(events, sqs):
    url = sqs.create_queue(QueueName="fulfillment")["QueueUrl"]
    pattern = {"source": ["orders"], "detail-type": ["OrderPlaced"]}
    events.put_rule(Name="placed", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="placed", Targets=[{"Id": "queue", "Arn": queue_arn("fulfillment")}])

    result = events.put_events(Entries=[entry(), entry(detail_type="OrderShipped")])

    assert result["FailedEntryCount"] == 0
    [message] = wait_for_messages(sqs, url)
    event = json.loads(message["Body"])
    assert event["id"] == result["Entries"][0]["EventId"]
    assert event["detail-type"] == "OrderPlaced"
    assert event["source"] == "orders"
    assert event["account"] == ACCOUNT
    assert event["region"] == REGION
    assert event["version"] == "0"
    assert event["resources"] == []
    assert event["detail"] == {"order_id": "ord_1"}
    assert event["time"].endswith("Z")
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == [], "the shipped event matched nothing"


def test_custom_bus_with_input_transformer(events, sqs):
    url = sqs.create_queue(QueueName="analytics")["QueueUrl"]
    bus_arn = events.create_event_bus(Name="orders")["EventBusArn"]
    assert bus_arn == f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/orders"
    events.put_rule(Name="placed", EventBusName="orders", EventPattern=json.dumps({"detail": {"total": [{"numeric": [">", 10]}]}}))
    transformer = {
        "InputPathsMap": {"id": "$.detail.order_id", "total": "$.detail.total"},
        "InputTemplate": '{"order": <id>, "summary": "order <id> of <total>", "rule": "<aws.events.rule-name>"}',
    }
    events.put_targets(
        Rule="placed", EventBusName="orders", Targets=[{"Id": "a", "Arn": queue_arn("analytics"), "InputTransformer": transformer}]
    )

    events.put_events(
        Entries=[
            entry(detail={"order_id": "small", "total": 5}, EventBusName="orders"),
            entry(detail={"order_id": "big", "total": 50}, EventBusName=bus_arn),
        ]
    )

    [message] = wait_for_messages(sqs, url)
    assert json.loads(message["Body"]) == {"order": "big", "summary": "order big of 50", "rule": "placed"}


def test_fifo_target_uses_group(events, sqs):
    url = sqs.create_queue(QueueName="jobs.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    events.put_rule(Name="jobs", EventPattern=json.dumps({"source": ["orders"]}))
    with pytest.raises(ClientError) as missing:
        events.put_targets(Rule="jobs", Targets=[{"Id": "fifo", "Arn": queue_arn("jobs.fifo")}])
    assert error_code(missing.value) == "ValidationException"
    events.put_targets(
        Rule="jobs", Targets=[{"Id": "fifo", "Arn": queue_arn("jobs.fifo"), "SqsParameters": {"MessageGroupId": "orders"}}]
    )

    events.put_events(Entries=[entry()])

    [message] = wait_for_messages(sqs, url)
    assert message["Attributes"]["MessageGroupId"] == "orders"


def test_event_bus_target_routes_across_buses(events, sqs):
    url = sqs.create_queue(QueueName="billing")["QueueUrl"]
    events.create_event_bus(Name="billing")
    events.put_rule(Name="forward", EventPattern=json.dumps({"source": ["orders"]}))
    events.put_targets(
        Rule="forward", Targets=[{"Id": "bus", "Arn": f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/billing"}]
    )
    events.put_rule(Name="bill", EventBusName="billing", EventPattern=json.dumps({"detail-type": ["OrderPlaced"]}))
    events.put_targets(Rule="bill", EventBusName="billing", Targets=[{"Id": "queue", "Arn": queue_arn("billing")}])

    events.put_events(Entries=[entry()])

    [message] = wait_for_messages(sqs, url)
    assert json.loads(message["Body"])["source"] == "orders"


@pytest.mark.parametrize(
    "missing_target",
    [
        queue_arn("does-not-exist"),
        f"arn:aws:sns:{REGION}:{ACCOUNT}:does-not-exist",
        f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/does-not-exist",
    ],
    ids=["queue", "topic", "bus"],
)
def test_missing_target_skips_retries(events, sqs, missing_target):
    dlq = sqs.create_queue(QueueName="events-dlq")["QueueUrl"]
    events.put_rule(Name="broken", EventPattern=json.dumps({"source": ["orders"]}))
    target = {
        "Id": "missing",
        "Arn": missing_target,
        "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 3600},
        "DeadLetterConfig": {"Arn": queue_arn("events-dlq")},
    }
    events.put_targets(Rule="broken", Targets=[target])

    result = events.put_events(Entries=[entry()])
    # The server clock does not move, so a retry, which waits on it, would
    # never come: the event arrives only if the first failure sends it.
    [message] = wait_for_messages(sqs, dlq)
    attributes = {name: value["StringValue"] for name, value in message["MessageAttributes"].items()}
    assert json.loads(message["Body"])["id"] == result["Entries"][0]["EventId"]
    assert attributes["RULE_ARN"] == f"arn:aws:events:{REGION}:{ACCOUNT}:rule/broken"
    assert attributes["TARGET_ARN"] == missing_target
    assert attributes["ERROR_CODE"] == "NO_RESOURCE"
    assert attributes["RETRY_ATTEMPTS"] == "0"
    assert "EXHAUSTED_RETRY_CONDITION" not in attributes
    assert "does-not-exist" in attributes["ERROR_MESSAGE"]


def test_put_events_validation(events):
    result = events.put_events(
        Entries=[
            {"Source": "orders", "DetailType": "OrderPlaced"},
            entry(detail_type="x", EventBusName="no-such-bus"),
            {"Source": "orders", "DetailType": "OrderPlaced", "Detail": "[1]"},
            entry(),
        ]
    )
    assert result["FailedEntryCount"] == 3
    codes = [item.get("ErrorCode") for item in result["Entries"]]
    assert codes == ["InvalidArgument", "ResourceNotFoundException", "MalformedDetail", None]
    assert "EventId" in result["Entries"][3]
    with pytest.raises(ClientError) as too_many:
        events.put_events(Entries=[entry()] * 11)
    assert error_code(too_many.value) == "ValidationException"


def test_test_event_pattern(events):
    event = json.dumps(
        {
            "id": "1",
            "account": ACCOUNT,
            "source": "orders",
            "time": "2026-12-04T21:00:00Z",
            "region": REGION,
            "detail-type": "OrderPlaced",
            "detail": {"ip": "10.0.0.7", "tags": ["a", "b"]},
        }
    )
    assert events.test_event_pattern(EventPattern=json.dumps({"detail": {"ip": [{"cidr": "10.0.0.0/24"}]}}), Event=event)["Result"]
    assert not events.test_event_pattern(EventPattern=json.dumps({"detail": {"tags": [{"prefix": "z"}]}}), Event=event)["Result"]
    with pytest.raises(ClientError) as invalid:
        events.test_event_pattern(EventPattern=json.dumps({"source": "orders"}), Event=event)
    assert error_code(invalid.value) == "InvalidEventPatternException"
    with pytest.raises(ClientError) as bad_event:
        events.test_event_pattern(EventPattern=json.dumps({"source": ["orders"]}), Event="{}")
    assert error_code(bad_event.value) == "ValidationException"


def test_rule_management(events, sqs):
    sqs.create_queue(QueueName="audit")
    events.put_rule(Name="audit", EventPattern=json.dumps({"source": ["orders"]}), Description="all orders")
    events.put_targets(Rule="audit", Targets=[{"Id": "q", "Arn": queue_arn("audit")}])

    described = events.describe_rule(Name="audit")
    assert described["State"] == "ENABLED"
    assert described["Description"] == "all orders"
    assert described["EventBusName"] == "default"
    events.disable_rule(Name="audit")
    assert events.describe_rule(Name="audit")["State"] == "DISABLED"
    assert [rule["Name"] for rule in events.list_rules(NamePrefix="au")["Rules"]] == ["audit"]
    assert events.list_rule_names_by_target(TargetArn=queue_arn("audit"))["RuleNames"] == ["audit"]
    assert [target["Id"] for target in events.list_targets_by_rule(Rule="audit")["Targets"]] == ["q"]

    with pytest.raises(ClientError) as has_targets:
        events.delete_rule(Name="audit")
    assert error_code(has_targets.value) == "ValidationException"
    removed = events.remove_targets(Rule="audit", Ids=["q", "nope"])
    assert removed["FailedEntryCount"] == 1
    events.delete_rule(Name="audit")
    with pytest.raises(ClientError) as gone:
        events.describe_rule(Name="audit")
    assert error_code(gone.value) == "ResourceNotFoundException"


def test_bus_management_and_tags(events):
    arn = events.create_event_bus(Name="payments", Tags=[{"Key": "team", "Value": "billing"}])["EventBusArn"]
    with pytest.raises(ClientError) as exists:
        events.create_event_bus(Name="payments")
    assert error_code(exists.value) == "ResourceAlreadyExistsException"
    names = [bus["Name"] for bus in events.list_event_buses()["EventBuses"]]
    assert names == ["default", "payments"]
    events.tag_resource(ResourceARN=arn, Tags=[{"Key": "env", "Value": "dev"}])
    events.untag_resource(ResourceARN=arn, TagKeys=["team"])
    assert events.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "env", "Value": "dev"}]
    with pytest.raises(ClientError) as default:
        events.delete_event_bus(Name="default")
    assert error_code(default.value) == "ValidationException"
    events.delete_event_bus(Name="payments")
    with pytest.raises(ClientError) as missing:
        events.describe_event_bus(Name="payments")
    assert error_code(missing.value) == "ResourceNotFoundException"


def test_custom_bus_name_without_slash(events):
    events.create_event_bus(Name="orders")

    with pytest.raises(ClientError) as rejected:
        events.create_event_bus(Name="orders/child")

    assert error_code(rejected.value) == "ValidationException"
    assert [bus["Name"] for bus in events.list_event_buses()["EventBuses"]] == ["default", "orders"]


def test_invalid_pattern_rejected_by_put_rule(events):
    with pytest.raises(ClientError) as invalid:
        events.put_rule(Name="bad", EventPattern=json.dumps({"detail": {"n": [{"numeric": [">", "x"]}]}}))
    assert error_code(invalid.value) == "InvalidEventPatternException"


def test_unbuilt_operation_names_itself(events):
    with pytest.raises(ClientError) as unsupported:
        events.list_connections()
    assert error_code(unsupported.value) == "UnsupportedOperationException"
    assert "ListConnections" in unsupported.value.response["Error"]["Message"]


def test_sns_topic_target(events, sqs, server):
    sns = make_client("sns", server.endpoint)
    topic = sns.create_topic(Name="order-events")["TopicArn"]
    url = sqs.create_queue(QueueName="email")["QueueUrl"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn("email"), Attributes={"RawMessageDelivery": "true"})
    events.put_rule(Name="notify", EventPattern=json.dumps({"source": ["orders"]}))
    events.put_targets(Rule="notify", Targets=[{"Id": "topic", "Arn": topic, "InputPath": "$.detail"}])

    events.put_events(Entries=[entry(detail={"order_id": "ord_9"})])

    [message] = wait_for_messages(sqs, url)
    assert json.loads(message["Body"]) == {"order_id": "ord_9"}


def test_scheduled_rules_fire_on_the_clock(events, sqs, advance):
    url = sqs.create_queue(QueueName="ticks")["QueueUrl"]
    with pytest.raises(ClientError) as invalid:
        events.put_rule(Name="bad", ScheduleExpression="rate(1 minutes)")
    assert error_code(invalid.value) == "ValidationException"
    with pytest.raises(ClientError) as bad_cron:
        events.put_rule(Name="bad", ScheduleExpression="cron(0 12 * * * *)")
    assert error_code(bad_cron.value) == "ValidationException"
    events.create_event_bus(Name="custom")
    with pytest.raises(ClientError) as custom_bus:
        events.put_rule(Name="bad", EventBusName="custom", ScheduleExpression="rate(5 minutes)")
    assert error_code(custom_bus.value) == "ValidationException"

    arn = events.put_rule(Name="every-five", ScheduleExpression="rate(5 minutes)")["RuleArn"]
    assert events.describe_rule(Name="every-five")["ScheduleExpression"] == "rate(5 minutes)"
    events.put_targets(Rule="every-five", Targets=[{"Id": "q", "Arn": queue_arn("ticks")}])

    advance(299)
    time.sleep(0.1)
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == [], "one second early"
    advance(1)
    [message] = wait_for_messages(sqs, url)
    event = json.loads(message["Body"])
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["resources"] == [arn]
    assert event["detail"] == {}


def test_cron_rule_fires_at_its_minute(events, sqs, advance, clock_now_ms):
    url = sqs.create_queue(QueueName="hourly")["QueueUrl"]
    events.put_rule(Name="hourly", ScheduleExpression="cron(0 * * * ? *)")
    events.put_targets(Rule="hourly", Targets=[{"Id": "q", "Arn": queue_arn("hourly")}])
    now_ms = clock_now_ms()
    to_next_hour = 3600 - (now_ms // 1000) % 3600
    advance(to_next_hour)
    [message] = wait_for_messages(sqs, url)
    fired = json.loads(message["Body"])["time"]
    assert fired.endswith(":00:00Z"), fired


def test_archive_and_replay(events, sqs, advance, clock_now_ms):
    url = sqs.create_queue(QueueName="replayed")["QueueUrl"]
    bus_arn = events.create_event_bus(Name="orders")["EventBusArn"]
    archive = events.create_archive(
        ArchiveName="placed", EventSourceArn=bus_arn, EventPattern=json.dumps({"detail-type": ["OrderPlaced"]}), RetentionDays=7
    )
    assert archive["State"] == "ENABLED"
    with pytest.raises(ClientError) as exists:
        events.create_archive(ArchiveName="placed", EventSourceArn=bus_arn)
    assert error_code(exists.value) == "ResourceAlreadyExistsException"

    # Event times have whole seconds, so the window starts a second early.
    start = clock_now_ms() // 1000 - 1
    events.put_events(Entries=[entry(EventBusName="orders"), entry(detail_type="OrderShipped", EventBusName="orders")])
    advance(60)
    events.put_events(Entries=[entry(detail={"order_id": "late"}, EventBusName="orders")])
    described = events.describe_archive(ArchiveName="placed")
    assert described["EventCount"] == 2, "the shipped event does not match the archive pattern"
    assert described["RetentionDays"] == 7
    assert [a["ArchiveName"] for a in events.list_archives()["Archives"]] == ["placed"]

    rule_arn = events.put_rule(Name="to-queue", EventBusName="orders", EventPattern=json.dumps({"source": ["orders"]}))["RuleArn"]
    events.put_targets(Rule="to-queue", EventBusName="orders", Targets=[{"Id": "q", "Arn": queue_arn("replayed")}])
    replay = events.start_replay(
        ReplayName="first-minute",
        EventSourceArn=archive["ArchiveArn"],
        EventStartTime=start,
        EventEndTime=start + 30,
        Destination={"Arn": bus_arn, "FilterArns": [rule_arn]},
    )
    assert replay["State"] == "STARTING"
    [message] = wait_for_messages(sqs, url)
    event = json.loads(message["Body"])
    assert event["replay-name"] == "first-minute"
    assert event["detail"] == {"order_id": "ord_1"}, "only the event inside the window"
    for _ in range(100):
        state = events.describe_replay(ReplayName="first-minute")["State"]
        if state == "COMPLETED":
            break
        time.sleep(0.02)
    assert state == "COMPLETED"
    assert [r["ReplayName"] for r in events.list_replays()["Replays"]] == ["first-minute"]
    with pytest.raises(ClientError) as done:
        events.cancel_replay(ReplayName="first-minute")
    assert error_code(done.value) == "ValidationException"

    events.update_archive(ArchiveName="placed", RetentionDays=1)
    advance(2 * 86400)
    assert events.describe_archive(ArchiveName="placed")["EventCount"] == 0, "the retention period ended"
    events.delete_archive(ArchiveName="placed")
    with pytest.raises(ClientError) as gone:
        events.describe_archive(ArchiveName="placed")
    assert error_code(gone.value) == "ResourceNotFoundException"


def test_accepted_events_survive_kill(durable_server):
    """Every accepted event reaches its target after a kill -9, whether it
    was delivered before the kill or its delivery was still pending."""

    def clients(server):
        events = make_client("events", server.endpoint)
        return events, make_sqs_client(server.endpoint)

    first = durable_server()
    events, sqs = clients(first)
    url = sqs.create_queue(QueueName="late-queue")["QueueUrl"]
    events.put_rule(Name="late", EventPattern=json.dumps({"source": ["orders"]}))
    events.put_targets(Rule="late", Targets=[{"Id": "q", "Arn": queue_arn("late-queue")}])
    accepted = set()
    for batch in range(20):
        result = events.put_events(Entries=[entry(detail={"order_id": f"ord_{batch}_{i}"}) for i in range(10)])
        assert result["FailedEntryCount"] == 0
        accepted.update(item["EventId"] for item in result["Entries"])
    first.kill()

    second = durable_server()
    events, sqs = clients(second)
    delivered = set()
    for _ in range(120):
        # Jobs received before the kill return after their visibility
        # timeout on the server clock.
        second.advance_clock(1)
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", []):
            delivered.add(json.loads(message["Body"])["id"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        if accepted <= delivered:
            break
        time.sleep(0.02)
    assert accepted - delivered == set()


def test_reserved_source_and_template_checks(events, sqs):
    result = events.put_events(Entries=[{"Source": "aws.s3", "DetailType": "t", "Detail": "{}"}])
    assert result["Entries"][0]["ErrorCode"] == "NotAuthorizedForSourceException"
    events.put_rule(Name="r", EventPattern=json.dumps({"source": ["orders"]}))
    transformer = {"InputPathsMap": {"n": "$.detail.n"}, "InputTemplate": '{"a": <m>}'}
    with pytest.raises(ClientError) as undefined:
        events.put_targets(Rule="r", Targets=[{"Id": "t", "Arn": queue_arn("q"), "InputTransformer": transformer}])
    assert error_code(undefined.value) == "ValidationException"
    assert "<m>" in undefined.value.response["Error"]["Message"]
