"""One object-store interface, two implementations: a local folder laid out like a bucket, and S3 via boto3.

The exporter only ever calls ``ObjectStore`` methods, so the same code writes to
``<LAKE_ROOT>/exports/<bucket>/<key>`` (the embedded default) and to any S3-compatible store
(AWS S3, moto's server, s3rver, ...). Each ``put`` is atomic (an S3 PUT; a rename on a local disk):
a reader sees the old object, the new one, or none, never half a file.
"""
from __future__ import annotations

import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol, runtime_checkable

from lake import storage as lake_storage
from lake.layout import LakeLayout

MULTIPART_THRESHOLD = 64 * 1024 * 1024


class StorageError(RuntimeError):
    """The store cannot be used (missing bucket, access denied, unreachable endpoint)."""


class BucketNotFound(StorageError):
    pass


@runtime_checkable
class ObjectStore(Protocol):
    def describe(self, bucket: str, key: str = "") -> str:
        """Human/URI form of a location, for logs and metadata."""

    def check_bucket(self, bucket: str) -> None:
        """Raise BucketNotFound (or StorageError) unless objects can be written to `bucket`."""

    def put(self, bucket: str, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        """Write one object atomically, replacing any object of that key."""

    def get(self, bucket: str, key: str) -> bytes: ...

    def list(self, bucket: str, prefix: str) -> dict[str, int]:
        """Keys under `prefix` (a folder-like prefix ending in '/') with their sizes."""

    def delete(self, bucket: str, keys: list[str]) -> None: ...

    def copy(self, bucket: str, source_key: str, key: str) -> None:
        """Copy one object inside the bucket (server-side where the store can), replacing `key`."""


class LocalFolderStore:
    """`<root>/<bucket>/<key>` on a local disk. With create_buckets, a missing bucket folder is created
    (the embedded default just works); without, it is an error as on S3."""

    def __init__(self, root: Path | str, create_buckets: bool = True):
        self.root = Path(root).resolve()
        self.create_buckets = create_buckets

    def _path(self, bucket: str, key: str) -> Path:
        p = (self.root / bucket / key).resolve()
        if self.root / bucket not in p.parents and p != self.root / bucket:
            raise StorageError(f"key escapes the bucket: {key!r}")
        return p

    def describe(self, bucket: str, key: str = "") -> str:
        return str(self.root / bucket / key) if key else str(self.root / bucket)

    def check_bucket(self, bucket: str) -> None:
        folder = self.root / bucket
        if folder.is_dir():
            return
        if self.create_buckets:
            folder.mkdir(parents=True, exist_ok=True)
            return
        raise BucketNotFound(f"bucket folder {folder} does not exist")

    def put(self, bucket: str, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        path = self._path(bucket, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def get(self, bucket: str, key: str) -> bytes:
        try:
            return self._path(bucket, key).read_bytes()
        except FileNotFoundError:
            raise StorageError(f"{self.describe(bucket, key)} does not exist") from None

    def copy(self, bucket: str, source_key: str, key: str) -> None:
        path = self._path(bucket, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
        try:
            shutil.copyfile(self._path(bucket, source_key), tmp)
            os.replace(tmp, path)
        except FileNotFoundError:
            raise StorageError(f"{self.describe(bucket, source_key)} does not exist") from None
        finally:
            tmp.unlink(missing_ok=True)

    def list(self, bucket: str, prefix: str) -> dict[str, int]:
        base = self.root / bucket
        folder = self._path(bucket, prefix) if prefix else base
        if not folder.is_dir():
            return {}
        return {p.relative_to(base).as_posix(): p.stat().st_size for p in sorted(folder.rglob("*")) if p.is_file()}

    def delete(self, bucket: str, keys: list[str]) -> None:
        for key in keys:
            self._path(bucket, key).unlink(missing_ok=True)
        # prune folders left empty, up to the bucket
        base = self.root / bucket
        for key in keys:
            parent = self._path(bucket, key).parent
            while parent != base and parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()
                parent = parent.parent


class LakeFolderStore:
    """`<lake>/exports/<bucket>/<key>` when the lake itself is on S3 (``LAKE_ROOT=s3://...``): the same layout
    as LocalFolderStore, written through the lake's storage (``lake/storage.py``, fsspec) so that the lake's
    endpoint and credentials apply. A bucket is a prefix here: nothing to create."""

    def __init__(self, root):
        self.root = lake_storage.lake_path(root) if isinstance(root, str) else root
        self.fs = lake_storage.filesystem(self.root)

    def _path(self, bucket: str, key: str = ""):
        parts = [p for p in f"{bucket}/{key}".split("/") if p]
        if ".." in parts or not parts or parts[0] != bucket:
            raise StorageError(f"key escapes the bucket: {key!r}")
        return self.root.joinpath(*parts)

    def _key(self, bucket: str, key: str = "") -> str:
        return str(self._path(bucket, key))[len("s3://"):]

    def describe(self, bucket: str, key: str = "") -> str:
        return str(self._path(bucket, key))

    def check_bucket(self, bucket: str) -> None:
        self._path(bucket)

    def put(self, bucket: str, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        lake_storage.write_bytes(self._path(bucket, key), data)

    def get(self, bucket: str, key: str) -> bytes:
        try:
            return self.fs.cat_file(self._key(bucket, key))
        except FileNotFoundError:
            raise StorageError(f"{self.describe(bucket, key)} does not exist") from None

    def copy(self, bucket: str, source_key: str, key: str) -> None:
        try:
            self.fs.copy(self._key(bucket, source_key), self._key(bucket, key))
        except FileNotFoundError:
            raise StorageError(f"{self.describe(bucket, source_key)} does not exist") from None

    def list(self, bucket: str, prefix: str) -> dict[str, int]:
        base = self._key(bucket)
        folder = self._key(bucket, prefix) if prefix else base
        found = self.fs.find(folder, detail=True) if self.fs.exists(folder) else {}
        return {k[len(base) + 1:]: int(v.get("size") or 0) for k, v in sorted(found.items()) if v.get("type") != "directory"}

    def delete(self, bucket: str, keys: list[str]) -> None:
        if keys:
            self.fs.rm([self._key(bucket, k) for k in keys])


class S3Store:
    """Any S3-compatible store through boto3 (pass a client, or let it build one from the environment)."""

    def __init__(self, client=None, endpoint_url: str | None = None, region: str | None = None):
        if client is None:
            client = make_s3_client(endpoint_url=endpoint_url, region=region)
        self.client = client

    def describe(self, bucket: str, key: str = "") -> str:
        return f"s3://{bucket}/{key}"

    def check_bucket(self, bucket: str) -> None:
        from botocore.exceptions import ClientError, EndpointConnectionError
        try:
            self.client.head_bucket(Bucket=bucket)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchBucket", "NotFound"):
                raise BucketNotFound(f"bucket s3://{bucket} does not exist at {self.client.meta.endpoint_url}") from None
            raise StorageError(f"bucket s3://{bucket} is not usable ({code}): {exc}") from None
        except EndpointConnectionError as exc:
            raise StorageError(f"S3 endpoint unreachable: {exc}") from None

    def put(self, bucket: str, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        with s3_errors("write", self.describe(bucket, key)):
            self._put(bucket, key, data, content_type)

    def _put(self, bucket: str, key: str, data: bytes, content_type: str) -> None:
        if len(data) >= MULTIPART_THRESHOLD:
            import io

            from boto3.s3.transfer import TransferConfig
            self.client.upload_fileobj(io.BytesIO(data), bucket, key, ExtraArgs={"ContentType": content_type},
                                       Config=TransferConfig(multipart_threshold=MULTIPART_THRESHOLD,
                                                             multipart_chunksize=MULTIPART_THRESHOLD))
        else:
            self.client.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)

    def get(self, bucket: str, key: str) -> bytes:
        with s3_errors("read", self.describe(bucket, key)):
            return self.client.get_object(Bucket=bucket, Key=key)["Body"].read()

    def copy(self, bucket: str, source_key: str, key: str) -> None:
        with s3_errors("copy", f"{self.describe(bucket, source_key)} to {key}"):
            self.client.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": source_key})

    def list(self, bucket: str, prefix: str) -> dict[str, int]:
        out = {}
        with s3_errors("list", self.describe(bucket, prefix)):
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for obj in page.get("Contents", []):
                    out[obj["Key"]] = obj["Size"]
        return out

    def delete(self, bucket: str, keys: list[str]) -> None:
        with s3_errors("delete", self.describe(bucket, keys[0] if keys else "")):
            self._delete(bucket, keys)

    def _delete(self, bucket: str, keys: list[str]) -> None:
        for i in range(0, len(keys), 1000):
            batch = keys[i:i + 1000]
            resp = self.client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True})
            if resp.get("Errors"):
                first = resp["Errors"][0]
                raise StorageError(f"could not delete s3://{bucket}/{first.get('Key')}: {first.get('Code')} {first.get('Message')}")


# What an S3 error code means for the person running the export, and what to do about it.
_S3_HINTS = {
    "AccessDenied": "access denied: the credentials in use may not do this; check the IAM policy of the bucket",
    "InvalidAccessKeyId": "the access key is not known to the store; check AWS_ACCESS_KEY_ID",
    "SignatureDoesNotMatch": "the secret key does not match the access key; check AWS_SECRET_ACCESS_KEY",
    "NoSuchBucket": "the bucket does not exist; create it or fix destination.bucket in the export spec",
    "NoSuchKey": "the object does not exist",
    "404": "the object does not exist",
    "SlowDown": "the store is throttling requests; retry later",
    "RequestTimeTooSkewed": "the local clock differs too much from the store's; fix the clock",
}


@contextmanager
def s3_errors(action: str, where: str):
    """botocore failures as a StorageError saying what failed where and what to do, never a raw traceback."""
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

    try:
        yield
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", "unknown"))
        hint = _S3_HINTS.get(code, exc.response.get("Error", {}).get("Message") or "see the store's logs")
        raise StorageError(f"cannot {action} {where}: {code}: {hint}") from None
    except NoCredentialsError:
        raise StorageError(f"cannot {action} {where}: no AWS credentials found; set AWS_ACCESS_KEY_ID and "
                           "AWS_SECRET_ACCESS_KEY (or a profile)") from None
    except EndpointConnectionError as exc:
        raise StorageError(f"cannot {action} {where}: the S3 endpoint is unreachable ({exc}); check S3_ENDPOINT_URL "
                           "and the network") from None
    except BotoCoreError as exc:
        raise StorageError(f"cannot {action} {where}: {type(exc).__name__}: {exc}") from None


def make_s3_client(endpoint_url: str | None = None, region: str | None = None, **credentials):
    """A boto3 S3 client; credentials from the standard AWS chain unless given. Path-style addressing
    when an endpoint URL is set (local servers do not resolve bucket sub-domains)."""
    import boto3
    from botocore.config import Config

    endpoint_url = endpoint_url or os.environ.get("S3_ENDPOINT_URL") or None
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    config = Config(retries={"max_attempts": 5, "mode": "standard"}, max_pool_connections=16,
                    s3={"addressing_style": "path"} if endpoint_url else None)
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url, region_name=region, config=config, **credentials)


def default_local_root():
    """EXPORT_LOCAL_ROOT, else the lake's exports folder (a local folder, or s3://... for an S3 lake)."""
    return lake_storage.lake_path(os.environ.get("EXPORT_LOCAL_ROOT") or str(LakeLayout.from_env().exports))


def store_from_env(backend: str | None = None, endpoint_url: str | None = None, local_root: str | Path | None = None) -> ObjectStore:
    """EXPORT_STORAGE=local|s3 (default: s3 when S3_ENDPOINT_URL is set, else local under <LAKE_ROOT>/exports)."""
    endpoint_url = endpoint_url or os.environ.get("S3_ENDPOINT_URL") or None
    backend = (backend or os.environ.get("EXPORT_STORAGE") or ("s3" if endpoint_url else "local")).lower()
    if backend == "s3":
        return S3Store(endpoint_url=endpoint_url)
    if backend == "local":
        root = local_root or default_local_root()
        return LakeFolderStore(root) if lake_storage.is_remote(root) else LocalFolderStore(root)
    raise StorageError(f"EXPORT_STORAGE must be 'local' or 's3', got {backend!r}")


