"""The lake on S3: with LAKE_ROOT=s3://bucket/prefix (a moto server on 127.0.0.1, spoken to over HTTP like any
S3-compatible store), the asset graph on a small simulated world gives the same tables as on a local folder,
and the dashboards render from the S3 lake.

Covered here on S3: landing -> ingest (bronze, quarantine, ingest log) -> Great Expectations checks -> dbt
staging and marts -> dashboards. The local DuckDB file is only a catalog of views (lake/catalog.py): deleting it
and rebuilding it from the S3 files gives the same answers. The writers after the marts (the sharded feature-table
publish, the model registry, exports into the lake) are covered on tiny data in tests/test_lake_s3_writers.py:
models need a 14-month world, and on S3 every landed file costs HTTP requests at ingest, so the whole graph
on S3 is `make materialize` with an S3 LAKE_ROOT (README "Lake on S3"), not a suite test.
"""
from __future__ import annotations

import shutil
import uuid

import dagster as dg
import pandas as pd
import pytest

from lake import storage
from lake.layout import LakeLayout
from tests.s3server import FAKE_CREDENTIALS

simulator = pytest.importorskip("simulator")

# 4 months: enough for every mart, label and feature family; models need 14 (their writers on S3 are
# tests/test_lake_s3_writers.py, and bench/bench_lake_s3.py runs both jobs of `make materialize`)
CUSTOMERS, MONTHS, SEED = 2000, 4, 11
# run-specific columns: when and in which batch a row was ingested
RUN_COLUMNS = ("_ingested_at", "_batch_id", "ingested_at", "batch_id")


def _graph_selection():
    from orchestration.definitions import unpartitioned

    # ingest, GE checks, staging, marts, labels, the sharded feature mart and its stats (models: see above)
    return unpartitioned - dg.AssetSelection.groups("models", "strategy")


@pytest.fixture(scope="module")
def lakes(s3_server, tmp_path_factory):
    from tests.lakehelpers import run_graph

    with pytest.MonkeyPatch.context() as mp:
        for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "S3_ENDPOINT_URL", "EXPORT_STORAGE"):
            mp.delenv(var, raising=False)
        mp.setenv("AWS_ACCESS_KEY_ID", FAKE_CREDENTIALS["aws_access_key_id"])
        mp.setenv("AWS_SECRET_ACCESS_KEY", FAKE_CREDENTIALS["aws_secret_access_key"])
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        mp.setenv("AWS_ENDPOINT_URL", s3_server.endpoint_url)
        base = tmp_path_factory.mktemp("s3lake")
        mp.setenv("LAKE_LOCAL_DIR", str(base / "local"))
        bucket = f"lake-{uuid.uuid4().hex[:12]}"
        s3_server.client().create_bucket(Bucket=bucket)

        world = LakeLayout(root=base / "world")  # generated locally, then uploaded
        simulator.generate_world(world.landing, world.truth, customers=CUSTOMERS, months=MONTHS, seed=SEED,
                                 log=None)
        local = LakeLayout(root=base / "local_lake")
        shutil.copytree(world.landing, local.landing)
        remote = LakeLayout.at(f"s3://{bucket}/risk")
        assert storage.put_folder(world.landing, remote.landing) > 100

        results = {name: run_graph(lake, _graph_selection()) for name, lake in (("local", local), ("s3", remote))}
        yield local, remote, results, mp


def _fingerprint(lake: LakeLayout, path) -> tuple:
    """Row count and an order-free hash of every column (run-specific columns left out) of one Parquet file."""
    con = storage.connect(lake.root)
    rel = f"read_parquet({storage.sql_string(path)})"
    described = [(r[0], r[1]) for r in con.execute(f"DESCRIBE SELECT * FROM {rel}").fetchall() if r[0] not in RUN_COLUMNS]
    cols = [c for c, _ in described]
    # floating-point aggregates depend on the order DuckDB's threads add them up in (last-bit differences
    # between any two runs, local or not): compared rounded to 6 decimals
    sums = ", ".join(f'sum(hash(round("{c}", 6))::HUGEINT)'
                     if t in ("DOUBLE", "FLOAT") else f'sum(hash("{c}")::HUGEINT)' for c, t in described)
    return (tuple(cols),) + con.execute(f"SELECT count(*), {sums} FROM {rel}").fetchone()


def _names(folder) -> list[str]:
    return sorted(p.name for p in folder.glob("*.parquet"))


def test_the_graph_runs_on_s3_and_writes_nothing_locally_but_the_catalog(lakes):
    local, remote, results, _ = lakes
    for name, result in results.items():
        failures = [e.message for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        assert result.success, (name, failures)
    assert remote.marts.exists() and _names(remote.marts)
    # what stays local for an S3 lake: the DuckDB catalog and dbt's artefacts, in the local working folder
    assert remote.database.exists() and remote.database.is_relative_to(remote.local)
    assert not (remote.local / "bronze").exists() and not (remote.local / "marts").exists()


def test_same_tables_on_s3_as_locally(lakes):
    local, remote, _, _ = lakes
    compared = 0
    for folder in ("marts",):
        names = _names(getattr(local, folder))
        assert names == _names(getattr(remote, folder)), folder
        for name in names:
            assert _fingerprint(local, getattr(local, folder) / name) == _fingerprint(remote, getattr(remote, folder) / name), name
            compared += 1
    from features.catalog import catalog

    def by_obs(lake, source):
        return storage.connect(lake.root).sql(f"SELECT * FROM read_parquet({storage.sql_string(source)}) "
                                              "ORDER BY obs_id").df()

    sources = {"labels": lambda lake: lake.labels} | {  # feature tables: folders of customer-shard part files
        t: (lambda lake, t=t: storage.parquet_source(lake.feature_table(t))) for t in catalog().tables}
    for name, source in sources.items():
        fl, fr = by_obs(local, source(local)), by_obs(remote, source(remote))
        assert len(fl) > 0, name
        # ratios of sums may differ in the last bits (DuckDB adds up in thread order): equal to 1e-9
        pd.testing.assert_frame_equal(fl, fr, check_exact=False, rtol=1e-9, atol=1e-12, obj=name)
        compared += 1
    for table in ("customers", "drawdowns", "repayments", "credit_reports", "fund_flows"):
        for layout in (local, remote):
            assert layout.bronze_dir(table).exists()
        fl = _fingerprint(local, f"{local.bronze_dir(table)}/*.parquet")
        fr = _fingerprint(remote, f"{remote.bronze_dir(table)}/*.parquet")
        assert fl == fr and fl[1] > 0, table
        compared += 1
    assert compared > 30


def test_the_catalog_is_rebuildable_views_over_s3(lakes):
    from lake.catalog import rebuild_catalog
    from tests.lakehelpers import query

    _, remote, _, _ = lakes
    sql = ["SELECT count(*), sum(principal) FROM marts.vintage_curves", "SELECT count(*) FROM bronze.customers",
           "SELECT count(*), sum(landed_rows) FROM ops.ingest_log"]
    before = [query(remote, q) for q in sql]
    remote.database.unlink()
    made = rebuild_catalog(remote)
    assert made["bronze"] >= 14 and made["marts"] > 10
    assert [query(remote, q) for q in sql] == before
    assert before[1][0][0] > 0


def test_dashboards_render_from_the_s3_lake(lakes):
    from streamlit.testing.v1 import AppTest

    from lake.layout import REPO_ROOT

    _, remote, _, mp = lakes
    mp.setenv("LAKE_ROOT", str(remote.root))
    at = AppTest.from_file(str(REPO_ROOT / "dashboards" / "app.py"), default_timeout=120)
    for page in ("views/vintage.py", "views/delinquency.py", "views/fund_usage.py"):
        at.switch_page(page)
        at.run()
        assert not at.exception, (page, [e.value for e in at.exception])
        assert at.get("vega_lite_chart"), page
    caption = " ".join(c.value for c in at.sidebar.caption)
    assert str(remote.root) in caption  # the sidebar names the S3 lake it reads
    for module in ("data_quality",):
        page = AppTest.from_string(f"from dashboards.page_modules.{module} import render\nrender()", default_timeout=120)
        page.run()
        assert not page.exception, (module, [e.value for e in page.exception])
        assert page.dataframe, module
    # no models trained in this graph: the page says so instead of failing
    page = AppTest.from_string("from dashboards.page_modules.models import render\nrender()", default_timeout=120)
    page.run()
    assert not page.exception and any("No model registry" in i.value for i in page.info)
    mp.delenv("LAKE_ROOT")
