"""The feature mart shard by shard: inputs laid out by customer shard, one idempotent task per shard, run
in-process or on a 2-worker Dask LocalCluster, a task that fails and is retried, incremental runs.

Random small data (features.testing.random_orders_world) through the real generated SQL of the `ecom` family
(1,500+ features), in a plain DuckDB connection: no dbt needed here (tests/test_features_mart.py covers dbt)."""
from __future__ import annotations

import json
import os
import shutil
import signal
from datetime import datetime

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import features.shards as shards
from features.catalog import catalog
from features.executor import SCHEDULER_ENV, DaskRunner, InProcessRunner, runner_from_env
from features.shards import build_family_table, parquet_files, read_family_table, read_manifest
from features.testing import random_orders_world

FAMILY = "ecom"


@pytest.fixture(scope="module")
def world():
    return random_orders_world(customers=160, days=400, seed=3)


def _con(spine: pa.Table, orders: pa.Table, until: datetime | None = None):
    """A DuckDB session holding the family's inputs, optionally as the lake knew them on `until` (records and
    observations strictly before it)."""
    con = duckdb.connect()
    if until is not None:
        orders = orders.filter(pc.less(orders["ordered_at"], pa.scalar(until, pa.timestamp("us"))))
        spine = spine.filter(pc.less(spine["obs_at"], pa.scalar(until, pa.timestamp("us"))))
    con.register("spine_in", spine)
    con.register("orders_in", orders)
    return con, {"feat_spine": "select * from spine_in", "stg_orders": "select * from orders_in"}


def _build(tmp_path, world, name, runner, n, until=None, location=None, **kw):
    con, rel = _con(*world, until=until)
    location = location or tmp_path / name / "feat_ecom.parquet"
    manifest = build_family_table(FAMILY, con, rel, location, tmp_path / name / "_shards", runner, n=n, **kw)
    con.close()
    return location, manifest


def _assert_same(a: pa.Table, b: pa.Table):
    assert a.column_names == b.column_names
    assert a.num_rows == b.num_rows
    for col in a.column_names:
        assert a[col].equals(b[col]), col


@pytest.fixture(scope="module")
def reference(tmp_path_factory, world):
    tmp = tmp_path_factory.mktemp("shards_ref")
    location, manifest = _build(tmp, world, "one", InProcessRunner(), n=1)
    return read_family_table(location), manifest


def test_shards_in_process_and_on_dask_give_the_same_table(tmp_path, world, reference, dask_client):
    ref, ref_manifest = reference
    spine = world[0]
    assert ref.num_rows == spine.num_rows == ref_manifest["rows"]
    assert ref.num_columns == 3 + len(catalog().families[FAMILY].features) > 1500
    assert pc.count_distinct(ref["obs_id"]).as_py() == ref.num_rows
    assert pc.sum(ref["ecom_cnt_30d"]).as_py() > 0  # real values, not an empty frame

    local, m_local = _build(tmp_path, world, "local", InProcessRunner(workers=2), n=5)
    # the runner the dbt models get when DASK_SCHEDULER_ADDRESS points at a cluster
    runner = runner_from_env({SCHEDULER_ENV: dask_client.scheduler.address})
    assert isinstance(runner, DaskRunner) and "2 workers" in runner.describe()
    dask, m_dask = _build(tmp_path, world, "dask", runner, n=5)
    runner.close()
    assert len(parquet_files(local)) == len(parquet_files(dask)) == 5
    assert m_local["runner"].startswith("in-process") and m_dask["runner"].startswith("dask")
    assert [p["rows"] for p in m_local["parts"]] == [p["rows"] for p in m_dask["parts"]]
    _assert_same(read_family_table(local), ref)
    _assert_same(read_family_table(dask), ref)
    # each shard holds exactly its customers: hash(customer_id) % 5 = k
    con = duckdb.connect()
    for p in m_dask["parts"]:
        bad = con.execute(f"select count(*) from read_parquet('{dask / p['file']}') "
                          f"where hash(customer_id) % 5 != {p['shard']}").fetchall()[0][0]
        assert bad == 0
    # the inputs are laid out by shard: every shard folder of each input holds only its own customers
    for inp in ("feat_spine", "stg_orders"):
        folder = tmp_path / "dask" / "_shards" / inp
        assert sorted(p.name for p in folder.glob("shard=*")) == [f"shard={k}" for k in range(5)]
        total = con.execute(f"select count(*) from read_parquet('{folder}/shard=*/*.parquet')").fetchall()[0][0]
        assert total == (world[0] if inp == "feat_spine" else world[1]).num_rows
    # a DuckDB reader sees the folder as one table (what the dbt view and the dashboards read)
    assert con.execute(f"select count(*) from read_parquet('{dask}')").fetchall()[0][0] == ref.num_rows


def test_a_task_that_fails_after_writing_is_retried_without_duplicates(tmp_path, world, reference, dask_client,
                                                                       monkeypatch):
    """The worst moment to fail: shard 2's part file is already renamed into place when the task dies. Dask
    retries it; the retry rewrites the same name, so no row is duplicated or lost."""
    failures = []
    real_write = shards._write_part

    def write_then_die(table, path, compression):
        real_write(table, path, compression)
        if path.name == "part-0002.parquet" and not failures:
            failures.append(path)
            raise OSError("worker lost after writing its part")

    monkeypatch.setattr(shards, "_write_part", write_then_die)
    location, manifest = _build(tmp_path, world, "retry", DaskRunner(dask_client, retries=2), n=4)
    assert failures, "the injected failure did not happen"
    got = read_family_table(location)
    assert pc.count_distinct(got["obs_id"]).as_py() == got.num_rows == manifest["rows"] == world[0].num_rows
    _assert_same(got, reference[0])
    assert sorted(p.name for p in location.iterdir()) == [
        "_fingerprints.arrow", "_manifest.json", *[f"part-{k:04d}.parquet" for k in range(4)]]


class _KilledOnce:
    """A shard task whose worker process is killed (SIGKILL, as the OOM killer would) the first time it runs
    shard 2: before it has done anything, or right after its part file is in place."""

    def __init__(self, fn, marker, when):
        self.fn, self.marker, self.when = fn, marker, when

    def _die_once(self, task):
        if task.shard == 2 and not self.marker.exists():
            self.marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)

    def __call__(self, task):
        if self.when == "before":
            self._die_once(task)
        result = self.fn(task)
        if self.when == "after_write":
            self._die_once(task)
        return result


class _KillingRunner(InProcessRunner):
    def __init__(self, marker, when):
        super().__init__(workers=2, retries=2)
        self.marker, self.when = marker, when

    def map(self, fn, tasks):
        return super().map(_KilledOnce(fn, self.marker, self.when), tasks)


@pytest.mark.parametrize("when", ["before", "after_write"])
def test_a_worker_process_killed_mid_shard_is_replaced_and_the_shard_rerun(tmp_path, world, reference, when):
    """The in-process runner's worker is really killed mid-run: the pool breaks, fresh workers start, the
    killed shard and any other unfinished one run again; no row is duplicated or lost."""
    marker = tmp_path / "killed.pid"
    location, manifest = _build(tmp_path, world, "killed", _KillingRunner(marker, when), n=4)
    assert marker.exists() and int(marker.read_text()) != os.getpid()  # a worker process died, not this one
    got = read_family_table(location)
    assert pc.count_distinct(got["obs_id"]).as_py() == got.num_rows == manifest["rows"] == world[0].num_rows
    _assert_same(got, reference[0])
    assert sorted(p.name for p in location.iterdir()) == [
        "_fingerprints.arrow", "_manifest.json", *[f"part-{k:04d}.parquet" for k in range(4)]]


def test_a_failed_build_leaves_the_previous_table_untouched(tmp_path, world, monkeypatch):
    location, first = _build(tmp_path, world, "atomic", InProcessRunner(retries=0), n=3)
    before = read_family_table(location)

    def always_fail(task):
        raise RuntimeError("boom")

    monkeypatch.setattr(shards, "run_shard", always_fail)
    with pytest.raises(RuntimeError, match="boom"):
        _build(tmp_path, world, "atomic", InProcessRunner(retries=0), n=3, incremental=False)
    assert read_manifest(location) == first
    _assert_same(read_family_table(location), before)
    assert not [p for p in location.parent.iterdir() if p.name.startswith(".feat_ecom")]  # no build left behind


def test_one_more_day_recomputes_only_what_changed_and_equals_a_full_rebuild(tmp_path, world):
    day = datetime(2026, 5, 10)
    next_day = datetime(2026, 5, 11)
    location, m0 = _build(tmp_path, world, "inc", InProcessRunner(), n=6, until=day)
    before = read_family_table(location)
    _, m1 = _build(tmp_path, world, "inc", InProcessRunner(), n=6, until=next_day)
    after = read_family_table(location)
    full, m_full = _build(tmp_path, world, "full", InProcessRunner(), n=6, until=next_day, incremental=False)
    assert m0["mode"] == "full" and m1["mode"] == "incremental" and m_full["mode"] == "full"
    _assert_same(after, read_family_table(full))
    # only the customers with an order or an observation on the new day were recomputed
    spine, orders = world
    ts = pa.timestamp("us")
    on_day = lambda t, col: pc.and_(pc.greater_equal(t[col], pa.scalar(day, ts)),  # noqa: E731
                                    pc.less(t[col], pa.scalar(next_day, ts)))
    active = set(orders.filter(on_day(orders, "ordered_at"))["customer_id"].to_pylist()) | set(
        spine.filter(on_day(spine, "obs_at"))["customer_id"].to_pylist())
    assert 0 < m1["customers_changed"] == len(active)
    assert m1["rows_recomputed"] < m1["rows"] / 4
    assert m1["shards_skipped"] + m1["shards_recomputed"] == 6
    # the observations before the new day are exactly as they were; the new ones are that day's
    old = after.filter(pc.less(after["obs_at"], pa.scalar(day, ts)))
    _assert_same(old, before)
    assert after.num_rows - before.num_rows == spine.filter(on_day(spine, "obs_at")).num_rows
    # nothing changed: nothing recomputed
    _, m2 = _build(tmp_path, world, "inc", InProcessRunner(), n=6, until=next_day)
    assert m2["shards_recomputed"] == 0 and m2["customers_changed"] == 0
    assert json.loads((location / "_manifest.json").read_text())["rows"] == after.num_rows
    shutil.rmtree(tmp_path / "inc" / "_shards")


def test_no_scheduler_means_in_process_and_the_dagster_resource_hands_one_to_dbt(monkeypatch):
    from orchestration.dask_resource import DaskResource
    from orchestration.definitions import defs

    assert isinstance(runner_from_env({}), InProcessRunner)
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    assert DaskResource().dbt_env() == {SCHEDULER_ENV: ""} and "in-process" in DaskResource().describe()
    configured = DaskResource(scheduler_address="tcp://10.0.0.5:8786")
    assert configured.dbt_env() == {SCHEDULER_ENV: "tcp://10.0.0.5:8786"}  # scoped into the dbt subprocess
    monkeypatch.setenv(SCHEDULER_ENV, "tcp://10.0.0.6:8786")
    assert DaskResource().dbt_env() == {SCHEDULER_ENV: "tcp://10.0.0.6:8786"}  # unconfigured: the environment's
    assert isinstance(runner_from_env({SCHEDULER_ENV: "  "}), InProcessRunner)
    assert isinstance(defs.resources["dask"], DaskResource)
    dbt_step = next(a for a in defs.assets if "dbt" in getattr(a, "required_resource_keys", set()))
    assert "dask" in dbt_step.required_resource_keys


def test_the_feature_range_check_reads_every_shard_file(tmp_path):
    """The blocking feature-profile check (Parquet footers) sees a bad value in any shard, not only the first."""
    import dagster as dg
    import pyarrow.parquet as pq

    from lake.layout import LakeLayout
    from orchestration.quality_checks import feature_table_check
    from orchestration.resources import LakeResource

    lake = LakeLayout(root=tmp_path / "lake")
    folder = lake.feature_table("feat_ecom")
    folder.mkdir(parents=True)
    check = feature_table_check("feat_ecom")
    for share, expected in ((0.5, True), (1.7, False)):
        for k, shr in enumerate([0.25, share]):
            pq.write_table(pa.table({"obs_id": [2 * k, 2 * k + 1], "ecom_cnt_7d": [0, 3],
                                     "ecom_cat_groceries_shr_cnt_7d": [0.0, shr]}), folder / f"part-{k:04d}.parquet")
        result = check(dg.build_asset_check_context(resources={"lake": LakeResource(root=str(lake.root))}))
        assert result.passed is expected


def test_models_read_only_the_parts_of_their_customers_shards(tmp_path, world, monkeypatch):
    """load_features on observations of two of five customer shards reads two part files, and gives exactly the
    rows and values of a brute-force read of the whole table; observations of every shard read the folder."""
    import numpy as np

    from lake.layout import LakeLayout
    from models import lake_inputs

    layout = LakeLayout(root=tmp_path / "lake")
    location, manifest = _build(tmp_path, world, "lake", InProcessRunner(), n=5,
                                location=layout.feature_table("feat_ecom"))
    assert manifest["n_shards"] == 5 and len(manifest["parts"]) == 5
    monkeypatch.setattr(lake_inputs, "catalog", lambda: type("OneTable", (), {"tables": ["feat_ecom"]})())

    spine = world[0].to_pandas()
    con = duckdb.connect()
    con.register("spine", spine)
    shard_of = dict(con.sql("select customer_id, (hash(customer_id) % 5)::integer from spine").fetchall())
    in_two = spine[spine["customer_id"].map(shard_of).isin([1, 3])]
    obs = in_two.sample(n=min(300, len(in_two)), random_state=0)[["obs_id", "customer_id", "obs_at"]]

    source = lake_inputs._table_source(layout, "feat_ecom", *_wanted(obs))
    assert source.count(".parquet'") == 2 and "part-0001" in source and "part-0003" in source
    got = lake_inputs.load_features(layout, obs)

    whole = read_family_table(location).to_pandas().set_index("obs_id")
    expected = whole.loc[obs["obs_id"].to_numpy()].drop(columns=["customer_id", "obs_at"])
    expected = expected[sorted(expected.columns)].astype("float32").reset_index(drop=True)
    assert len(got) == len(obs) and list(got["obs_id"]) == list(obs["obs_id"])
    features = got.drop(columns=["obs_id", "customer_id", "obs_at"])
    assert list(features.columns) == list(expected.columns) and len(expected.columns) > 1500
    np.testing.assert_array_equal(features.to_numpy(), expected.to_numpy())
    assert np.isfinite(features.to_numpy()).any()

    everyone = spine.groupby("customer_id").head(1)[["obs_id", "customer_id", "obs_at"]]
    assert "part-" not in lake_inputs._table_source(layout, "feat_ecom", *_wanted(everyone))


def _wanted(obs):
    con = duckdb.connect()
    con.register("wanted", obs[["obs_id", "customer_id"]])
    return con, {}
