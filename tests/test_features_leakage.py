"""Leakage test: features at T use only records strictly before T.

One simulated world is ingested once. Lake A gets only the records delivered before a cutoff C (bronze
filtered by each contract's event time); lake B gets every record, with everything stamped at or after C
shuffled across customers, loans and lines (and amounts permuted). Both go through dbt staging + the feature
mart. Every observation before C must have exactly the same features in A and B: adding future events, or
changing them, changes nothing at T.
"""
from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from features.catalog import catalog
from features.testing import shared_build
from lake.layout import LakeLayout
from lake.contracts import load_contracts
from simulator import generate_world
from tests.lakehelpers import ingest_all, run_dbt

CUTOFF = datetime(2026, 7, 1)
SHUFFLE = ["customer_id", "loan_id", "line_id", "amount", "requested_limit", "approved_limit", "device_id", "ip",
           "wifi_mac", "category", "mcc", "new_limit", "tradelines", "inquiries"]


def _rewrite_bronze(src: LakeLayout, dst: LakeLayout, mode: str) -> None:
    shutil.copytree(src.root, dst.root, ignore=shutil.ignore_patterns("lakehouse.duckdb*", "_dbt", "landing", "truth", "features"))
    contracts = load_contracts()
    con = duckdb.connect()
    loans_before = set()
    d = con.execute(f"SELECT loan_id FROM read_parquet('{src.bronze}/drawdowns/*.parquet', union_by_name=true) "
                    f"WHERE drawdown_at < TIMESTAMP '{CUTOFF}'").fetchall()
    loans_before = {r[0] for r in d}
    rng = np.random.default_rng(3)
    for table, contract in contracts.items():
        for path in sorted((dst.bronze / table).glob("*.parquet")):
            t = pq.read_table(path)
            if t.num_rows == 0:
                continue
            if table == "repayment_schedule":  # contractual: known at disbursement, follows its loan
                future = ~np.isin(np.asarray(t["loan_id"].to_pylist(), dtype=object), list(loans_before))
            else:
                times = t[contract.event_time].cast(pa.timestamp("us")).to_numpy(zero_copy_only=False)
                future = times >= np.datetime64(CUTOFF, "us")
            if mode == "truncate":
                t = t.filter(pa.array(~future))
            elif future.any() and table not in ("customers", "repayment_schedule"):
                pos = np.flatnonzero(future)
                for col in SHUFFLE:
                    if col in t.column_names:
                        idx = np.arange(t.num_rows)
                        idx[pos] = pos[rng.permutation(len(pos))]
                        t = t.set_column(t.column_names.index(col), col, t[col].take(pa.array(idx)))
            pq.write_table(t, path)


def _build(root):
    world = LakeLayout(root=root / "world")
    generate_world(world.landing, world.truth, customers=500, months=8, seed=5)
    ingest_all(world)
    lakes = []
    for mode in ("truncate", "shuffle"):
        lake = LakeLayout(root=root / mode)
        _rewrite_bronze(world, lake, mode)
        lakes.append(lake)
    with ThreadPoolExecutor(2) as pool:  # two dbt processes at once
        list(pool.map(lambda lk: run_dbt(lk, "run", "--select", "staging", "features"), lakes))  # no dbt tests needed


@pytest.fixture(scope="module")
def lakes(tmp_path_factory, worker_id):
    base = tmp_path_factory.getbasetemp() if worker_id == "master" else tmp_path_factory.getbasetemp().parent
    from tests.test_features_mart import _build as build_hand_lake

    root = shared_build(base, "features_leakage", _build, meanwhile=[("features_hand_lake", build_hand_lake)])
    return LakeLayout(root=root / "truncate"), LakeLayout(root=root / "shuffle")


def _frame(lake: LakeLayout, table: str):
    con = duckdb.connect()
    try:
        return con.sql(f"SELECT * FROM read_parquet('{lake.root}/features/{table}.parquet') "
                       f"WHERE obs_at < TIMESTAMP '{CUTOFF}' ORDER BY obs_id").to_arrow_table()
    finally:
        con.close()


def test_future_records_exist_and_differ(lakes):
    a, b = lakes
    con = duckdb.connect()
    n_a = con.execute(f"SELECT count(*) FROM read_parquet('{a.bronze}/orders/*.parquet')").fetchone()[0]
    n_b = con.execute(f"SELECT count(*) FROM read_parquet('{b.bronze}/orders/*.parquet')").fetchone()[0]
    assert n_b > n_a > 100  # lake B really has (shuffled) events after the cutoff
    spine_b = _frame(b, "feat_spine")
    assert spine_b.num_rows > 300
    later = con.execute(f"SELECT count(*) FROM read_parquet('{b.root}/features/feat_spine.parquet') "
                        f"WHERE obs_at >= TIMESTAMP '{CUTOFF}'").fetchone()[0]
    assert later > 100


@pytest.mark.parametrize("table", ["feat_spine", *catalog().tables])
def test_no_feature_before_the_cutoff_changes(lakes, table):
    a, b = lakes
    fa, fb = _frame(a, table), _frame(b, table)
    assert fa.num_rows == fb.num_rows > 0
    assert fa["obs_id"].equals(fb["obs_id"])
    assert fa.column_names == fb.column_names
    changed = []
    for col in fa.column_names:
        x, y = fa[col], fb[col]
        if pa.types.is_floating(x.type) or pa.types.is_integer(x.type):
            xa = x.to_numpy(zero_copy_only=False).astype(float)
            ya = y.to_numpy(zero_copy_only=False).astype(float)
            if not np.allclose(xa, ya, rtol=1e-9, atol=1e-9, equal_nan=True):
                changed.append(col)
        elif not x.equals(y):
            changed.append(col)
    assert not changed, f"{table}: {len(changed)} features differ before the cutoff, e.g. {changed[:10]}"
    # and the comparison is not vacuous: the table carries information before the cutoff
    numeric = [c for c in fa.column_names[3:] if pa.types.is_floating(fa[c].type) or pa.types.is_integer(fa[c].type)]
    if numeric:
        assert any(fa[c].null_count < fa.num_rows and np.nanmax(np.abs(fa[c].to_numpy(zero_copy_only=False).astype(float))) > 0
                   for c in numeric)
