"""A real S3 endpoint for tests: moto's standalone server on 127.0.0.1, a free port per server.

The fixtures (`s3_server`, `s3_client`, `s3_bucket`) live in tests/conftest.py; this module holds the server
and helpers they and the tests use. The server speaks HTTP like any S3-compatible store; the code under test talks to it through boto3
exactly as it would to AWS (no in-process mocking). One server per pytest process: each xdist worker
starts its own, on a free port. Each test gets its own bucket, so tests sharing a server never see
each other's objects.
"""
from __future__ import annotations

from dataclasses import dataclass

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


def all_keys(client, bucket: str) -> list[str]:
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return sorted(keys)
