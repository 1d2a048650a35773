"""Long polls that run in a thread, for tests on the manual server clock."""

from __future__ import annotations

import threading
import time

import pytest

# Real time that a poll thread gets to reach the server before the test acts.
POLL_START_SECONDS = 0.3
# Real time that a woken poll gets to return its response.
POLL_RETURN_SECONDS = 5.0


class Poll:
    """A ReceiveMessage call running in a daemon thread."""

    def __init__(self, sqs, queue_url: str, **params) -> None:
        self._sqs = sqs
        self._params = {"QueueUrl": queue_url, **params}
        self._response: dict | None = None
        self._error: Exception | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._response = self._sqs.receive_message(**self._params)
        except Exception as error:  # handed to the test thread by messages()
            self._error = error

    @property
    def waiting(self) -> bool:
        return self._thread.is_alive()

    def messages(self, timeout: float = POLL_RETURN_SECONDS) -> list[dict]:
        """Wait for the poll to return and return its messages. Fail the test if it is still waiting."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            pytest.fail(f"long poll still waiting after {timeout} s of real time")
        if self._error is not None:
            raise self._error
        return self._response.get("Messages", [])


def start_poll(sqs, queue_url: str, **params) -> Poll:
    poll = Poll(sqs, queue_url, **params)
    time.sleep(POLL_START_SECONDS)
    return poll
