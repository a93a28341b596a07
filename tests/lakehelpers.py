"""Build small lakes from hand-written rows: land them as the source systems would, ingest, run dbt.

Used by tests that need hand-computed cases through the real pipeline (contracts -> bronze -> dbt).
"""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from filelock import FileLock

from lake import storage
from lake.layout import LakeLayout
from lake.contracts import load_contracts
from orchestration import dbt_cli
from orchestration.ingest.pipeline import ingest_table

KEY = "test-key"
NOW = datetime(2026, 10, 1, 12, 0, 0)


def land_rows(lake: LakeLayout, table: str, rows: list[dict], name: str = "batch_1") -> Path:
    """Write rows for `table` in the contract's landing format (missing columns left empty)."""
    contract = load_contracts()[table]
    folder = contract.landing_dir(lake.landing)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{table}_{name}{contract.extension}"
    cols = contract.column_names
    if contract.format == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
        writer.writeheader()
        for r in rows:
            writer.writerow({c: r.get(c, "") for c in cols})
        path.write_text(buf.getvalue())
    elif contract.format == "jsonl":
        path.write_text("".join(json.dumps({c: r.get(c) for c in cols}, ensure_ascii=False) + "\n" for r in rows))
    elif contract.format == "json":
        path.write_text(json.dumps({contract.records_path: [{c: r.get(c) for c in cols} for r in rows]}))
    else:  # parquet: let DuckDB type the values the way the contract says
        con = duckdb.connect()
        con.register("t", pa.Table.from_pylist([{c: None if r.get(c) is None else str(r[c]) for c in cols} for r in rows]))
        casts = ", ".join(f'TRY_CAST("{c.name}" AS {c.duckdb_type}) AS "{c.name}"' for c in contract.columns)
        pq.write_table(con.sql(f"SELECT {casts} FROM t").to_arrow_table(), path)
    return path


def ingest_all(lake: LakeLayout) -> dict[str, object]:
    return {t: ingest_table(c, lake, KEY, now=NOW, progress=lambda _: None) for t, c in load_contracts().items()}


def run_dbt(lake: LakeLayout, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run dbt against this lake (its own catalog, target and log folders, so tests can run in parallel)."""
    return dbt_cli.run_dbt(lake, *args, check=check)


def query(lake: LakeLayout, sql: str) -> list[tuple]:
    con = storage.connect(lake.root, lake.database, read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def run_graph(lake: LakeLayout, selection, partition_key: str | None = None, raise_on_error: bool = False):
    """Run the selected part of the real asset graph (with its checks) in-process against this lake."""
    import dagster as dg

    from orchestration.definitions import build_definitions

    if not isinstance(selection, dg.AssetSelection):
        selection = dg.AssetSelection.assets(*selection)
    job = build_definitions(str(lake.root), selection=selection).resolve_job_def("selected")
    return job.execute_in_process(partition_key=partition_key, raise_on_error=raise_on_error)


def failures(result) -> list[str]:
    """What went wrong in a run, for an assertion message: each failed step's error (class and message) and
    each step that was skipped because an upstream output was not produced."""
    out = []
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            error = event.step_failure_data.error
            while error is not None and error.cause is not None and error.cls_name.startswith("Dagster"):
                error = error.cause  # Dagster's wrapper: the user code's own error is its cause
            out.append(f"{event.step_key}: {error.cls_name}: {error.message.strip()[-2000:]}" if error else event.message)
        elif event.event_type_value == "STEP_SKIPPED":
            out.append(f"{event.step_key}: skipped ({event.message})")
    return out


LABELS = ("a_card", "fraud", "b_card", "c_card")
SMALL_TRAINING_MAX_ROWS = 4000  # keeps four labels x two model types affordable on two cores
SMALL_TRAINING_FEATURE_STRIDE = 6  # every 6th feature column: the same code path at a fraction of the cost


def small_training(mp) -> None:
    """Patch (with a pytest MonkeyPatch) the lake training to a sample of rows and of feature columns."""
    from models import lake_training
    from models.lake_inputs import model_specs

    specs = model_specs()
    for label in LABELS:
        mp.setitem(specs["labels"][label], "max_rows", SMALL_TRAINING_MAX_ROWS)
    load = lake_training.load_features

    def fewer_features(layout, obs, columns=None):
        frame = load(layout, obs, columns)
        keep = [c for i, c in enumerate(frame.columns[len(obs.columns):]) if i % SMALL_TRAINING_FEATURE_STRIDE == 0]
        return frame[[*obs.columns, *keep]]

    mp.setattr(lake_training, "load_features", fewer_features)


def copy_lake(lake: LakeLayout, root: Path) -> LakeLayout:
    """A private copy of a (shared, read-only) local lake, its catalog views pointed at the copy's files: for
    tests that add to the lake (retrain, register, score) without touching the shared build."""
    from lake.catalog import rebuild_catalog

    shutil.copytree(lake.root, root)
    copy = LakeLayout(root=root)
    rebuild_catalog(copy)
    return copy


def shared_lake(tmp_path_factory, name: str, build) -> LakeLayout:
    """Build a lake once per test session even under pytest-xdist: workers share the parent of their base
    temp dirs, and a file lock makes the second worker wait for (and reuse) the first one's build."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    root = base / name
    with FileLock(str(root) + ".lock"):
        lake = LakeLayout(root=root / "lake")
        if not (root / ".built").exists():
            shutil.rmtree(root, ignore_errors=True)
            build(lake)
            (root / ".built").write_text("ok")
    return lake
