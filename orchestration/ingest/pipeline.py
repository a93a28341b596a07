"""Ingest a table's new landed files into bronze + quarantine, atomically and idempotently.

Per batch (all files of a table not ingested before):
  read each file -> validate all rows in one DuckDB query -> write bronze and quarantine Parquet
  -> write the ingest log last. A batch whose log is missing (crash mid-way) is removed on the next run,
  so nothing half-written is ever visible and a re-run recovers without duplicates.
Conservation holds per file: landed records = bronze rows + quarantined rows.
"""
from __future__ import annotations

import hashlib
import logging
import os
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lake.layout import LakeLayout
from lake.contracts import Contract
from orchestration.ingest.readers import JSON_TEXT, LINE, UnreadableFile, extract_json_batch, read_landed_file
from orchestration.ingest.validate import validation_sql

log = logging.getLogger(__name__)
FILE = "_source_file"
ARRIVAL = "_arrival"
SCHEMA_FILE = "_schema.parquet"  # empty typed file so a table with no rows yet is still queryable


@dataclass
class FileResult:
    file: str
    sha256: str
    landed: int
    bronze: int = 0
    quarantined: int = 0
    status: str = "ingested"  # ingested | rejected (whole file unreadable) | empty
    notes: list[str] = field(default_factory=list)


@dataclass
class BatchResult:
    table: str
    batch_id: str | None
    files: list[FileResult]
    skipped_files: int  # already ingested earlier (idempotency)

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


def bronze_schema(contract: Contract) -> pa.Schema:
    con = duckdb.connect()
    cols = ", ".join(f"CAST(NULL AS {c.duckdb_type if c.type != 'json' else 'VARCHAR'}) AS \"{c.bronze_name}\""
                     for c in contract.columns)
    table = con.sql(f"SELECT {cols}, '' AS {FILE}, 0::BIGINT AS {LINE}, now()::TIMESTAMP AS _ingested_at, "
                        f"'' AS _batch_id LIMIT 0").to_arrow_table()
    return table.schema


QUARANTINE_SCHEMA_EXTRA = [(FILE, pa.string()), (LINE, pa.int64()), ("reason", pa.string())]


LOG_SCHEMA = pa.schema([
    ("file", pa.string()), ("sha256", pa.string()), ("landed_rows", pa.int64()), ("bronze_rows", pa.int64()),
    ("quarantined_rows", pa.int64()), ("status", pa.string()), ("notes", pa.string()), ("batch_id", pa.string()),
    ("ingested_at", pa.timestamp("us")),
])


def _log_dir(lake: LakeLayout, table: str) -> Path:
    return lake.ingest_log_dir(table)


def ingested_files(lake: LakeLayout, table: str) -> set[tuple[str, str]]:
    logs = sorted(_log_dir(lake, table).glob("batch_*.parquet"))
    if not logs:
        return set()
    done = pq.read_table(logs, columns=["file", "sha256"]).to_pylist()
    return {(r["file"], r["sha256"]) for r in done}


def _remove_orphans(lake: LakeLayout, table: str) -> list[Path]:
    """Drop bronze / quarantine batch files of batches that never committed their log."""
    committed = {p.stem for p in _log_dir(lake, table).glob("batch_*.parquet")}
    removed = []
    for folder in (lake.bronze / table, lake.quarantine / table):
        for p in folder.glob("batch_*.parquet"):
            if p.stem not in committed:
                p.unlink()
                removed.append(p)
        for p in folder.glob("*.tmp"):
            p.unlink()
            removed.append(p)
    return removed


def _write_atomic(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _existing_keys_sql(lake: LakeLayout, contract: Contract) -> str | None:
    files = sorted((lake.bronze / contract.table).glob("batch_*.parquet"))
    if not files:
        return None
    listing = ", ".join(f"'{f.as_posix()}'" for f in files)
    keys = ", ".join(f'"{k}"' for k in contract.primary_key)
    return f"SELECT {keys} FROM read_parquet([{listing}])"


def ingest_table(
    contract: Contract,
    lake: LakeLayout,
    token_key: str,
    now: datetime | None = None,
    progress: Callable[[str], None] = log.info,
    _crash_before_log: bool = False,
) -> BatchResult:
    now = now or datetime.now()
    removed = _remove_orphans(lake, contract.table)
    if removed:
        progress(f"{contract.table}: removed {len(removed)} file(s) of an uncommitted earlier batch")
    done = ingested_files(lake, contract.table)
    landing_dir = contract.landing_dir(lake.landing)
    paths = sorted(landing_dir.rglob(f"*{contract.extension}")) if landing_dir.exists() else []

    results: list[FileResult] = []
    parts: list[pa.Table] = []
    unparsed: list[dict] = []
    skipped = 0
    for i, path in enumerate(paths, start=1):
        rel = path.relative_to(lake.landing).as_posix()
        digest = _sha256(path)
        if (rel, digest) in done:
            skipped += 1
            continue
        try:
            raw = read_landed_file(path, contract)
        except UnreadableFile as exc:
            progress(f"ERROR {contract.table}: {rel} cannot be parsed ({exc}); file quarantined, other files go on")
            results.append(FileResult(rel, digest, landed=1, quarantined=1, status="rejected", notes=[str(exc)]))
            unparsed.append({FILE: rel, LINE: 0, "reason": f"unreadable file: {exc}"})
            continue
        res = FileResult(rel, digest, landed=raw.landed_records, status="ingested" if raw.landed_records else "empty")
        _note_columns(res, raw.missing_columns, raw.extra_columns)
        unparsed += [{FILE: rel, LINE: n, "reason": r} for n, r in raw.rejects]
        rows = raw.rows
        if JSON_TEXT not in rows.column_names:
            for name in raw.missing_columns:  # absent column -> all NULL; required ones then fail per row
                rows = rows.append_column(name, pa.nulls(rows.num_rows, pa.string()))
            rows = rows.select(contract.column_names + [LINE])
        rows = rows.append_column(FILE, pa.array([rel] * rows.num_rows, pa.string()))
        # Arrival order (file modification time) decides which copy of a repeated key is the original.
        parts.append(rows.append_column(ARRIVAL, pa.array(np.full(rows.num_rows, path.stat().st_mtime_ns), pa.int64())))
        results.append(res)
        if i % 100 == 0:
            progress(f"{contract.table}: read {i}/{len(paths)} files")

    if parts and contract.format in ("json", "jsonl"):
        parts = [_extract_json(parts, contract, results, unparsed)]

    if not results:
        _ensure_schema_file(lake, contract)
        progress(f"{contract.table}: no new files ({skipped} already ingested)")
        return BatchResult(contract.table, None, [], skipped)

    # Unique even when `now` is pinned (tests, replays): wall clock plus a random suffix.
    batch_id = f"batch_{datetime.now().strftime('%Y%m%dT%H%M%S')}_{uuid.uuid4().hex[:8]}"
    con = duckdb.connect()
    con.register("raw", _concat_as_text(parts, contract))
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
    text_cols = ", ".join(f'"raw__{c.bronze_name}" AS "{c.bronze_name}"' for c in contract.columns)
    rejected = con.sql(
        f"SELECT {FILE}, {LINE}, _reasons AS reason, {text_cols} FROM checked WHERE _reasons <> '' ORDER BY {FILE}, {LINE}"
    ).to_arrow_table()
    quarantine = _with_unparsed(rejected, unparsed, contract)

    counts = con.sql(
        f"SELECT {FILE}, count(*) FILTER (WHERE _reasons = ''), count(*) FILTER (WHERE _reasons <> '') "
        f"FROM checked GROUP BY {FILE}"
    ).fetchall()
    by_file = {f: (b, q) for f, b, q in counts}
    extra_q: dict[str, int] = {}
    for u in unparsed:
        extra_q[u[FILE]] = extra_q.get(u[FILE], 0) + 1
    for r in results:
        if r.status == "rejected":
            continue
        b, q = by_file.get(r.file, (0, 0))
        r.bronze, r.quarantined = b, q + extra_q.get(r.file, 0)

    _write_atomic(bronze.cast(bronze_schema(contract)), lake.bronze / contract.table / f"{batch_id}.parquet")
    _write_atomic(quarantine, lake.quarantine / contract.table / f"{batch_id}.parquet")
    if _crash_before_log:  # failure drill hook for tests: data written, commit marker not
        raise RuntimeError("simulated crash before the ingest log was written")
    log_rows = pa.Table.from_pylist(schema=LOG_SCHEMA, mapping=[
        {"file": r.file, "sha256": r.sha256, "landed_rows": r.landed, "bronze_rows": r.bronze,
         "quarantined_rows": r.quarantined, "status": r.status, "notes": "; ".join(r.notes),
         "batch_id": batch_id, "ingested_at": datetime.strptime(ingested_at, "%Y-%m-%d %H:%M:%S")}
        for r in results
    ])
    _write_atomic(log_rows, _log_dir(lake, contract.table) / f"{batch_id}.parquet")
    result = BatchResult(contract.table, batch_id, results, skipped)
    progress(f"{contract.table}: {len(results)} new file(s), {result.landed} landed = "
             f"{result.bronze} bronze + {result.quarantined} quarantined; {skipped} file(s) already ingested")
    return result


def _note_columns(res: FileResult, missing: list[str], extra: list[str]) -> None:
    if extra:
        res.notes.append(f"schema drift: extra column(s) {extra} ignored")
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


def _concat_as_text(parts: list[pa.Table], contract: Contract) -> pa.Table:
    """Text sources arrive as strings, Parquet natively; unify as text so one SQL validates all."""
    def as_text(t: pa.Table) -> pa.Table:
        cols = {}
        for name in contract.column_names:
            col = t.column(name)
            if not pa.types.is_string(col.type):
                if pa.types.is_timestamp(col.type):
                    col = col.cast(pa.timestamp("us")).cast(pa.string())
                else:
                    col = col.cast(pa.string())
            cols[name] = col
        cols[LINE] = t.column(LINE)
        cols[FILE] = t.column(FILE)
        cols[ARRIVAL] = t.column(ARRIVAL)
        return pa.table(cols)

    return pa.concat_tables([as_text(p) for p in parts])


def _with_unparsed(rejected: pa.Table, unparsed: list[dict], contract: Contract) -> pa.Table:
    schema = pa.schema(QUARANTINE_SCHEMA_EXTRA + [(c.bronze_name, pa.string()) for c in contract.columns])
    rejected = rejected.cast(schema)
    if not unparsed:
        return rejected
    extra = pa.Table.from_pylist(unparsed, schema=pa.schema(QUARANTINE_SCHEMA_EXTRA))
    for c in contract.columns:
        extra = extra.append_column(c.bronze_name, pa.nulls(extra.num_rows, pa.string()))
    return pa.concat_tables([rejected, extra.cast(schema)])


def _ensure_schema_file(lake: LakeLayout, contract: Contract) -> None:
    folder = lake.bronze / contract.table
    if not any(folder.glob("*.parquet")):
        _write_atomic(bronze_schema(contract).empty_table(), folder / SCHEMA_FILE)
    qfolder = lake.quarantine / contract.table
    if not any(qfolder.glob("*.parquet")):
        schema = pa.schema(QUARANTINE_SCHEMA_EXTRA + [(c.bronze_name, pa.string()) for c in contract.columns])
        _write_atomic(schema.empty_table(), qfolder / SCHEMA_FILE)
    log_folder = _log_dir(lake, contract.table)
    if not any(log_folder.glob("*.parquet")):
        _write_atomic(LOG_SCHEMA.empty_table(), log_folder / SCHEMA_FILE)
