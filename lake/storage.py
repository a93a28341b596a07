"""Where the lake's files live: a local folder, or a bucket on any S3-compatible endpoint.

``LAKE_ROOT=/some/folder`` (or unset: ``<repo>/data``) keeps the lake on the local disk; ``LAKE_ROOT=s3://bucket/prefix``
puts every lake file (landing, bronze, marts, features, registry, scores, exports ...) in object storage.
The endpoint and credentials come from the standard AWS environment (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``), so AWS, MinIO, Ceph or a local
moto server all work the same.

Why fsspec (``s3fs``) and not DuckDB's httpfs: httpfs is an extension DuckDB downloads at run time, and
this project installs only from the package registries. s3fs is a PyPI package; DuckDB reads and writes
through it once it is registered on a connection (``con.register_filesystem``), dbt-duckdb registers it
from the profile's ``filesystems:`` option, pyarrow accepts it as ``filesystem=``, and
``universal_pathlib`` gives the rest of the code the same ``pathlib`` API on a local folder and on S3.

A path of the lake is therefore a :class:`LakePath`: a ``pathlib.Path`` for a local lake, a ``upath.UPath``
for S3 (``/``, ``exists``, ``glob``, ``open``, ``read_text`` ... behave the same). Write whole files (S3 has
no append or rename); DuckDB and pyarrow get ``str(path)`` plus :func:`connect` / :func:`filesystem`.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

    import duckdb
    from fsspec import AbstractFileSystem
    from upath import UPath

LakePath = Union[Path, "UPath"]
REMOTE_SCHEMES = ("s3://",)


class LakeLocationError(ValueError):
    """LAKE_ROOT names a location the lake cannot live in."""


def is_remote(path: str | os.PathLike) -> bool:
    return str(path).startswith(REMOTE_SCHEMES)


def s3_options() -> dict:
    """fsspec options for S3: endpoint from the AWS environment; listings never cached (other processes,
    such as dbt or another Dagster worker, write to the same prefix)."""
    options: dict = {"use_listings_cache": False}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        options["client_kwargs"] = {"endpoint_url": endpoint}
    return options


def lake_path(location: str | os.PathLike) -> LakePath:
    """A local folder (resolved) or an ``s3://bucket/prefix`` location as a path object."""
    text = str(location)
    if is_remote(text):
        from upath import UPath

        bucket = text[len("s3://"):].split("/", 1)[0]
        if not bucket:
            raise LakeLocationError(f"LAKE_ROOT={text!r} has no bucket: use s3://<bucket>/<prefix>")
        return UPath(text.rstrip("/"), **s3_options())
    if "://" in text:
        raise LakeLocationError(f"LAKE_ROOT={text!r}: the lake lives in a local folder or at s3://<bucket>/<prefix>")
    return Path(text).resolve()


def filesystem(path: LakePath) -> "AbstractFileSystem | None":
    """The fsspec filesystem behind a remote lake path; None for a local one (DuckDB and pyarrow read it natively)."""
    return path.fs if is_remote(path) else None


def register(con: "duckdb.DuckDBPyConnection", path: LakePath) -> "duckdb.DuckDBPyConnection":
    """Let DuckDB read and write ``s3://`` paths of this lake through fsspec (idempotent)."""
    fs = filesystem(path)
    if fs is not None and not con.filesystem_is_registered(fs.protocol[0] if isinstance(fs.protocol, tuple) else fs.protocol):
        con.register_filesystem(fs)
    return con


def connect(path: LakePath, database: str | os.PathLike = ":memory:", **kwargs) -> "duckdb.DuckDBPyConnection":
    """A DuckDB connection that can read and write the lake at ``path`` (local or S3)."""
    import duckdb

    return register(duckdb.connect(str(database), **kwargs), path)


def dbt_filesystems(path: LakePath) -> list[dict]:
    """The dbt-duckdb profile's ``filesystems:`` entries for the lake at ``path`` (empty for a local lake)."""
    if not is_remote(path):
        return []
    entry: dict = {"fs": "s3", "use_listings_cache": False}
    endpoint = s3_options().get("client_kwargs", {}).get("endpoint_url")
    if endpoint:
        entry["client_kwargs"] = {"endpoint_url": endpoint}
    return [entry]


def mtime(path: LakePath) -> float:
    """Modification time (seconds) of a file, 0.0 when it does not exist: part of cache keys. For a folder on
    S3 (a prefix has no time of its own), the newest of its files."""
    if is_remote(path) and path.is_dir():
        return max((mtime(p) for p in path.iterdir()), default=0.0)
    try:
        return float(path.stat().st_mtime)
    except (FileNotFoundError, OSError):
        return 0.0


def mtime_ns(path: LakePath) -> int:
    """Modification time in nanoseconds (S3: the object's LastModified, to the second)."""
    st = path.stat()
    return int(getattr(st, "st_mtime_ns", 0) or round(float(st.st_mtime) * 1e9))


def sql_string(value: str | os.PathLike) -> str:
    """A path as a SQL string literal (for DDL, where DuckDB takes no bound parameters)."""
    return "'" + str(value).replace("'", "''") + "'"


def parquet_source(path: LakePath) -> str:
    """What DuckDB's ``read_parquet`` takes for a Parquet dataset of the lake: the file itself, or
    ``<folder>/*.parquet`` for a folder of part files (DuckDB reads a bare folder only on a local disk; through
    fsspec it needs the glob; the folder's ``_manifest.json`` and ``_fingerprints.arrow`` do not match it)."""
    return f"{path}/*.parquet" if path.is_dir() else str(path)


def read_parquet(path: LakePath, **kwargs):
    """A Parquet file of the lake as a pyarrow Table (local or S3)."""
    import pyarrow.parquet as pq

    fs = filesystem(path)
    return pq.read_table(_fs_path(path) if fs else str(path), filesystem=fs, **kwargs)


def parquet_metadata(path: LakePath):
    import pyarrow.parquet as pq

    fs = filesystem(path)
    if fs is None:
        return pq.read_metadata(str(path))
    with fs.open(_fs_path(path), "rb") as fh:
        return pq.read_metadata(fh)


def _temporary(target: Path) -> Path:
    """Where a local whole-file write goes before its rename into place (a hidden sibling)."""
    import uuid

    return target.with_name(f".{target.name}.{uuid.uuid4().hex}{_TEMPORARY_SUFFIX}")


_TEMPORARY_SUFFIX = ".tmp"


def remove_unfinished_writes(folder: LakePath) -> int:
    """Delete the temporary files that writers killed mid-write left in ``folder`` (a killed process never
    reaches its rename); returns how many. S3 writes are single PUTs and leave none."""
    if is_remote(folder) or not Path(folder).is_dir():
        return 0
    stray = [p for p in Path(folder).iterdir() if p.name.startswith(".") and p.name.endswith(_TEMPORARY_SUFFIX)]
    for p in stray:
        p.unlink(missing_ok=True)
    return len(stray)


def write_parquet(table, path: LakePath, **kwargs) -> LakePath:
    """Write a whole Parquet file atomically: readers see the old file or the new one, never half of one
    (locally a temporary file renamed into place; an S3 PUT is atomic by itself)."""
    import pyarrow.parquet as pq

    fs = filesystem(path)
    if fs is None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = _temporary(target)
        pq.write_table(table, str(tmp), **kwargs)
        os.replace(tmp, target)
    else:
        pq.write_table(table, _fs_path(path), filesystem=fs, **kwargs)
    return path


def write_text(path: LakePath, text: str) -> LakePath:
    """Write a whole text file atomically (see write_parquet)."""
    if is_remote(path):
        path.write_text(text, encoding="utf-8")
        return path
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary(target)
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)
    return path


def replace(source: LakePath, target: LakePath) -> LakePath:
    """Publish ``source`` as ``target`` (locally an atomic rename; on S3 a server-side copy, then the delete)."""
    fs = filesystem(target)
    if fs is None:
        os.replace(source, target)
    else:
        fs.mv(_fs_path(source), _fs_path(target))
    return target


def write_bytes(path: LakePath, data: bytes) -> LakePath:
    """Write a whole binary file atomically (see write_parquet)."""
    fs = filesystem(path)
    if fs is not None:
        fs.pipe_file(_fs_path(path), data)
        return path
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary(target)
    tmp.write_bytes(data)
    os.replace(tmp, target)
    return path


def create_exclusive(path: LakePath, data: bytes) -> bool:
    """Create a file only if it does not exist yet; False when it already did. The one compare-and-set the
    lake needs (claiming a registry version number): locally ``open(..., 'x')``, on S3 a conditional PUT
    (``If-None-Match: *``, supported by AWS S3 since 2024, MinIO and moto)."""
    fs = filesystem(path)
    if fs is None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(target, "xb") as fh:
                fh.write(data)
        except FileExistsError:
            return False
        return True
    try:
        fs.pipe_file(_fs_path(path), data, mode="create")
    except FileExistsError:
        return False
    except OSError as exc:  # s3fs maps 412 PreconditionFailed to a plain OSError in some versions
        if "PreconditionFailed" in str(exc) or "412" in str(exc):
            return False
        raise
    return True


def read_frame(path: LakePath, **kwargs):
    """A Parquet file (or a folder of parts) of the lake as a pandas DataFrame."""
    return read_parquet(path, **kwargs).to_pandas()


def write_frame(frame, path: LakePath, **kwargs) -> LakePath:
    """Write a pandas DataFrame as one whole Parquet file (no index), atomically."""
    import pyarrow as pa

    return write_parquet(pa.Table.from_pandas(frame, preserve_index=False), path, **kwargs)


def remove_tree(path: LakePath) -> None:
    """Delete a folder of the lake and everything under it (nothing when it does not exist)."""
    fs = filesystem(path)
    if fs is None:
        import shutil

        shutil.rmtree(path, ignore_errors=True)
        if Path(path).is_file():
            Path(path).unlink()
        return
    if fs.exists(_fs_path(path)):
        fs.rm(_fs_path(path), recursive=True)


def publish_folder(staged: LakePath, target: LakePath, last: tuple[str, ...] = ()) -> LakePath:
    """Publish a fully written folder ``staged`` (a sibling of ``target``) as ``target``.

    Locally an atomic swap: readers see the old folder or the new one. S3 has no rename of a prefix, so there
    the files named in ``last`` (the manifest) are deleted from ``target`` first, every other file is copied
    server-side (each object whole), files of the old folder that the new one lacks are deleted, and the
    ``last`` files are copied at the end: a folder with a manifest is complete, and a reader that meets one
    without a manifest (a publish in progress or interrupted) treats it as not built. Then ``staged`` goes."""
    fs = filesystem(target)
    if fs is None:
        import shutil
        import uuid

        target = Path(target)
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        if target.exists():
            os.replace(target, old)
        os.replace(staged, target)
        if old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
        elif old.exists():
            old.unlink()
        return target
    src, dst = _fs_path(staged).rstrip("/"), _fs_path(target).rstrip("/")
    new = {k[len(src) + 1:] for k in fs.find(src)}
    existing = {k[len(dst) + 1:] for k in fs.find(dst)} if fs.exists(dst) else set()
    for name in last:
        if name in existing:
            fs.rm_file(f"{dst}/{name}")
    body = sorted(n for n in new if n not in last)
    if body:
        fs.copy([f"{src}/{n}" for n in body], [f"{dst}/{n}" for n in body])
    stale = sorted(existing - new)
    if stale:
        fs.rm([f"{dst}/{n}" for n in stale])
    for name in last:
        if name in new:
            fs.copy(f"{src}/{name}", f"{dst}/{name}")
    fs.rm(src, recursive=True)
    return target


def upload_new_folder(local: str | os.PathLike, target: LakePath, claim: str, last: str) -> bool:
    """Publish a local folder as a new, never-overwritten folder ``target``; False when ``target`` is taken.

    Locally an atomic rename of ``local`` (a sibling folder; the rename fails when ``target`` exists). On S3
    the folder is first claimed by creating ``target/<claim>`` exclusively (a conditional PUT), then the files
    are uploaded with ``last`` (the manifest) at the end: a folder without ``last`` is incomplete."""
    import errno

    source = Path(local)
    fs = filesystem(target)
    if fs is None:
        target = Path(target)
        if target.exists():
            return False
        try:
            os.rename(source, target)  # atomic; fails if the target exists and is not empty
        except OSError as exc:
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                return False
            raise
        return True
    if not create_exclusive(target / claim, b""):
        return False
    files = sorted(p for p in source.rglob("*") if p.is_file() and p.name != last)
    dst = _fs_path(target)
    if files:
        fs.put([str(p) for p in files], [f"{dst}/{p.relative_to(source).as_posix()}" for p in files])
    fs.put_file(str(source / last), f"{dst}/{last}")
    return True


@contextlib.contextmanager
def staging_folder(near: LakePath):
    """A local folder to write files into before publishing them next to ``near`` (``upload_new_folder``):
    for a local lake a hidden sibling in the same folder (so the publish is a rename), for S3 a temporary
    folder. Removed on exit unless it was renamed away."""
    import shutil
    import tempfile
    import uuid

    if filesystem(near) is None:
        folder = Path(near) / f".tmp-{uuid.uuid4().hex}"
        folder.mkdir(parents=True)
    else:
        folder = Path(tempfile.mkdtemp(prefix="lake-stage-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def download_folder(folder: LakePath, local: str | os.PathLike) -> Path:
    """Copy a lake folder's files into a local folder (for libraries that only read local files)."""
    fs = filesystem(folder)
    dest = Path(local)
    dest.mkdir(parents=True, exist_ok=True)
    if fs is None:
        import shutil

        shutil.copytree(folder, dest, dirs_exist_ok=True)
        return dest
    src = _fs_path(folder).rstrip("/")
    keys = fs.find(src)
    if keys:
        fs.get(keys, [str(dest / k[len(src) + 1:]) for k in keys])
    return dest


def mirror_files(folder: LakePath, local: str | os.PathLike,
                 skip: Callable[[str, int, int], bool] = lambda rel, size, mtime_ns: False) -> int:
    """Copy a remote folder's files into a local folder in one concurrent fetch (s3fs gets them at once, where
    file-by-file reads cost several requests each), keeping relative paths and modification times, except the
    files ``skip(relative path, size, mtime_ns)`` leaves out. Returns how many were left out."""
    fs = filesystem(folder)
    if fs is None:
        raise ValueError(f"{folder} is a local folder: read it in place")
    src = _fs_path(folder).rstrip("/")
    dest = Path(local)
    listing = fs.find(src, detail=True) if fs.exists(src) else {}
    wanted, left_out = [], 0
    for key, info in sorted(listing.items()):
        if info.get("type") == "directory":
            continue
        rel = key[len(src) + 1:]
        mtime_ns = int(round(info["LastModified"].timestamp() * 1e9))
        if skip(rel, int(info["size"]), mtime_ns):
            left_out += 1
        else:
            wanted.append((key, dest / rel, mtime_ns))
    for _, path, _ in wanted:
        path.parent.mkdir(parents=True, exist_ok=True)
    if wanted:
        fs.get([k for k, _, _ in wanted], [str(p) for _, p, _ in wanted])
    for _, path, mtime_ns in wanted:  # arrival order (which copy of a repeated key came first) survives the copy
        os.utime(path, ns=(mtime_ns, mtime_ns))
    return left_out


def makedirs(path: LakePath) -> LakePath:
    """Create a folder of a local lake; nothing to do on S3 (keys need no folders)."""
    if not is_remote(path):
        Path(path).mkdir(parents=True, exist_ok=True)
    return path


def _fs_path(path: LakePath) -> str:
    """bucket/key form of an s3:// path, as fsspec filesystems take it."""
    return str(path)[len("s3://"):] if is_remote(path) else str(path)


def put_folder(local: str | os.PathLike, target: LakePath) -> int:
    """Copy a local folder's files to a lake location (S3 upload, or a local copy); returns the file count."""
    import shutil

    source = Path(local)
    files = [p for p in source.rglob("*") if p.is_file()]
    fs = filesystem(target)
    rels = [p.relative_to(source).as_posix() for p in files]
    if fs is None:
        for p, rel in zip(files, rels):
            dest = Path(target) / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(p, dest)
    elif files:  # one call: s3fs uploads the files concurrently
        fs.put([str(p) for p in files], [f"{_fs_path(target)}/{rel}" for rel in rels])
    return len(files)


if __name__ == "__main__":  # `python -m lake.storage put LOCAL_FOLDER s3://bucket/prefix/landing`
    import sys

    if len(sys.argv) != 4 or sys.argv[1] != "put":
        raise SystemExit("usage: python -m lake.storage put LOCAL_FOLDER LAKE_LOCATION")
    print(f"{put_folder(sys.argv[2], lake_path(sys.argv[3]))} files -> {sys.argv[3]}")
