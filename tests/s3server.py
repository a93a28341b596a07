"""A real S3 endpoint for tests: moto's standalone server on 127.0.0.1, a free port per server.

Import the fixtures into a test module (`from tests.s3server import s3_server, s3_client, s3_bucket`).
The server speaks HTTP like any S3-compatible store; the code under test talks to it through boto3
exactly as it would to AWS (no in-process mocking). One server per pytest process: each xdist worker
starts its own, on a free port. Each test gets its own bucket, so tests sharing a server never see
each other's objects.
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

import pytest

FAKE_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@dataclass
class S3Server:
    endpoint_url: str
    _client: object = None

    def client(self):
        """One boto3 client per server (creating clients is slow; they are thread-safe)."""
        if self._client is None:
            from exports.storage import make_s3_client
            self._client = make_s3_client(endpoint_url=self.endpoint_url, region="us-east-1", **FAKE_CREDENTIALS)
        return self._client


@pytest.fixture(scope="session")
def s3_server():
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield S3Server(endpoint_url=f"http://{host}:{port}")
    finally:
        server.stop()


@pytest.fixture
def s3_client(s3_server, monkeypatch):
    # Never let a test pick up real credentials or a real endpoint from the developer's environment.
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_CREDENTIALS["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_CREDENTIALS["aws_secret_access_key"])
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return s3_server.client()


@pytest.fixture
def s3_bucket(s3_client):
    """A fresh, empty bucket (unique name) on the test server."""
    name = f"test-{uuid.uuid4().hex[:20]}"
    s3_client.create_bucket(Bucket=name)
    return name


def all_keys(client, bucket: str) -> list[str]:
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return sorted(keys)
