"""Writers behind the dbt `feature_parquet` materialization (dbt_project/macros/features_materialization.sql).

A model's result goes to one Parquet file, written to a temporary name first and renamed into place, so a
reader (the dashboards, a training job) never sees a half-written file.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from lake.storage import filesystem, is_remote, lake_path


def _tmp(location: str) -> str:
    Path(location).parent.mkdir(parents=True, exist_ok=True)
    return f"{location}.tmp-{os.getpid()}"


def write_sql(con, sql: str, location: str, compression: str = "zstd") -> None:
    """COPY a query straight to Parquet (narrow tables: the spine, cross-family ratios)."""
    if is_remote(location):  # an S3 PUT is atomic: no temporary name (dbt's connection has the filesystem)
        con.execute(f"COPY ({sql}) TO '{location}' (FORMAT parquet, COMPRESSION {compression})").fetchall()
        return
    tmp = _tmp(location)
    try:
        con.execute(f"COPY ({sql}) TO '{tmp}' (FORMAT parquet, COMPRESSION {compression})").fetchall()
        os.replace(tmp, location)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_tables(tables: Iterable[pa.Table], location: str, compression: str = "zstd") -> int:
    """Write Arrow tables (shards of one schema) as row groups of one Parquet file; returns the row count.

    The file is written by a background thread while the next shard is computed (pyarrow releases the GIL),
    with at most two shards waiting, so memory stays bounded."""
    import queue
    import threading

    remote = is_remote(location)
    tmp = location if remote else _tmp(location)  # an S3 PUT is atomic: written in place
    q: queue.Queue = queue.Queue(maxsize=2)
    state: dict = {"rows": 0, "error": None}

    def writer_loop() -> None:
        writer = None
        try:
            while (t := q.get()) is not None:
                if writer is None:
                    # dictionary encoding only pays for the keys; for thousands of float columns it costs
                    # ~25% write time and makes the file larger
                    dict_cols = [c for c in ("customer_id",) if c in t.column_names]
                    writer = (pq.ParquetWriter(tmp, t.schema, compression=compression, use_dictionary=dict_cols)
                              if not remote else
                              pq.ParquetWriter(tmp[len("s3://"):], t.schema, compression=compression,
                                               use_dictionary=dict_cols, filesystem=filesystem(lake_path(tmp))))
                writer.write_table(t, row_group_size=max(t.num_rows, 1))
                state["rows"] += t.num_rows
            if writer is None:
                raise ValueError("the model produced no table (not even an empty one)")
            writer.close()
            writer = None
        except BaseException as exc:  # noqa: BLE001 - reported to the producer below
            state["error"] = exc
            while q.get() is not None:  # drain so the producer never blocks
                pass
        finally:
            if writer is not None:
                writer.close()

    thread = threading.Thread(target=writer_loop, name="feature-parquet-writer", daemon=True)
    thread.start()
    try:
        try:
            for t in tables:
                if state["error"] is not None:
                    break
                q.put(t)
        finally:
            q.put(None)
            thread.join()
        if state["error"] is not None:
            raise state["error"]
        if not remote:
            os.replace(tmp, location)
    finally:
        if not remote and os.path.exists(tmp):
            os.remove(tmp)
    return state["rows"]


def write_model_output(df, con, location: str, compression: str = "zstd") -> None:
    """What a dbt Python model returned -> Parquet: a sharded family build (features.engine.ShardedFamilyBuild,
    a folder of part files), a pyarrow Table, an iterable of Tables, or a relation."""
    import duckdb

    if hasattr(df, "write") and callable(df.write):  # a sharded family build writes its own folder of parts
        df.write(location, compression)
    elif isinstance(df, pa.Table):
        write_tables([df], location, compression)
    elif isinstance(df, duckdb.DuckDBPyRelation):
        write_sql(con, df.sql_query(), location, compression)
    elif hasattr(df, "__iter__"):
        write_tables(df, location, compression)
    else:
        raise TypeError(f"feature_parquet cannot write a {type(df).__name__}")
