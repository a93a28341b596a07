"""Customer shards as the unit of work of the feature mart.

A family table is built in `n` shards, shard k = the customers with hash(customer_id) % n = k:

1. **Inputs laid out by shard** (`partition_input`): the spine and the family's source (and as-of parent) are
   written once per build as hive-style Parquet `<lake>/features/_shards/<input>/shard=k/`, with one fingerprint
   per customer (row count + an order-free hash of its rows). A shard task reads only its own folder, so no
   shard re-scans every source.
2. **One idempotent task per shard** (`run_shard`, run by features.executor in-process or on Dask): the
   generated long-form SQL of the family on that shard's files, reshaped wide by features.engine, written to a
   temporary name and renamed to `part-kkkk.parquet`. A retried task rewrites the same name: never a
   duplicate, never a lost row.
3. **Manifest last**: `_fingerprints.arrow` and then `_manifest.json` (parts, rows, the family fingerprint)
   are written after every part. A full build goes to a fresh folder swapped into place at the end.
4. **Incremental**: when the previous manifest has the same family fingerprint and shard count, only customers
   whose input fingerprint changed (new or corrected records, new observations) are recomputed; a shard with
   none of them is not touched, and the others keep their unchanged customers' rows as they were.

The family table `<lake>/features/<table>.parquet` is then a folder of part files, read as one table by
DuckDB (`read_parquet('<folder>')`) and pyarrow (`pq.read_table`); `parquet_files` lists the parts.
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.feather as feather

from features.catalog import catalog
from features.executor import duckdb_settings
from features.sqlgen import family_fingerprint, long_sql, shard_of_sql  # noqa: F401 - shard_of_sql re-exported
from lake import storage

MANIFEST = "_manifest.json"
FINGERPRINTS = "_fingerprints.arrow"


def _q(path: Path | str) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def parquet_files(path: Path | str) -> list[Path]:
    """The data files of a feature table: the file itself, or the part files of a sharded table's folder."""
    path = storage.lake_path(path) if isinstance(path, str) else path  # a LakePath (pathlib or UPath) as it is
    if path.is_dir():
        return sorted(path.glob("part-*.parquet"))
    return [path] if path.exists() else []


def read_manifest(path) -> dict | None:
    path = storage.lake_path(path) if isinstance(path, str) else path
    m = path / MANIFEST
    return json.loads(m.read_text()) if path.is_dir() and m.exists() else None


def family_inputs(name: str) -> list[str]:
    """The relations a family's long SQL reads: the spine, its source and its as-of parent."""
    fam = catalog().families[name]
    names = ["feat_spine", fam.source]
    if fam.asof and fam.asof["parent"] not in names:
        names.append(fam.asof["parent"])
    return names


@lru_cache(maxsize=1)
def _sql_macros() -> str:
    from lake.layout import REPO_ROOT

    return (REPO_ROOT / "dbt_project" / "macros" / "features_sql.sql").read_text()


def shard_sql(name: str, relations: dict[str, str]) -> str:
    """The family's generated long SQL rendered like dbt renders it (the catalog's SQL macros), with each
    `ref` replaced by a relation (e.g. one shard's files): runnable on any DuckDB, without dbt."""
    import jinja2

    template = jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(
        _sql_macros() + "\n" + long_sql(catalog().families[name]))
    return template.render(ref=lambda model: relations[model], config=lambda *a, **k: "").strip() + "\n"


def spine_keys_sql(spine_relation: str) -> str:
    from features.sqlgen import shard_predicate

    return (f"select obs_id::bigint as obs_id, customer_id::varchar as customer_id, obs_at::timestamp as obs_at "
            f"from {spine_relation} where {shard_predicate('customer_id')} order by customer_id, obs_at")


# ---- 1. inputs by shard -------------------------------------------------------------------------------------
def _write_once(target: Path, build) -> None:
    """Build a folder under a temporary name and swap it into place (a crash leaves the old one)."""
    tmp = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        build(tmp)
        storage.publish_folder(tmp, target)
    finally:
        storage.remove_tree(tmp)


def partition_input(con, sql: str, target: Path, n: int, run_key: str) -> Path:
    """Lay one input relation out as `<target>/shard=k/*.parquet` (every k present, possibly empty) plus
    `_fingerprints.parquet` (shard, customer_id, rows, hash). Done once per `run_key` (families sharing an
    input in one dbt run share the folder; a lock keeps concurrent dbt threads from building it twice)."""
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        stamp = target / "_run.json"
        if stamp.exists() and json.loads(stamp.read_text()) == {"run_key": run_key, "n_shards": n}:
            return target

        def build(tmp: Path) -> None:
            rel = f"(select *, {shard_of_sql(n)} as shard from ({sql}))"
            con.execute(f"COPY {rel} TO {_q(tmp)} (FORMAT parquet, PARTITION_BY (shard), COMPRESSION lz4)").fetchall()
            for k in range(n):
                if not (tmp / f"shard={k}").exists():
                    (tmp / f"shard={k}").mkdir(parents=True)
                    con.execute(f"COPY (select * from ({sql}) limit 0) TO {_q(tmp / f'shard={k}' / 'empty.parquet')} "
                                "(FORMAT parquet)").fetchall()
            con.execute(f"COPY (select {shard_of_sql(n)} as shard, customer_id::varchar as customer_id, "
                        f"count(*)::bigint as n, bit_xor(hash(t)) as h from ({sql}) t group by all) "
                        f"TO {_q(tmp / '_fingerprints.parquet')} (FORMAT parquet)").fetchall()
            (tmp / "_run.json").write_text(json.dumps({"run_key": run_key, "n_shards": n}))

        _write_once(target, build)
    return target


def shard_relation(folder: Path, k: int) -> str:
    return f"read_parquet({_q(folder / f'shard={k}' / '*.parquet')}, hive_partitioning = false)"


def customer_fingerprints(con, folders: dict[str, Path]) -> pa.Table:
    """One fingerprint per customer over all of a family's inputs: (shard, customer_id, fp)."""
    parts = " union all ".join(f"select {_q(name)} as input, shard, customer_id, n, h "
                               f"from read_parquet({_q(folder / '_fingerprints.parquet')})"
                               for name, folder in sorted(folders.items()))
    return con.sql(f"select shard, customer_id, hash(list((input, n, h) order by input)) as fp "
                   f"from ({parts}) group by shard, customer_id").to_arrow_table()


def changed_customers(con, old: pa.Table | None, new: pa.Table) -> pa.Table:
    """(shard, customer_id) of customers whose fingerprint differs, appeared or disappeared."""
    if old is None:
        return new.select(["shard", "customer_id"])
    con.register("_fp_old", old)
    con.register("_fp_new", new)
    try:
        return con.sql("select coalesce(n.shard, o.shard) as shard, coalesce(n.customer_id, o.customer_id) as customer_id "
                       "from _fp_new n full join _fp_old o on n.customer_id = o.customer_id "
                       "where n.fp is distinct from o.fp").to_arrow_table()
    finally:
        con.unregister("_fp_old")
        con.unregister("_fp_new")


# ---- 2. one task per shard ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ShardTask:
    family: str
    shard: int
    n_shards: int
    inputs: dict[str, str]            # input name -> folder laid out by shard
    part_path: str                    # where the part file of this shard goes
    customers: tuple[str, ...] | None = None   # incremental: only these customers (None = the whole shard)
    in_process_workers: int = 1


@dataclass
class ShardResult:
    shard: int
    file: str
    rows: int
    recomputed_rows: int
    seconds: float
    timings: dict = field(default_factory=dict)


def _write_part(table: pa.Table, path, compression: str) -> None:
    # whole file, atomically (local: temporary name + rename; S3: one PUT), through the lake's storage
    storage.write_parquet(table, path, compression=compression, row_group_size=max(table.num_rows, 1),
                          use_dictionary=[c for c in ("customer_id",) if c in table.column_names])


def fetch_long(con, sql: str) -> dict[str, np.ndarray]:
    """The long aggregate as numpy arrays straight from DuckDB, each stat's missing values (a slice block
    without that stat) already replaced by its neutral value (0 for counts / sums, +inf for min, -inf for max,
    what features.engine.Stats fills them with): no Arrow copy and no masks (~15% less CPU than Arrow ->
    numpy, measured on the 20k ecom shards)."""
    from features.engine import ADDITIVE, _kind

    def neutral(column: str) -> str:
        kind = _kind(column)
        return "0" if kind in ADDITIVE else ("'inf'::double" if kind == "lo" else "'-inf'::double")

    columns = [d[0] for d in con.sql(sql).limit(0).description]
    select = ", ".join(c if c in ("r", "slot", "b") else f"coalesce({c}, {neutral(c)}) as {c}" for c in columns)
    return con.sql(f"select {select} from ({sql})").fetchnumpy()


_POOLS = threading.local()


def _buffer_pool() -> dict:
    """Stat buffers recycled across the tasks a thread runs (fresh ones cost more in page faults than the
    arithmetic; see features.engine.Stats)."""
    if not hasattr(_POOLS, "pool"):
        _POOLS.pool = {}
    return _POOLS.pool


def run_shard(task: ShardTask) -> ShardResult:
    """Compute one shard of a family and write its part file (idempotent: a rerun gives the same file)."""
    import duckdb

    from features.engine import _hugepages, key_schema, reshape

    t0 = time.perf_counter()
    fam = catalog().families[task.family]
    con = duckdb.connect(config=duckdb_settings(task.in_process_workers).config())
    try:
        con.execute("SET enable_progress_bar = false").fetchall()  # a worker's log is no terminal
        con.execute(f"SET VARIABLE features_nshards = {int(task.n_shards)}").fetchall()
        con.execute(f"SET VARIABLE features_shard = {int(task.shard)}").fetchall()
        rels = {}
        for name, folder in task.inputs.items():
            rel = shard_relation(Path(folder), task.shard)
            if task.customers is not None:
                rel = f"(select * from {rel} where customer_id in (select customer_id from _only))"
            rels[name] = rel
        if task.customers is not None:
            con.register("_only", pa.table({"customer_id": pa.array(task.customers, pa.string())}))
        keys = con.sql(spine_keys_sql(rels["feat_spine"])).to_arrow_table().cast(key_schema())
        long = fetch_long(con, shard_sql(task.family, rels))
        t1 = time.perf_counter()
        timings: dict = {}
        huge = _hugepages(False)
        try:
            table = reshape(fam, keys, long, timings, _buffer_pool())
        finally:
            if huge is not None:
                _hugepages(huge)
        timings["sql_s"] = t1 - t0
    finally:
        con.close()
    recomputed = table.num_rows
    part = storage.lake_path(task.part_path)
    if task.customers is not None and part.exists():
        old = storage.read_parquet(part)
        keep = pc.invert(pc.is_in(old["customer_id"], value_set=pa.array(task.customers, pa.string())))
        table = pa.concat_tables([old.filter(keep), table.cast(old.schema)])
        table = table.sort_by([("customer_id", "ascending"), ("obs_at", "ascending")])
    t2 = time.perf_counter()
    _write_part(table, part, catalog().settings.get("compression", "zstd"))
    timings["write_s"] = time.perf_counter() - t2
    return ShardResult(task.shard, part.name, table.num_rows, recomputed, time.perf_counter() - t0, timings)


# ---- 3. the family build ------------------------------------------------------------------------------------
def _part_name(k: int) -> str:
    return f"part-{k:04d}.parquet"


def build_family_table(name: str, con, relations: dict[str, str], location: Path | str, work_dir: Path | str,
                       runner, n: int | None = None, run_key: str | None = None,
                       incremental: bool = True, log=None) -> dict:
    """Build (or bring up to date) the sharded table of family `name` at `location`; returns the manifest.

    `relations`: input name -> SQL of that relation in `con` (the dbt session: staging tables, the spine view).
    """
    from features.engine import n_shards

    t0 = time.perf_counter()
    fam = catalog().families[name]
    location, work_dir = storage.lake_path(location), Path(work_dir)
    run_key = run_key or uuid.uuid4().hex
    previous = read_manifest(location)
    if n is None:
        # keep the previous shard count while the spine has not grown past twice its size (so the shards, and
        # incremental runs, stay stable day to day)
        total = con.execute(f"select count(*) from ({relations['feat_spine']})").fetchall()[0][0]
        n = n_shards(total)
        if previous and previous.get("n_shards") and n / 2 <= previous["n_shards"] <= 2 * n:
            n = int(previous["n_shards"])
    folders = {inp: partition_input(con, relations[inp], work_dir / inp, n, run_key) for inp in family_inputs(name)}
    t_part = time.perf_counter() - t0
    fingerprints = customer_fingerprints(con, folders)
    fp = family_fingerprint(fam)
    reuse = (incremental and previous is not None and previous.get("family_fingerprint") == fp
             and previous.get("n_shards") == n and (location / FINGERPRINTS).exists()
             and all((location / p["file"]).exists() for p in previous.get("parts", [])))
    changed = changed_customers(con, _read_fingerprints(location) if reuse else None, fingerprints)
    workers = getattr(runner, "workers", 1)
    if reuse:
        target = location
        by_shard: dict[int, list[str]] = {}
        for s, c in zip(changed["shard"].to_pylist(), changed["customer_id"].to_pylist()):
            by_shard.setdefault(int(s), []).append(c)
        tasks = [ShardTask(name, k, n, {i: str(f) for i, f in folders.items()}, str(target / _part_name(k)),
                           tuple(sorted(cs)), workers) for k, cs in sorted(by_shard.items())]
    else:
        target = location.with_name(f".{location.name}.build-{uuid.uuid4().hex[:8]}")
        storage.makedirs(target)
        tasks = [ShardTask(name, k, n, {i: str(f) for i, f in folders.items()}, str(target / _part_name(k)),
                           None, workers) for k in range(n)]
    try:
        results = {r.shard: r for r in runner.map(run_shard, tasks)}
        parts = []
        old_parts = {p["shard"]: p for p in (previous or {}).get("parts", [])} if reuse else {}
        for k in range(n):
            if k in results:
                parts.append({"shard": k, "file": results[k].file, "rows": results[k].rows})
            else:
                parts.append(old_parts[k])
        storage.remove_unfinished_writes(target)  # a killed worker's half-written part, retried since
        _write_fingerprints(fingerprints, target / FINGERPRINTS)
        timings: dict = {}
        for r in results.values():
            for key, v in r.timings.items():
                timings[key] = round(timings.get(key, 0.0) + v, 3)
        manifest = {
            "family": name, "table": fam.table, "family_fingerprint": fp, "n_shards": n,
            "mode": "incremental" if reuse else "full", "runner": runner.describe(),
            "rows": int(sum(p["rows"] for p in parts)), "features": len(fam.features),
            "shards_recomputed": len(results), "shards_skipped": n - len(results),
            "rows_recomputed": int(sum(r.recomputed_rows for r in results.values())),
            "customers_changed": changed.num_rows, "parts": parts,
            "partition_inputs_s": round(t_part, 3), "task_seconds": timings,
            "wall_s": round(time.perf_counter() - t0, 3),
            "built_at": datetime.now().replace(microsecond=0).isoformat(),
        }
        # manifest last; a full build's folder is then published in place of the old one (lake.storage)
        storage.write_text(target / MANIFEST, json.dumps(manifest, indent=1))
        if not reuse:
            storage.publish_folder(target, location, last=(MANIFEST,))
    finally:
        if not reuse and target != location and target.exists():
            storage.remove_tree(target)
    if log:
        log(f"{fam.table}: {manifest['mode']} on {manifest['runner']}: {manifest['shards_recomputed']}/{n} shards, "
            f"{manifest['rows_recomputed']:,}/{manifest['rows']:,} rows recomputed in {manifest['wall_s']:.1f} s")
    return manifest


def _write_fingerprints(table: pa.Table, path) -> None:
    sink = pa.BufferOutputStream()
    feather.write_feather(table, sink, compression="lz4")
    storage.write_bytes(path, sink.getvalue().to_pybytes())


def _read_fingerprints(location) -> pa.Table:
    with (location / FINGERPRINTS).open("rb") as fh:
        return feather.read_table(pa.BufferReader(fh.read()))


def read_family_table(location: Path | str) -> pa.Table:
    """A sharded family table as one Arrow table sorted by (customer_id, obs_at) (tests, small lakes)."""
    tables = [storage.read_parquet(p) for p in parquet_files(location)]
    t = pa.concat_tables(tables) if tables else pa.table({})
    return t.sort_by([("customer_id", "ascending"), ("obs_at", "ascending")]) if t.num_rows else t

