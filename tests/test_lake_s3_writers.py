"""The lake's writers on S3, on tiny data against a moto server on 127.0.0.1 (fast; the whole graph on S3 is
tests/test_lake_s3.py): the sharded feature-table publish, the model registry (versions claimed and never
overwritten, one object per log event, models loaded back), partner exports into the lake's own folder, and
the storage primitives they stand on (exclusive create, folder publish)."""
from __future__ import annotations

import uuid

import numpy as np
import pytest

from lake import storage
from lake.layout import LakeLayout
from tests.s3server import all_keys


@pytest.fixture
def s3_lake(s3_server, s3_bucket, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint_url)
    for var in ("S3_ENDPOINT_URL", "EXPORT_STORAGE", "EXPORT_LOCAL_ROOT"):
        monkeypatch.delenv(var, raising=False)
    return LakeLayout.at(f"s3://{s3_bucket}/lake")


def _keys(s3_client, lake: LakeLayout, under) -> list[str]:
    bucket, prefix = str(under)[len("s3://"):].split("/", 1)
    return [k[len(prefix) + 1:] for k in all_keys(s3_client, bucket) if k.startswith(prefix + "/")]


def test_exclusive_create_and_folder_publish(s3_lake, s3_client, tmp_path):
    claim = s3_lake.root / "x" / "_claim"
    assert storage.create_exclusive(claim, b"a") and not storage.create_exclusive(claim, b"b")
    assert claim.read_bytes() == b"a"  # the second writer changed nothing
    local = tmp_path / "claim"
    assert storage.create_exclusive(local, b"a") and not storage.create_exclusive(local, b"b")

    target, staged = s3_lake.root / "t", s3_lake.root / ".t.build"
    for name in ("part-0.parquet", "part-1.parquet", "_manifest.json"):
        storage.write_text(target / name, "old")
    for name in ("part-0.parquet", "_manifest.json"):
        storage.write_text(staged / name, "new")
    storage.publish_folder(staged, target, last=("_manifest.json",))
    assert _keys(s3_client, s3_lake, target) == ["_manifest.json", "part-0.parquet"]  # the stale part is gone
    assert (target / "part-0.parquet").read_text() == "new" and not staged.exists()


def test_sharded_feature_table_publishes_on_s3_as_locally(s3_lake, s3_client, tmp_path):
    import duckdb

    from features.executor import InProcessRunner
    from features.shards import build_family_table, parquet_files, read_family_table, read_manifest
    from features.testing import random_orders_world

    spine, orders = random_orders_world(customers=16, days=90, seed=5)

    def build(location, n, **kw):
        con = duckdb.connect()
        con.register("spine_in", spine)
        con.register("orders_in", orders)
        rel = {"feat_spine": "select * from spine_in", "stg_orders": "select * from orders_in"}
        try:
            return build_family_table("ecom", con, rel, location, tmp_path / f"shards-{uuid.uuid4().hex[:6]}",
                                      InProcessRunner(), n=n, **kw)
        finally:
            con.close()

    local = tmp_path / "feat_ecom.parquet"
    build(local, 2)
    remote = s3_lake.feature_table("feat_ecom")
    build(remote, 3)
    assert [p.name for p in parquet_files(remote)] == ["part-0000.parquet", "part-0001.parquet", "part-0002.parquet"]
    again = build(remote, 2, incremental=False)  # a full rebuild with fewer shards: published over the old one
    assert again["mode"] == "full" and read_manifest(remote)["n_shards"] == 2
    assert _keys(s3_client, s3_lake, remote) == ["_fingerprints.arrow", "_manifest.json",
                                                 "part-0000.parquet", "part-0001.parquet"]
    assert not [k for k in _keys(s3_client, s3_lake, s3_lake.features) if ".build-" in k]  # no staging left
    a, b = read_family_table(local), read_family_table(remote)
    assert a.num_rows == b.num_rows > 0 and a.column_names == b.column_names
    assert all(a[c].equals(b[c]) for c in a.column_names)
    same = build(remote, 2)  # incremental, nothing changed: no shard recomputed
    assert same["mode"] == "incremental" and same["shards_recomputed"] == 0


@pytest.fixture(scope="module")
def trained():
    from models.synthetic import make_credit_data
    from models.train import train_model

    data = make_credit_data(1500, 14, n_informative=4, seed=3)
    return data, train_model(data, "bad", time_column="month", model_type="lightgbm", label="a_card", select=False,
                             params={"n_estimators": 20})


def test_registry_on_s3(s3_lake, s3_client, trained):
    from models.registry import CLAIM, ModelRegistry

    data, gbm = trained
    reg = ModelRegistry(s3_lake.registry)
    assert reg.register(gbm, plots=False) == "v0001"
    storage.create_exclusive(s3_lake.registry / "a_card" / "v0002" / CLAIM, b"")  # another trainer's claim
    assert reg.register(gbm, plots=False) == "v0003"  # v0002 is taken, not overwritten
    assert reg.list_versions("a_card") == ["v0001", "v0003"]  # v0002 has no metrics.json: incomplete
    reg.set_champion("a_card", "v0003", reason="test")
    reg.propose("a_card", "v0001", reason="test")
    assert [e["event"] for e in reg.log("a_card")] == ["register", "register", "champion", "candidate"]
    assert len(_keys(s3_client, s3_lake, s3_lake.registry / "a_card" / "registry_log")) == 4  # one object each
    model = reg.load("a_card")
    assert model.version == "v0003" and storage.is_remote(model.path)
    frame = data[gbm.features].head(50)
    assert np.allclose(model.predict_proba(frame), gbm.model.predict_proba(frame))
    files = _keys(s3_client, s3_lake, s3_lake.registry / "a_card" / "v0003")
    assert {"model.txt", "metrics.json", "features.json", CLAIM} <= set(files)


def test_exports_into_an_s3_lake(s3_lake, s3_client):
    from exports.storage import LakeFolderStore, StorageError, store_from_env

    store = store_from_env(local_root=str(s3_lake.exports))
    assert isinstance(store, LakeFolderStore)
    store.check_bucket("partner")
    store.put("partner", "p/business_date=2026-09-30/_staging/a.csv", b"x,y\n")
    store.copy("partner", "p/business_date=2026-09-30/_staging/a.csv", "p/business_date=2026-09-30/a.csv")
    assert store.get("partner", "p/business_date=2026-09-30/a.csv") == b"x,y\n"
    assert store.list("partner", "p/") == {"p/business_date=2026-09-30/_staging/a.csv": 4,
                                           "p/business_date=2026-09-30/a.csv": 4}
    store.delete("partner", ["p/business_date=2026-09-30/_staging/a.csv"])
    assert list(store.list("partner", "p/")) == ["p/business_date=2026-09-30/a.csv"]
    assert store.describe("partner", "p/a.csv") == f"{s3_lake.exports}/partner/p/a.csv"
    with pytest.raises(StorageError, match="escapes"):
        store.put("partner", "../other/x", b"")
    with pytest.raises(StorageError, match="does not exist"):
        store.get("partner", "p/missing.csv")


def test_backtest_history_and_scores_files_on_s3(s3_lake):
    """The strategy backtest's history (and its grades) and a day's scores are whole objects on S3, read back
    as written (the full graph, with the models these need, is `make materialize`: README "Lake on S3")."""
    import pandas as pd
    import pyarrow as pa

    from models import backtest

    history = pd.DataFrame({"obs_id": [1, 2, 3], "a_card_score": [610.0, 540.0, 702.0], "bad": [0, 1, 0]})
    backtest._write(history, s3_lake.backtest_history)
    storage.write_text(s3_lake.backtest_history_grades, '{"a_card": null}')
    got, grades = backtest.read_history(s3_lake)
    pd.testing.assert_frame_equal(got, history)
    assert grades == {"a_card": None}
    scores = pa.table({"obs_id": [1, 2], "score": [600, 640]})
    storage.write_parquet(scores, s3_lake.scores_file("2026-09-30"))  # how models.batch publishes a day's scores
    assert s3_lake.scores_files() == [s3_lake.scores_file("2026-09-30")]
    assert storage.read_parquet(s3_lake.scores_file("2026-09-30")).equals(scores)


def test_ingest_from_s3_fetches_new_files_once_and_keeps_the_local_rules(s3_lake, monkeypatch, tmp_path):
    """Ingest on an S3 lake: landed files fetched together into a temporary folder and read like local ones;
    a second run fetches nothing (name, size and time match the log); a changed re-delivery under a known
    name is still a conflict (it is fetched and hashed); bronze equals the same files ingested locally."""
    from lake.contracts import load_contracts
    from orchestration.ingest.pipeline import ingest_table

    contract = load_contracts()["drawdowns"]
    header = ("loan_id,line_id,customer_id,drawdown_at,amount,term_months,annual_rate,declared_purpose,partner_id,"
              "product,channel\n")
    row = "L{0},LN1,C1,2026-09-0{0} 10:00:00,1000,6,0.18,travel,PB01,revolving,app\n"
    files = {f"drawdowns_2026090{d}.csv": header + row.format(d) for d in (1, 2, 3)}
    local = LakeLayout(root=tmp_path / "local")
    for name, text in files.items():
        for lake in (s3_lake, local):
            storage.write_text(contract.landing_dir(lake.landing) / name, text)
    calls = []  # files per fetch from S3
    fs = storage.filesystem(s3_lake.root)  # fsspec caches it: the one the ingest uses
    real_get = fs.get
    monkeypatch.setattr(fs, "get", lambda rpath, lpath, **k: (calls.append(len(rpath)), real_get(rpath, lpath, **k))[1])

    def ingest(lake):
        return ingest_table(contract, lake, "test-key", progress=lambda _: None)

    first = ingest(s3_lake)
    assert first.conserved and first.bronze == 3 and calls == [3]  # three files, one concurrent fetch
    ingest(local)

    def bronze(lake):
        files = storage.sql_string(storage.parquet_source(lake.bronze_dir("drawdowns")))
        return storage.connect(lake.root).sql(f"SELECT * EXCLUDE (_ingested_at, _batch_id) FROM read_parquet({files}) "
                                              "ORDER BY loan_id").fetchall()

    assert bronze(s3_lake) == bronze(local)
    again = ingest(s3_lake)
    assert again.batch_id is None and again.skipped_files == 3 and calls == [3]  # nothing fetched the second time
    storage.write_text(contract.landing_dir(s3_lake.landing) / "drawdowns_20260902.csv", header + row.format(2) + row.format(4))
    changed = ingest(s3_lake)
    assert calls == [3, 1] and [f.status for f in changed.files] == ["conflict"] and changed.bronze == 0
