"""Models through Dagster on a small simulated world: train and register the A-card, never overwrite a
version, score a business date into the scores contract and export one partner's files."""
from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from lake.scores import SCORES_COLUMNS, scores_path
from lake.layout import LakeLayout
from models.registry import ModelRegistry
from tests.lakehelpers import copy_lake, failures, run_graph

BUSINESS_DATE = "2026-09-30"


@pytest.fixture(scope="module")
def lake(a_card_world, tmp_path_factory) -> LakeLayout:
    # this module retrains, scores and exports: its own copy of the shared world
    return copy_lake(a_card_world, tmp_path_factory.mktemp("models") / "lake")


def registry_dir(lake: LakeLayout):
    return lake.registry / "a_card"


def test_a_card_is_trained_registered_and_judged_against_the_oracle(lake):
    folder = registry_dir(lake)
    champion = json.loads((folder / "champion.json").read_text())
    metrics = json.loads((folder / champion["version"] / "metrics.json").read_text())
    cv = {v: json.loads((folder / v / "metrics.json").read_text())["cv_auc"] for v in ("v0001", "v0002")}
    assert champion["version"] == max(cv, key=cv.get)  # chosen by in-time CV AUC, whichever model type it is
    assert metrics["label"] == "a_card" and metrics["model_type"] in ("lightgbm", "scorecard")
    for key in ("auc_oot", "ks_oot", "gini_oot", "oracle_auc"):
        assert isinstance(metrics[key], float), key
    assert metrics["gini_oot"] == pytest.approx(2 * metrics["auc_oot"] - 1)
    assert 0.6 < metrics["auc_oot"] <= metrics["oracle_auc"] + 0.05
    assert ModelRegistry(lake.registry).list_versions("a_card") == ["v0001", "v0002"]  # LightGBM candidate + scorecard baseline
    assert json.loads((folder / "v0002" / "metrics.json").read_text())["model_type"] == "scorecard"
    assert any(p.suffix == ".png" for p in (folder / "v0001").rglob("*"))


def test_retraining_adds_versions_and_never_overwrites(lake):
    before = {p: p.stat().st_mtime_ns for p in (registry_dir(lake) / "v0001").rglob("*") if p.is_file()}
    # two labels: trained side by side in worker processes (the world's A-card was trained in-process)
    result = run_graph(lake, [["models", "a_card"], ["models", "fraud"]])
    assert result.success, failures(result)
    materialized = {e.asset_key.path[-1] for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"}
    assert materialized == {"a_card", "fraud"}
    registry = ModelRegistry(lake.registry)
    assert registry.list_versions("a_card") == ["v0001", "v0002", "v0003", "v0004"]
    assert registry.list_versions("fraud") == ["v0001", "v0002"]
    assert {p: p.stat().st_mtime_ns for p in (registry_dir(lake) / "v0001").rglob("*") if p.is_file()} == before
    # the same lake and code give the same models in a worker process as in-process: files and figures
    for first, again in (("v0001", "v0003"), ("v0002", "v0004")):
        a, b = registry_dir(lake) / first, registry_dir(lake) / again
        model_files = sorted(p.name for p in a.iterdir() if p.suffix in (".txt", ".json", ".pkl", ".csv")
                             and p.name != "metrics.json")
        assert model_files and model_files == sorted(p.name for p in b.iterdir() if p.name in model_files)
        for name in model_files:
            assert (a / name).read_bytes() == (b / name).read_bytes(), (first, again, name)
        ma, mb = (json.loads((f / "metrics.json").read_text()) for f in (a, b))
        for key in ("model_type", "auc_oot", "cv_auc", "auc_train", "ks_oot", "n_features", "fingerprints"):
            assert ma[key] == mb[key], (first, again, key)


def test_scores_and_partner_export_for_a_business_date(lake):
    result = run_graph(lake, [["scores", "batch_scores"], ["exports", "pb01_a_card_daily"]], partition_key=BUSINESS_DATE)
    assert result.success, failures(result)
    checks = {e.asset_check_evaluation_data.asset_check_key.asset_key.path[0]: e.asset_check_evaluation_data
              for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}
    assert checks["scores"].passed and checks["scores"].metadata["rows_validated"].value > 100
    scores = pq.read_table(scores_path(BUSINESS_DATE, lake.root)).to_pandas()
    assert tuple(scores.columns) == SCORES_COLUMNS
    registry = ModelRegistry(lake.registry)
    champions = {label for label in registry.labels() if registry.champion(label)}  # a_card (+ fraud once retrained)
    assert "a_card" in champions and set(scores["label"]) == champions and len(scores) > 100
    assert scores["probability"].between(0, 1).all() and scores["grade"].isin(list("ABCDE")).all()
    risky = scores[scores["grade"].isin(["D", "E"])]
    assert risky["reason_1"].notna().all()  # adverse grades always carry reasons
    manifests = list((lake.root / "exports").rglob("PB01/**/manifest.json"))
    assert len(manifests) == 1
    manifest = json.loads(manifests[0].read_text())
    assert manifest["row_count"] == int(((scores["partner_id"] == "PB01") & (scores["label"] == "a_card")).sum())
    exported = b"".join(p.read_bytes() for p in manifests[0].parent.iterdir() if p.name != "manifest.json")
    assert not any(cid.encode() in exported for cid in scores["customer_id"].head(50))


def test_a_score_shift_blocks_the_partner_export(lake):
    import pyarrow as pa
    import pyarrow.compute as pc

    first = run_graph(lake, [["scores", "batch_scores"]], partition_key=BUSINESS_DATE)
    assert first.success, failures(first)
    # Pretend the day before scored everyone 200 points higher: today's distribution has shifted.
    today = pq.read_table(scores_path(BUSINESS_DATE, lake.root))
    before = today.set_column(today.schema.get_field_index("score"), "score",
                              pc.cast(pc.add(today.column("score"), 200), pa.int32()))
    previous = scores_path("2026-09-29", lake.root)
    previous.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(before, previous)
    try:
        result = run_graph(lake, [["scores", "batch_scores"], ["exports", "pb03_a_card_daily"]],
                           partition_key=BUSINESS_DATE)
    finally:
        previous.unlink()
    check = next(e.asset_check_evaluation_data for e in result.all_events
                 if e.event_type_value == "ASSET_CHECK_EVALUATION")
    assert not check.passed and "score shift" in check.description
    exported = [e for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"
                and e.asset_key.path[0] == "exports"]
    assert exported == []
