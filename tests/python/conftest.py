"""Fixtures for the end-to-end tests: a Postroom server and SQS clients for it.

The session server runs with `--in-memory --clock manual`, so tests move time
with `advance(seconds)` instead of sleeping. Every test starts from an empty
server because `reset_server` posts /_postroom/reset before it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
import requests
from botocore.config import Config

from postroom_server import PostroomServer

REGION = "us-east-1"
ACCESS_KEY_ID = "AKIDEXAMPLE"
SECRET_ACCESS_KEY = "dummy-secret-access-key"
DEFAULT_ACCOUNT = "000000000000"
QUERY_NAMESPACE = "http://queue.amazonaws.com/doc/2012-11-05/"
# The server parses the region and access key from this header but does not
# check the signature.
QUERY_AUTHORIZATION = (
    f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/20260101/{REGION}/sqs/aws4_request, "
    "SignedHeaders=host, Signature=0"
)

# Keep every SDK and CLI call on the local server: dummy credentials, no
# profile or config files, no instance metadata lookups, no proxies.
os.environ["AWS_ACCESS_KEY_ID"] = ACCESS_KEY_ID
os.environ["AWS_SECRET_ACCESS_KEY"] = SECRET_ACCESS_KEY
os.environ["AWS_DEFAULT_REGION"] = REGION
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
os.environ["NO_PROXY"] = "127.0.0.1,localhost"
os.environ["no_proxy"] = "127.0.0.1,localhost"
for variable in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS"):
    os.environ.pop(variable, None)


def make_client(service: str, endpoint: str, *, read_timeout: float = 30):
    """Create a boto3 client of `service` for `endpoint` that fails fast instead of retrying."""
    config = Config(region_name=REGION, retries={"total_max_attempts": 1}, read_timeout=read_timeout)
    return boto3.session.Session().client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        config=config,
    )


def make_sqs_client(
    endpoint: str,
    *,
    access_key_id: str = ACCESS_KEY_ID,
    region: str = REGION,
    read_timeout: float = 30,
):
    """Create a boto3 SQS client for `endpoint` that fails fast instead of retrying."""
    config = Config(
        region_name=region,
        retries={"total_max_attempts": 1},
        connect_timeout=5,
        read_timeout=read_timeout,
    )
    return boto3.session.Session().client(
        "sqs",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        config=config,
    )


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> PostroomServer:
    data_dir = tmp_path_factory.mktemp("postroom-session")
    postroom = PostroomServer(data_dir, in_memory=True, manual_clock=True).start()
    yield postroom
    exit_code = postroom.stop()
    assert exit_code == 0, f"postroom exited with code {exit_code}; log:\n{postroom.log_tail()}"


@pytest.fixture
def durable_server(tmp_path):
    """Return a function that starts a durable server on one data directory,
    with the extra command-line options given to it.

    Every server started through it is killed at teardown if it is still running.
    """
    started: list[PostroomServer] = []

    def start(*options: str) -> PostroomServer:
        server = PostroomServer(tmp_path / "data", in_memory=False, manual_clock=True, options=options).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill()


@pytest.fixture(autouse=True)
def reset_server(server: PostroomServer) -> None:
    server.reset()


@pytest.fixture
def endpoint(server: PostroomServer) -> str:
    return server.endpoint


@pytest.fixture
def advance(server: PostroomServer):
    """Return a function that moves the server clock forward by N seconds."""
    return server.advance_clock


@pytest.fixture
def clock_now_ms(server: PostroomServer):
    return server.clock_now_ms


@pytest.fixture(scope="session")
def sqs(server: PostroomServer):
    # One client for the session: creating a boto3 client takes tens of milliseconds.
    return make_sqs_client(server.endpoint)


@pytest.fixture(scope="session")
def sqs_for(server: PostroomServer):
    """Return a factory of clients with another access key or region, one per combination."""
    clients = {}

    def factory(*, access_key_id: str = ACCESS_KEY_ID, region: str = REGION):
        key = (access_key_id, region)
        if key not in clients:
            clients[key] = make_sqs_client(server.endpoint, access_key_id=access_key_id, region=region)
        return clients[key]

    return factory


@pytest.fixture
def queue_url(sqs) -> str:
    """URL of a fresh standard queue with default attributes."""
    return sqs.create_queue(QueueName="main")["QueueUrl"]


def aws_cli_path() -> str:
    """Return the aws CLI installed beside this Python, else the one on PATH."""
    beside_python = Path(sys.executable).parent / "aws"
    if beside_python.is_file():
        return str(beside_python)
    found = shutil.which("aws")
    if found is None:
        raise FileNotFoundError("aws CLI not found: pip install -r tests/python/requirements.txt")
    return found


@pytest.fixture
def cli_run(endpoint: str):
    """Return a function that runs `aws sqs ARGS` and returns the CompletedProcess."""
    aws = aws_cli_path()

    def run(*args: str) -> subprocess.CompletedProcess:
        command = [aws, "--endpoint-url", endpoint, "--region", REGION, "--output", "json", "sqs", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=60, env=os.environ.copy())

    return run


@pytest.fixture
def cli(cli_run):
    """Return a function that runs `aws sqs ARGS` and returns the parsed JSON output.

    Returns None for commands that print nothing. Raises AssertionError with
    the CLI's stderr when the command fails.
    """

    def run(*args: str):
        completed = cli_run(*args)
        assert completed.returncode == 0, (
            f"aws sqs {' '.join(args)} exited with {completed.returncode}: {completed.stderr}"
        )
        if not completed.stdout.strip():
            return None
        return json.loads(completed.stdout)

    return run


def strip_namespaces(element: ElementTree.Element) -> None:
    for node in element.iter():
        if node.tag.startswith("{"):
            node.tag = node.tag.split("}", 1)[1]


@dataclass
class QueryResponse:
    """A parsed query-protocol response. `root` has its namespaces removed."""

    status_code: int
    headers: Mapping[str, str]
    text: str
    namespace: str | None
    root: ElementTree.Element

    def text_of(self, path: str) -> str | None:
        return self.root.findtext(path)

    def all_text(self, path: str) -> list[str]:
        return [node.text or "" for node in self.root.findall(path)]

    @property
    def error_code(self) -> str | None:
        return self.root.findtext("Error/Code")

    @property
    def error_type(self) -> str | None:
        return self.root.findtext("Error/Type")

    @property
    def error_message(self) -> str | None:
        return self.root.findtext("Error/Message")

    def attributes(self, path: str) -> dict[str, str]:
        """Collect <Attribute><Name/><Value/></Attribute> pairs under `path`."""
        return {node.findtext("Name"): node.findtext("Value") for node in self.root.findall(path)}


@pytest.fixture
def query(endpoint: str):
    """Return a function that posts a query-protocol form and parses the XML response.

    `path` selects the request path, for example a queue's path
    `/000000000000/name` in place of a QueueUrl parameter. `headers` adds or
    replaces request headers. Parameters with dots go in through
    `**{"MessageAttribute.1.Name": "x"}`.
    """

    def post(action: str, *, path: str = "/", headers: dict | None = None, **params) -> QueryResponse:
        form = {"Action": action, "Version": "2012-11-05"}
        form.update({key: str(value) for key, value in params.items()})
        request_headers = {"Authorization": QUERY_AUTHORIZATION, **(headers or {})}
        response = requests.post(f"{endpoint}{path}", data=form, headers=request_headers, timeout=30)
        root = ElementTree.fromstring(response.content)
        namespace = root.tag[1:].split("}", 1)[0] if root.tag.startswith("{") else None
        strip_namespaces(root)
        return QueryResponse(response.status_code, response.headers, response.text, namespace, root)

    return post
