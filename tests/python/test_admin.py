"""The /_postroom/ endpoints: health, clock and reset."""

import requests

from postroom_server import postgres_url


def test_health_reports_session_server(endpoint):
    response = requests.get(f"{endpoint}/_postroom/health", timeout=5)
    health = response.json()

    assert response.status_code == 200
    assert health["status"] == "ok"
    assert isinstance(health["version"], str)
    if postgres_url():
        assert health["store"] == "postgres"
        assert health["durable"] is True
    else:
        assert health["store"] == "embedded"
        assert health["durable"] is False
    assert health["clock"] == "manual"
    assert health["services"] == ["sqs", "sns", "events"]


def test_clock_get_reports_manual(endpoint):
    clock = requests.get(f"{endpoint}/_postroom/clock", timeout=5).json()

    assert clock["manual"] is True
    assert isinstance(clock["now_ms"], int)


def test_clock_advance_moves_now(endpoint, clock_now_ms):
    before = clock_now_ms()

    response = requests.post(f"{endpoint}/_postroom/clock", json={"advance_seconds": 90}, timeout=5)

    assert response.status_code == 200
    assert response.json()["now_ms"] == before + 90_000
    assert clock_now_ms() == before + 90_000


def test_reset_removes_queues_of_every_account(server, sqs, sqs_for):
    other_account = sqs_for(access_key_id="123456789012")
    sqs.create_queue(QueueName="orders")
    other_account.create_queue(QueueName="orders")

    server.reset()

    assert sqs.list_queues().get("QueueUrls", []) == []
    assert other_account.list_queues().get("QueueUrls", []) == []


def test_reset_allows_recreating_deleted_name(server, sqs):
    url = sqs.create_queue(QueueName="orders")["QueueUrl"]
    sqs.delete_queue(QueueUrl=url)

    server.reset()

    assert sqs.create_queue(QueueName="orders")["QueueUrl"] == url


def test_manual_clock_resumes_after_restart(tmp_path):
    from postroom_server import PostroomServer

    first = PostroomServer(tmp_path / "data", in_memory=False, manual_clock=True).start()
    try:
        advanced = first.advance_clock(40_000)
    finally:
        first.kill()
    second = PostroomServer(tmp_path / "data", in_memory=False, manual_clock=True).start()
    try:
        resumed = requests.get(f"{second.endpoint}/_postroom/clock", timeout=5).json()["now_ms"]
    finally:
        second.kill()
    assert resumed >= advanced, "the clock does not go back across a restart"
