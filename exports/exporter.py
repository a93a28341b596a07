"""Export one partner's scores of one business date: data files, then ``manifest.json`` last.

Layout (same on a local folder and on S3)::

    <bucket>/<prefix>/business_date=YYYY-MM-DD/<export>_<date>_part-00001-of-00002.csv.gz
    <bucket>/<prefix>/business_date=YYYY-MM-DD/<export>_<date>_part-00002-of-00002.csv.gz
    <bucket>/<prefix>/business_date=YYYY-MM-DD/manifest.json      <- written last

Protocol of one run (re-runs of a partition replace it; a crash never leaves a manifest, and a run that
fails while writing data leaves the previous partition exactly as it was):

1. check everything that can be checked before writing: the scores contract, the business date,
   model and version, the bucket; any problem is an error and nothing is written;
2. stage: encode and upload the data parts under a run-specific staging prefix outside the partition
   (``<prefix>/_staging/business_date=D/<run id>/``; atomic PUTs, in parallel). The partition is untouched;
3. publish, only when every part is staged: withdraw the old ``manifest.json``, copy the staged parts
   to their final names (server-side copies), delete every other object of the partition folder;
4. upload ``manifest.json`` (the commit point) listing each file's name, rows and SHA-256;
5. delete the staged objects (and those of earlier crashed runs).

A partner reads a partition only when its manifest exists and checks each file's SHA-256.
"""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import math
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Callable

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from lake import storage as lake_storage
from lake.scores import scores_path, validate_scores_schema
from exports.spec import EXPORTABLE_COLUMNS, ExportSpec
from exports.storage import BucketNotFound, ObjectStore
from exports.tokens import export_token_key, partner_key, token_key_id, token_sql

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
CONTENT_TYPES = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}

CHAMPION_MODEL = "champion"  # spec model.name: the model batch scoring used for the label
ChampionResolver = Callable[[str, str], "str | None"]  # (model_name, label) -> champion version or None


class ExportError(RuntimeError):
    """An export could not be produced (missing scores, bad data); nothing was published."""


class ExportVerificationError(RuntimeError):
    """Published files do not match their manifest."""


@dataclass
class ExportResult:
    spec_name: str
    partner_id: str
    business_date: str
    bucket: str
    partition_prefix: str
    manifest_key: str
    manifest: dict
    location: str
    removed_keys: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def row_count(self) -> int:
        return self.manifest["row_count"]


def partition_prefix(spec: ExportSpec, business_date: date | str) -> str:
    return f"{spec.prefix}/business_date={_as_date(business_date).isoformat()}/"


def staging_prefix(spec: ExportSpec, business_date: date | str) -> str:
    """Where a run stages its parts before publishing: outside the partition folder partners list."""
    return f"{spec.prefix}/_staging/business_date={_as_date(business_date).isoformat()}/"


def manifest_key(spec: ExportSpec, business_date: date | str) -> str:
    return partition_prefix(spec, business_date) + MANIFEST_NAME


def _as_date(value: date | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _type_name(t: pa.DataType) -> str:
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_floating(t):
        return "double"
    if pa.types.is_integer(t):
        return "integer"
    return "string"


_DUCK_TYPES = {"date": "DATE", "double": "DOUBLE", "integer": "INTEGER", "string": "VARCHAR"}


def _open_scores(con: duckdb.DuckDBPyConnection, scores, business_date: date, lake_root) -> str:
    """Register the scores as view `scores`; returns a description of the source."""
    if isinstance(scores, pa.Table):
        validate_scores_schema(scores.schema, "scores table")
        con.register("scores", scores)
        return "in-memory scores table"
    if scores is None:
        path = scores_path(business_date, lake_root)
    else:  # a lake path object (local or S3) as it is; a string names a folder path or an s3:// location
        path = scores if hasattr(scores, "exists") else lake_storage.lake_path(scores)
    if not path.exists():
        raise ExportError(f"no scores for business date {business_date}: {path} does not exist "
                          "(materialise scores/batch_scores for that partition first)")
    validate_scores_schema(lake_storage.parquet_metadata(path).schema.to_arrow_schema(), str(path))
    lake_storage.register(con, path)
    con.execute(f"CREATE VIEW scores AS SELECT * FROM read_parquet('{str(path).replace(chr(39), chr(39) * 2)}')")
    return str(path)


def resolve_champion_model(con, spec: ExportSpec, business_date: date) -> ExportSpec:
    """model.name 'champion': the one model whose scores the day holds for the label (batch scoring uses
    the label's champion, whichever model type won), so a spec need not follow the champion's type."""
    if spec.model_name != CHAMPION_MODEL:
        return spec
    names = [r[0] for r in con.execute("SELECT DISTINCT model_name FROM scores WHERE label = ? ORDER BY 1",
                                       [spec.label]).fetchall()]
    if len(names) != 1:
        raise spec.error("model.name", f"'champion' needs exactly one '{spec.label}' model in the scores of "
                                       f"{business_date}; they hold {', '.join(names) or 'none'}")
    return dataclasses.replace(spec, model_name=names[0])


def resolve_model_version(con, spec: ExportSpec, business_date: date, champion_version: ChampionResolver | None) -> str:
    """Check the spec's model against the scores of the day and pick the version to export."""
    rows = con.execute("SELECT model_name, model_version, count(*) FROM scores WHERE label = ? GROUP BY ALL ORDER BY ALL",
                       [spec.label]).fetchall()
    versions: dict[str, list[str]] = {}
    for name, version, _ in rows:
        versions.setdefault(name, []).append(version)
    if spec.model_name not in versions:
        present = ", ".join(sorted(versions)) or "none"
        raise spec.error("model.name", f"unknown model '{spec.model_name}': the scores of {business_date} hold no "
                                       f"'{spec.label}' scores from it (models scoring '{spec.label}': {present})")
    available = versions[spec.model_name]
    if spec.version != "champion":
        if spec.version not in available:
            raise spec.error("model.version", f"version '{spec.version}' of '{spec.model_name}' has no scores on "
                                              f"{business_date} (versions present: {', '.join(available)})")
        return spec.version
    wanted = champion_version(spec.model_name, spec.label) if champion_version else None
    if wanted is not None:
        if wanted not in available:
            raise spec.error("model.version", f"the champion of '{spec.model_name}' is '{wanted}' but the scores of "
                                              f"{business_date} only hold versions {', '.join(available)}")
        return wanted
    if len(available) > 1:
        raise spec.error("model.version", f"'champion' is ambiguous: the scores of {business_date} hold versions "
                                          f"{', '.join(available)} of '{spec.model_name}' and no champion resolver was given")
    return available[0]


# 11+ digits in a row: a phone number, national id or bank card number, never part of a reason description.
_IDENTIFIER_LIKE = "[0-9]{11,}"


def _guard_free_text(con, spec: ExportSpec, where: str, params: list) -> None:
    """Last line of defence for 'no raw PII leaves': exported text (reason descriptions, decisions) must not
    carry an identifier-like number or the customer's internal id."""
    text = [c for c in spec.columns if c.source != "customer_token" and pa.types.is_string(EXPORTABLE_COLUMNS[c.source])]
    if not text:
        return
    checks = ", ".join(
        f"count(*) FILTER (WHERE regexp_matches({_q(c.source)}, '{_IDENTIFIER_LIKE}') "
        f"OR contains({_q(c.source)}, customer_id))" for c in text)
    counts = con.execute(f"SELECT {checks} FROM scores WHERE {where}", params).fetchall()[0]
    bad = [(c.source, n) for c, n in zip(text, counts) if n]
    if bad:
        raise ExportError(f"{spec.name}: refusing to export text that looks like personal data or an internal id: "
                          + ", ".join(f"{col} in {n} row(s)" for col, n in bad))


def build_partner_table(con, spec: ExportSpec, business_date: date, version: str, key: bytes) -> pa.Table:
    """The partner's rows (its customers only, one model version, allow-listed columns, tokenised),
    sorted by token so files are reproducible and carry no internal ordering."""
    schema = spec.output_schema()
    select = []
    for col, f in zip(spec.columns, schema):
        expr = token_sql("customer_id", key) if col.source == "customer_token" else _q(col.source)
        select.append(f"CAST({expr} AS {_DUCK_TYPES[_type_name(f.type)]}) AS {_q(col.name)}")
    token_col = next(c.name for c in spec.columns if c.source == "customer_token")
    where = f"{_q(spec.partner_column)} = ? AND label = ? AND model_name = ? AND model_version = ?"
    params = [spec.partner_id, spec.label, spec.model_name, version]
    _guard_free_text(con, spec, where, params)
    sql = f"SELECT {', '.join(select)} FROM scores WHERE {where} ORDER BY {_q(token_col)}"
    table = con.sql(sql, params=params).to_arrow_table()
    table = table.cast(schema)
    tokens = table.column(token_col)
    if tokens.null_count:
        raise ExportError(f"{spec.name}: {tokens.null_count} score rows of {spec.partner_id} have no customer_id")
    if len(table) and pc.count_distinct(tokens).as_py() != len(table):
        raise ExportError(f"{spec.name}: the scores of {business_date} hold duplicate rows for one customer "
                          f"(label {spec.label}, model {spec.model_name} {version}); the scores contract has one row "
                          "per customer per label")
    return table


def encode(table: pa.Table, spec: ExportSpec) -> bytes:
    if spec.format == "csv":
        buf = io.BytesIO()
        pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=True))
        raw = buf.getvalue()
        # mtime=0: identical rows give identical bytes (and SHA-256) on every re-run
        return gzip.compress(raw, compresslevel=6, mtime=0) if spec.compression == "gzip" else raw
    buf = io.BytesIO()
    pq.write_table(table, buf, compression=None if spec.compression == "none" else spec.compression,
                   row_group_size=max(1, min(len(table), 256 * 1024)))
    return buf.getvalue()


def export_partition(
    spec: ExportSpec,
    business_date: date | str,
    store: ObjectStore,
    *,
    scores: pa.Table | Path | str | None = None,
    lake_root: Path | str | None = None,
    token_key: str | None = None,
    champion_version: ChampionResolver | None = None,
    now: datetime | None = None,
    workers: int = 2,
    log: Callable[[str], None] | None = None,
) -> ExportResult:
    """Write one partner's files for one business date, then its manifest. See the module docstring."""
    log = log or (lambda _msg: None)
    t0 = time.perf_counter()
    day = _as_date(business_date)
    con = duckdb.connect()
    try:
        source = _open_scores(con, scores, day, lake_root)
        dates = [r[0] for r in con.execute("SELECT DISTINCT business_date FROM scores").fetchall()]
        if any(d != day for d in dates):
            raise ExportError(f"{source} holds business dates {sorted(map(str, dates))}, expected only {day}")
        spec = resolve_champion_model(con, spec, day)
        version = resolve_model_version(con, spec, day, champion_version)
        bucket = spec.bucket
        try:
            store.check_bucket(bucket)
        except BucketNotFound as exc:
            raise spec.error("destination.bucket", str(exc)) from None
        key = partner_key(spec.partner_id, token_key if token_key is not None else export_token_key())
        table = build_partner_table(con, spec, day, version, key)
    finally:
        con.close()
    t_query = time.perf_counter()
    log(f"{spec.name}: {len(table):,} rows of {spec.partner_id} for {day} ({spec.model_name} {version}) from {source}")

    prefix = partition_prefix(spec, day)
    mkey = prefix + MANIFEST_NAME
    n_parts = max(1, math.ceil(len(table) / spec.max_rows_per_file))
    names = [f"{spec.name}_{day.isoformat()}_part-{i + 1:05d}-of-{n_parts:05d}{spec.extension}" for i in range(n_parts)]

    staging = staging_prefix(spec, day)
    run_stage = f"{staging}{uuid.uuid4().hex[:12]}/"

    def write_part(i: int) -> dict:
        part = table.slice(i * spec.max_rows_per_file, spec.max_rows_per_file)
        data = encode(part, spec)
        digest = hashlib.sha256(data).hexdigest()
        store.put(bucket, run_stage + names[i], data, CONTENT_TYPES[spec.format])
        return {"name": names[i], "rows": len(part), "bytes": len(data), "sha256": digest}

    pool = ThreadPoolExecutor(max_workers=max(1, min(workers, n_parts)))
    try:
        files = list(pool.map(write_part, range(n_parts)))
    finally:  # on a failure, parts not started yet are not written; the partition itself was not touched
        pool.shutdown(wait=True, cancel_futures=True)
    t_data = time.perf_counter()

    existing = store.list(bucket, prefix)
    if mkey in existing:  # withdraw the old partition before touching any of its files
        store.delete(bucket, [mkey])
        log(f"{spec.name}: withdrew the previous manifest {store.describe(bucket, mkey)}")
    for n in names:
        store.copy(bucket, run_stage + n, prefix + n)
    new_keys = {prefix + n for n in names}
    stale = sorted(k for k in existing if k not in new_keys and k != mkey)
    if stale:
        store.delete(bucket, stale)
        log(f"{spec.name}: removed {len(stale)} stale object(s) from {store.describe(bucket, prefix)}")

    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "export": spec.name,
        "partner_id": spec.partner_id,
        "business_date": day.isoformat(),
        "model": {"name": spec.model_name, "version": version, "label": spec.label},
        "row_count": len(table),
        "format": spec.format,
        "compression": spec.compression,
        "columns": [{"name": f.name, "type": _type_name(f.type)} for f in table.schema],
        "files": files,
        "customer_token": {"column": next(c.name for c in spec.columns if c.source == "customer_token"),
                           "scheme": "hmac-sha256-per-partner-v1", "key_id": token_key_id(key)},
        "created_at": (now or datetime.now(timezone.utc)).astimezone(timezone.utc).isoformat(timespec="seconds"),
    }
    store.put(bucket, mkey, json.dumps(manifest, indent=2).encode(), "application/json")
    leftovers = sorted(store.list(bucket, staging))  # this run's staged parts and any crashed run's
    if leftovers:
        store.delete(bucket, leftovers)
    t_end = time.perf_counter()
    log(f"{spec.name}: published {len(files)} file(s) and {store.describe(bucket, mkey)}")
    return ExportResult(
        spec_name=spec.name, partner_id=spec.partner_id, business_date=day.isoformat(), bucket=bucket,
        partition_prefix=prefix, manifest_key=mkey, manifest=manifest, location=store.describe(bucket, prefix),
        removed_keys=stale + ([mkey] if mkey in existing else []),
        timings={"query_s": t_query - t0, "write_s": t_data - t_query, "publish_s": t_end - t_data, "total_s": t_end - t0},
    )


def decode(data: bytes, fmt: str, compression: str) -> pa.Table:
    if fmt == "csv":
        raw = gzip.decompress(data) if compression == "gzip" else data
        return pacsv.read_csv(io.BytesIO(raw))
    return pq.read_table(io.BytesIO(data))


def read_export(store: ObjectStore, bucket: str, mkey: str, verify: bool = True) -> tuple[dict, pa.Table]:
    """Read a published partition the way a partner should: manifest first, then each listed file,
    checking SHA-256, row counts, columns and that the folder holds nothing else."""
    manifest = json.loads(store.get(bucket, mkey))
    folder = mkey.rsplit("/", 1)[0] + "/" if "/" in mkey else ""
    problems = []
    listed = store.list(bucket, folder)
    expected = {folder + f["name"] for f in manifest["files"]} | {mkey}
    extra = sorted(set(listed) - expected)
    if extra:
        problems.append(f"objects not in the manifest: {extra}")
    tables = []
    for f in manifest["files"]:
        key = folder + f["name"]
        if key not in listed:
            problems.append(f"{f['name']}: listed in the manifest but missing")
            continue
        data = store.get(bucket, key)
        if hashlib.sha256(data).hexdigest() != f["sha256"]:
            problems.append(f"{f['name']}: SHA-256 mismatch")
            continue
        t = decode(data, manifest["format"], manifest["compression"])
        if t.num_rows != f["rows"]:
            problems.append(f"{f['name']}: {t.num_rows} rows, manifest says {f['rows']}")
        if t.column_names != [c["name"] for c in manifest["columns"]]:
            problems.append(f"{f['name']}: columns {t.column_names} differ from the manifest")
        tables.append(t)
    total = sum(f["rows"] for f in manifest["files"])
    if total != manifest["row_count"]:
        problems.append(f"files hold {total} rows, manifest row_count is {manifest['row_count']}")
    if problems and verify:
        raise ExportVerificationError(f"{store.describe(bucket, mkey)}: " + "; ".join(problems))
    if tables:
        first = tables[0].schema
        table = pa.concat_tables([t.cast(first) for t in tables])
    else:
        table = pa.table({})
    return manifest, table


def check_published(store: ObjectStore, result: ExportResult) -> list[str]:
    """Cheap post-publish check (listing only): the folder holds exactly the manifest's files, sizes equal."""
    listed = store.list(result.bucket, result.partition_prefix)
    problems = []
    for f in result.manifest["files"]:
        size = listed.pop(result.partition_prefix + f["name"], None)
        if size is None:
            problems.append(f"{f['name']} missing")
        elif size != f["bytes"]:
            problems.append(f"{f['name']}: {size} bytes stored, {f['bytes']} written")
    if listed.pop(result.manifest_key, None) is None:
        problems.append("manifest.json missing")
    problems += [f"unexpected object {k}" for k in listed]
    return problems
