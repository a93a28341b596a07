"""Ingest a table's new landed files into bronze + quarantine, atomically, idempotently, one run at a time.

Per batch (the files of a table not ingested before, in batches of at most INGEST_BATCH_BYTES of landed
data so memory stays bounded whatever the backlog; a backlog of several batches is taken in arrival order),
under the table's lake-level lock:
  list every entry of the landing folder -> read each file on its own (a file that cannot be read is
  rejected whole and the others go on) -> validate all rows in one DuckDB query -> stage bronze and
  quarantine Parquet under `*.parquet.staged` (not matched by the `bronze/<table>/*.parquet` glob readers
  use) -> write the ingest log (the commit point) -> publish the staged files by rename.
A run that finds staged files rolls them forward when their log exists, and removes them when it does not,
so no reader ever sees an uncommitted batch and a re-run recovers without duplicates.

Nothing in landing is skipped without trace: every file is ingested, rejected whole (with its records
counted), or logged as `unrecognised`. Conservation holds per file: landed records = bronze + quarantined.

Correction policy: a file is identified by its path under landing. A file re-delivered under the same name
with the same content is skipped (idempotent); with different content it is a *conflict*: rejected whole
(every record quarantined with reason `conflict`), because bronze is append-only and the earlier version's
rows are already downstream. Corrections are delivered under a new file name: their changed rows then
ingest and the unchanged ones are quarantined as `duplicate key: already in bronze`.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

import duckdb
import numpy as np
import pyarrow as pa
from filelock import FileLock, Timeout

from lake import storage
from lake.contracts import Contract
from lake.layout import LakeLayout
from lake.pii import redact
from orchestration.ingest.readers import JSON_TEXT, LINE, UnreadableFile, extract_json_batch, read_landed_file
from orchestration.ingest.validate import validation_sql

log = logging.getLogger(__name__)
FILE = "_source_file"
ARRIVAL = "_arrival"
SCHEMA_FILE = "_schema.parquet"  # empty typed file so a table with no rows yet is still queryable
STAGED = ".staged"  # suffix of written-but-unpublished batch files
DEFAULT_LOCK_TIMEOUT_S = float(os.environ.get("INGEST_LOCK_TIMEOUT_S", 900))
# Landed bytes read into one batch: a batch holds its raw text, the validated rows and bronze in memory at once
# (~5x the landed size; 4.6 GB of JSONL orders at 1M customers in one batch went past 23 GB and was killed).
BATCH_BYTES_ENV = "INGEST_BATCH_BYTES"
RUN_PART = "_part"  # batch_<run>_part0001, ...: the batches of one run
DEFAULT_BATCH_BYTES = 256 * 2**20
STATUSES = ("ingested", "empty", "rejected", "conflict", "unrecognised")


class IngestBusy(RuntimeError):
    """Another ingest of the same table holds the lake's lock."""


@dataclass
class FileResult:
    file: str
    sha256: str
    landed: int
    bronze: int = 0
    quarantined: int = 0
    status: str = "ingested"  # one of STATUSES
    notes: list[str] = field(default_factory=list)
    size_bytes: int | None = None
    mtime_ns: int | None = None


@dataclass
class BatchResult:
    table: str
    batch_id: str | None  # the last batch committed by this run (a large backlog is several: batch_ids)
    files: list[FileResult]
    skipped_files: int  # already ingested earlier (idempotency)
    batch_ids: list[str] = field(default_factory=list)

    @property
    def landed(self) -> int:
        return sum(f.landed for f in self.files)

    @property
    def bronze(self) -> int:
        return sum(f.bronze for f in self.files)

    @property
    def quarantined(self) -> int:
        return sum(f.quarantined for f in self.files)

    @property
    def conserved(self) -> bool:
        return all(f.landed == f.bronze + f.quarantined for f in self.files)

    def by_status(self, status: str) -> list[FileResult]:
        return [f for f in self.files if f.status == status]


def bronze_schema(contract: Contract) -> pa.Schema:
    con = duckdb.connect()
    cols = ", ".join(f"CAST(NULL AS {c.duckdb_type if c.type != 'json' else 'VARCHAR'}) AS \"{c.bronze_name}\""
                     for c in contract.columns)
    table = con.sql(f"SELECT {cols}, '' AS {FILE}, 0::BIGINT AS {LINE}, now()::TIMESTAMP AS _ingested_at, "
                        f"'' AS _batch_id LIMIT 0").to_arrow_table()
    return table.schema


QUARANTINE_SCHEMA_EXTRA = [(FILE, pa.string()), (LINE, pa.int64()), ("reason", pa.string())]


def quarantine_column(name: str) -> str:
    """A column's name in quarantine; a source column named like quarantine's own (blacklist `reason`) is
    suffixed so the file never holds two columns of one name."""
    return f"{name}_value" if name in {n for n, _ in QUARANTINE_SCHEMA_EXTRA} else name


def quarantine_schema(contract: Contract) -> pa.Schema:
    return pa.schema(QUARANTINE_SCHEMA_EXTRA + [(quarantine_column(c.bronze_name), pa.string()) for c in contract.columns])


LOG_SCHEMA = pa.schema([
    ("file", pa.string()), ("sha256", pa.string()), ("landed_rows", pa.int64()), ("bronze_rows", pa.int64()),
    ("quarantined_rows", pa.int64()), ("status", pa.string()), ("notes", pa.string()), ("batch_id", pa.string()),
    ("ingested_at", pa.timestamp("us")), ("size_bytes", pa.int64()), ("mtime_ns", pa.int64()),
])


def _log_dir(lake: LakeLayout, table: str) -> Path:
    return lake.ingest_log_dir(table)


def ingest_log(lake: LakeLayout, table: str) -> list[dict]:
    """Every committed log row of the table (older logs may lack the size / mtime columns)."""
    logs = sorted(_log_dir(lake, table).glob("batch_*.parquet"))
    if not logs:
        return []
    return storage.connect(lake.root).sql("SELECT * FROM read_parquet($files, union_by_name = true)",
                                          params={"files": [str(p) for p in logs]}).to_arrow_table().to_pylist()


def file_identity(path: Path) -> str:
    """The content identity of a landed entry: SHA-256 of a file; a marker for what is not a file."""
    if path.is_symlink() and not path.exists():
        return "dangling-link"
    if path.is_dir():
        return "directory"
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def landed_entries(lake: LakeLayout, contract: Contract) -> list[Path]:
    """Every entry of the table's landing folder a delivery could be (see :func:`entries_under`)."""
    return entries_under(lake.landing, contract)


def entries_under(landing: Path, contract: Contract) -> list[Path]:
    """Every entry of the table's folder under ``landing`` (the lake's, or a local copy) a delivery could be:
    regular files of any name, links, and directories named like a data file (their content is listed too).
    Other directories are just folders."""
    folder = contract.landing_dir(landing)
    if not folder.exists():
        return []
    out = []
    for p in sorted(folder.rglob("*")):
        if p.is_symlink() or p.is_file() or (p.is_dir() and contract.recognises(p.name)):
            out.append(p)
    return out


def _recover(lake: LakeLayout, table: str) -> list[str]:
    """Finish or undo what a crashed run left: staged files of a committed batch are published, staged
    files of an uncommitted one and half-written temp files are removed."""
    committed = {p.stem for p in _log_dir(lake, table).glob("batch_*.parquet")}
    done = []
    for folder in (lake.bronze_dir(table), lake.quarantine_dir(table)):
        for p in folder.glob(f"batch_*.parquet{STAGED}"):
            final = p.with_name(p.name[: -len(STAGED)])
            if final.stem in committed:
                storage.replace(p, final)
                done.append(f"published {final.name}")
            else:
                p.unlink()
                done.append(f"removed uncommitted {p.name}")
        for p in folder.glob("batch_*.parquet"):  # published data without a log (older protocol)
            if p.stem not in committed:
                p.unlink()
                done.append(f"removed uncommitted {p.name}")
        for p in folder.glob("*.tmp"):
            p.unlink()
    return done


def _write_atomic(table: pa.Table, path: Path) -> None:
    storage.write_parquet(table, path, compression="zstd")


def _existing_keys_sql(lake: LakeLayout, contract: Contract) -> str | None:
    files = sorted(lake.bronze_dir(contract.table).glob("batch_*.parquet"))
    if not files:
        return None
    listing = ", ".join(storage.sql_string(f) for f in files)
    keys = ", ".join(f'"{k}"' for k in contract.primary_key)
    return f"SELECT {keys} FROM read_parquet([{listing}])"


def ingest_table(
    contract: Contract,
    lake: LakeLayout,
    token_key: str,
    now: datetime | None = None,
    progress: Callable[[str], None] = log.info,
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
    _crash_before_log: bool = False,
) -> BatchResult:
    """Ingest the table's new landed files. A second ingest of the same table on the same lake waits for
    the first (up to `lock_timeout_s`), then fails with `IngestBusy`."""
    lock_path = lake.ingest_lock(contract.table)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lock_path))
    started = time.monotonic()
    try:
        lock.acquire(timeout=lock_timeout_s)
    except Timeout:
        raise IngestBusy(f"{contract.table}: another ingest of this table is running on the lake at {lake.root} "
                         f"(lock {lock_path}); waited {lock_timeout_s:.0f} s. Retry when it has finished.") from None
    try:
        waited = time.monotonic() - started
        if waited > 1:
            progress(f"{contract.table}: waited {waited:.1f} s for another ingest of this table to finish")
        return _ingest_locked(contract, lake, token_key, now or datetime.now(), progress, _crash_before_log)
    finally:
        lock.release()


def _ingest_locked(contract: Contract, lake: LakeLayout, token_key: str, now: datetime,
                   progress: Callable[[str], None], _crash_before_log: bool) -> BatchResult:
    say = progress  # notes and reasons are redacted where they are made; file names are not data
    recovered = _recover(lake, contract.table)
    if recovered:
        say(f"{contract.table}: recovered an interrupted earlier run ({'; '.join(recovered)})")
    log = ingest_log(lake, contract.table)
    done = {(r["file"], r["sha256"]) for r in log}
    done_paths = {f for f, _ in done}
    committed: list[BatchResult] = []
    # Unique even when `now` is pinned (tests, replays), and in commit order when sorted by name (the latest
    # batch is the last log file): wall clock to the microsecond plus a random suffix; the batches of one run
    # share it, numbered (quality_checks.bronze_to_validate judges them together as the run's delivery).
    run_id = f"batch_{datetime.now().strftime('%Y%m%dT%H%M%S_%f')}{uuid.uuid4().hex[:4]}"
    with _readable_landing(lake, contract, log) as (landing, skipped):
        new, skipped = _new_entries(contract, landing, done, skipped)
        batches = _batches(new, batch_bytes())
        for n, entries in enumerate(batches, start=1):
            batch_id = run_id if len(batches) == 1 else f"{run_id}{RUN_PART}{n:04d}"
            if len(batches) > 1:
                say(f"{contract.table}: batch {n}/{len(batches)} ({len(entries)} files)")
            results, parts, unparsed = _read_new_files(contract, landing, entries, done_paths, say)
            if parts and contract.format in ("json", "jsonl"):
                parts = [_extract_json(parts, contract, results, unparsed)]
            committed.append(_commit_batch(contract, lake, token_key, now, batch_id, results, parts, unparsed,
                                           skipped, say, _crash_before_log))
            del parts  # the next batch reads into freed memory
    if not committed:
        _ensure_schema_file(lake, contract)
        say(f"{contract.table}: no new files ({skipped} already ingested)")
        return BatchResult(contract.table, None, [], skipped)
    return BatchResult(contract.table, committed[-1].batch_id, [f for b in committed for f in b.files], skipped,
                       batch_ids=[b.batch_id for b in committed])


def batch_bytes() -> int:
    raw = os.environ.get(BATCH_BYTES_ENV, "").strip()
    try:
        value = int(raw) if raw else DEFAULT_BATCH_BYTES
    except ValueError:
        raise ValueError(f"{BATCH_BYTES_ENV}={raw!r} is not a number of bytes (e.g. 268435456 for 256 MiB)") from None
    if value <= 0:
        raise ValueError(f"{BATCH_BYTES_ENV}={raw!r} must be a positive number of bytes")
    return value


def _new_entries(contract: Contract, landing: Path, done: set[tuple[str, str]],
                 skipped: int) -> tuple[list[tuple[Path, str, str]], int]:
    """(path, path under landing, content digest) of every entry not taken before, and the skipped count."""
    new = []
    for path in entries_under(landing, contract):
        rel = path.relative_to(landing).as_posix()
        try:
            digest = file_identity(path)
        except OSError as exc:
            digest = f"unreadable:{type(exc).__name__}"
        if (rel, digest) in done:
            skipped += 1
        else:
            new.append((path, rel, digest))
    return new, skipped


def _entry_size(path: Path) -> int:
    try:
        return path.stat().st_size if path.is_file() else 0
    except OSError:
        return 0


def _batches(entries: list[tuple[Path, str, str]], limit: int) -> list[list[tuple[Path, str, str]]]:
    """The new entries in batches of at most ``limit`` landed bytes (a larger file is a batch of its own). One
    batch when they all fit; otherwise in arrival order (modification time, then name), so an earlier
    delivery is committed first and its keys win over later copies, as they do inside one batch."""
    if not entries:
        return []
    sizes = [_entry_size(p) for p, _, _ in entries]
    if sum(sizes) <= limit:
        return [entries]
    order = sorted(range(len(entries)), key=lambda i: (_mtime_or_zero(entries[i][0]), entries[i][1]))
    out, current, used = [], [], 0
    for i in order:
        if current and used + sizes[i] > limit:
            out.append(current)
            current, used = [], 0
        current.append(entries[i])
        used += sizes[i]
    out.append(current)
    return out


def _mtime_or_zero(path: Path) -> int:
    try:
        return storage.mtime_ns(path)
    except OSError:
        return 0


def _commit_batch(contract: Contract, lake: LakeLayout, token_key: str, now: datetime, batch_id: str,
                  results: list[FileResult], parts: list[pa.Table], unparsed: list[dict], skipped: int,
                  say: Callable[[str], None], _crash_before_log: bool) -> BatchResult:
    """Validate one batch's rows against the contract and bronze so far, and commit it (staged files, log, publish)."""
    con = storage.connect(lake.root)
    raw = pa.concat_tables(parts) if parts else _empty_raw(contract)
    con.register("raw", raw)
    checked = con.sql(
        validation_sql(contract, token_key, now, _existing_keys_sql(lake, contract))
    ).to_arrow_table()
    con.register("checked", checked)
    ingested_at = datetime.now().strftime("%Y-%m-%d %H:%M:%S")  # wall clock: freshness is about real time
    bronze_cols = ", ".join(f'"{c.bronze_name}"' for c in contract.columns)
    bronze = con.sql(
        f"SELECT {bronze_cols}, {FILE}, {LINE}, TIMESTAMP '{ingested_at}' AS _ingested_at, '{batch_id}' AS _batch_id "
        f"FROM checked WHERE _reasons = '' ORDER BY {FILE}, {LINE}"
    ).to_arrow_table()
    text_cols = ", ".join(f'"raw__{c.bronze_name}" AS "{quarantine_column(c.bronze_name)}"' for c in contract.columns)
    rejected = con.sql(
        f"SELECT {FILE}, {LINE}, _reasons AS reason, {text_cols} FROM checked WHERE _reasons <> '' ORDER BY {FILE}, {LINE}"
    ).to_arrow_table()
    quarantine = _with_unparsed(rejected, unparsed, contract)

    counts = con.sql(
        f"SELECT {FILE}, count(*) FILTER (WHERE _reasons = ''), count(*) FILTER (WHERE _reasons <> '') "
        f"FROM checked GROUP BY {FILE}"
    ).fetchall()
    by_file = {f: (b, q) for f, b, q in counts}
    con.close()  # frees DuckDB's memory before the next batch
    extra_q: dict[str, int] = {}
    for u in unparsed:
        extra_q[u[FILE]] = extra_q.get(u[FILE], 0) + 1
    for r in results:
        b, q = by_file.get(r.file, (0, 0))
        r.bronze, r.quarantined = b, q + extra_q.get(r.file, 0)

    bronze_path = lake.bronze_dir(contract.table) / f"{batch_id}.parquet"
    quarantine_path = lake.quarantine_dir(contract.table) / f"{batch_id}.parquet"
    staged = [bronze_path.with_name(bronze_path.name + STAGED), quarantine_path.with_name(quarantine_path.name + STAGED)]
    _write_atomic(bronze.cast(bronze_schema(contract)), staged[0])
    _write_atomic(quarantine, staged[1])
    if _crash_before_log:  # failure drill hook for tests: data written, commit marker not
        raise RuntimeError("simulated crash before the ingest log was written")
    log_rows = pa.Table.from_pylist(schema=LOG_SCHEMA, mapping=[
        {"file": r.file, "sha256": r.sha256, "landed_rows": r.landed, "bronze_rows": r.bronze,
         "quarantined_rows": r.quarantined, "status": r.status, "notes": redact("; ".join(r.notes)),
         "batch_id": batch_id, "ingested_at": datetime.strptime(ingested_at, "%Y-%m-%d %H:%M:%S"),
         "size_bytes": r.size_bytes, "mtime_ns": r.mtime_ns}
        for r in results
    ])
    _write_atomic(log_rows, _log_dir(lake, contract.table) / f"{batch_id}.parquet")  # the commit point
    for s, final in zip(staged, (bronze_path, quarantine_path)):
        storage.replace(s, final)
    result = BatchResult(contract.table, batch_id, results, skipped)
    say(f"{contract.table}: {len(results)} new file(s), {result.landed} landed = "
        f"{result.bronze} bronze + {result.quarantined} quarantined; {skipped} file(s) already ingested")
    return result


def _read_new_files(contract: Contract, landing: Path, entries: list[tuple[Path, str, str]], done_paths: set[str],
                    say: Callable[[str], None]) -> tuple[list[FileResult], list[pa.Table], list[dict]]:
    """Read the given new entries: their results, raw rows and unparsed records."""
    results: list[FileResult] = []
    parts: list[pa.Table] = []
    unparsed: list[dict] = []
    for i, (path, rel, digest) in enumerate(entries, start=1):
        res = FileResult(rel, digest, landed=0)
        if path.is_file():
            stat = path.stat()
            res.size_bytes, res.mtime_ns = stat.st_size, storage.mtime_ns(path)
        results.append(res)
        part = _read_one(path, rel, contract, res, unparsed, conflict=rel in done_paths)
        if part is not None:
            parts.append(part)
        if res.status in ("rejected", "conflict", "unrecognised"):
            say(f"ERROR {contract.table}: {res.file} {res.status}: {'; '.join(res.notes)}"
                + ("; other files go on" if res.status != "unrecognised" else ""))
        if i % 100 == 0:
            say(f"{contract.table}: read {i}/{len(entries)} files")
    return results, parts, unparsed


@contextlib.contextmanager
def _readable_landing(lake: LakeLayout, contract: Contract, log: list[dict]):
    """The landing folder to read files from, and how many files were left out as taken before. A local lake
    is read in place. From S3 the table's new files are fetched into a temporary folder in one concurrent
    request batch (file by file, each costs a listing, a hash read and a data read over HTTP: ~1 file/s);
    a file whose name, size and modification time match a logged one is not fetched (the sensor's quick
    check), any other is, and is then hashed like a local file."""
    if not lake.is_remote:
        yield lake.landing, 0
        return
    logged = {(r["file"], r.get("size_bytes"), r.get("mtime_ns")) for r in log}
    prefix = contract.landing_dir(lake.landing).relative_to(lake.landing).as_posix()
    with tempfile.TemporaryDirectory(prefix="landing-") as tmp:
        landing = Path(tmp)
        skipped = storage.mirror_files(
            contract.landing_dir(lake.landing), contract.landing_dir(landing),
            skip=lambda rel, size, mtime_ns: (f"{prefix}/{rel}", size, mtime_ns) in logged)
        yield landing, skipped


def _read_one(path: Path, rel: str, contract: Contract, res: FileResult, unparsed: list[dict],
              conflict: bool) -> pa.Table | None:
    """Read one landed entry into raw rows (None when it yields no rows), filling in its FileResult.
    Whatever goes wrong with this file is recorded on it; it never stops the other files."""
    if path.is_symlink() and not path.exists():
        return _reject(res, unparsed, "dangling link: the file it points to does not exist", [])
    if path.is_dir():
        return _reject(res, unparsed, "a directory named like a data file, not a file", [])
    if not contract.recognises(path.name):
        res.status = "unrecognised"
        res.notes.append(f"not a {contract.format} delivery of {contract.table} by its name (expected "
                         f"*{contract.extension}, optionally .gz); not ingested")
        return None
    try:
        raw = read_landed_file(path, contract)
    except UnreadableFile as exc:
        return _reject(res, unparsed, str(exc), exc.lines)
    except Exception as exc:  # noqa: BLE001 - an unforeseen reader failure is this file's problem alone
        return _reject(res, unparsed, f"cannot be read ({type(exc).__name__}: {exc})", [0])
    if conflict:
        lines = sorted({n for n, _ in raw.rejects} | set(raw.rows.column(LINE).to_pylist())) or [0]
        return _reject(res, unparsed, "conflict: a file of this name was ingested before with different content; "
                                      "deliver corrections under a new file name", lines if raw.landed_records else [],
                       status="conflict")
    res.landed = raw.landed_records
    res.status = "ingested" if raw.landed_records else "empty"
    res.notes += raw.notes
    _note_columns(res, raw.missing_columns, raw.extra_columns)
    unparsed += [{FILE: rel, LINE: n, "reason": r} for n, r in raw.rejects]
    rows = raw.rows
    if JSON_TEXT not in rows.column_names:
        for name in raw.missing_columns:  # absent column -> all NULL; required ones then fail per row
            rows = rows.append_column(name, pa.nulls(rows.num_rows, pa.string()))
        rows = rows.select(contract.column_names + [LINE])
    rows = rows.append_column(FILE, pa.array([rel] * rows.num_rows, pa.string()))
    # Arrival order (file modification time) decides which copy of a repeated key is the original.
    return rows.append_column(ARRIVAL, pa.array(np.full(rows.num_rows, res.mtime_ns or 0), pa.int64()))


def _reject(res: FileResult, unparsed: list[dict], reason: str, lines: list[int], status: str = "rejected") -> None:
    """Reject a whole entry: each of its records (by line) is quarantined with the reason."""
    reason = redact(reason)
    res.status, res.landed, res.quarantined = status, len(lines), len(lines)
    res.notes.append(reason)
    word = "conflict" if status == "conflict" else "file rejected whole"
    unparsed += [{FILE: res.file, LINE: int(n), "reason": f"{word}: {reason}" if status != "conflict" else reason}
                 for n in lines]
    return None


def _note_columns(res: FileResult, missing: list[str], extra: list[str]) -> None:
    if extra:
        res.notes.append(redact(f"schema drift: extra column(s) {extra} ignored"))
    if missing:
        res.notes.append(f"missing column(s) {missing}")


def _extract_json(parts: list[pa.Table], contract: Contract, results: list[FileResult], unparsed: list[dict]) -> pa.Table:
    """One DuckDB extraction for all JSON files of the batch (per-file queries cost more than the work)."""
    rows, rejects, keys = extract_json_batch(pa.concat_tables(parts), contract, FILE)
    unparsed += [{FILE: f, LINE: n, "reason": r} for f, n, r in rejects]
    for res in results:
        if res.status == "ingested" and res.file in keys:
            found = sorted(keys[res.file])
            _note_columns(res, [c for c in contract.column_names if c not in found],
                          [c for c in found if c not in contract.column_names])
    return rows


def _empty_raw(contract: Contract) -> pa.Table:
    fields = [pa.field(c, pa.string()) for c in contract.column_names]
    fields += [pa.field(LINE, pa.int64()), pa.field(FILE, pa.string()), pa.field(ARRIVAL, pa.int64())]
    return pa.schema(fields).empty_table()


def _with_unparsed(rejected: pa.Table, unparsed: list[dict], contract: Contract) -> pa.Table:
    schema = quarantine_schema(contract)
    rejected = rejected.cast(schema)
    if not unparsed:
        return rejected
    extra = pa.Table.from_pylist(unparsed, schema=pa.schema(QUARANTINE_SCHEMA_EXTRA))
    for c in contract.columns:
        extra = extra.append_column(quarantine_column(c.bronze_name), pa.nulls(extra.num_rows, pa.string()))
    return pa.concat_tables([rejected, extra.cast(schema)])


def _ensure_schema_file(lake: LakeLayout, contract: Contract) -> None:
    folder = lake.bronze_dir(contract.table)
    if not any(folder.glob("*.parquet")):
        _write_atomic(bronze_schema(contract).empty_table(), folder / SCHEMA_FILE)
    qfolder = lake.quarantine_dir(contract.table)
    if not any(qfolder.glob("*.parquet")):
        _write_atomic(quarantine_schema(contract).empty_table(), qfolder / SCHEMA_FILE)
    log_folder = _log_dir(lake, contract.table)
    if not any(log_folder.glob("*.parquet")):
        _write_atomic(LOG_SCHEMA.empty_table(), log_folder / SCHEMA_FILE)
