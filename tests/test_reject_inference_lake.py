"""Reject inference end to end on a small simulated world: every application is on the spine, the methods are
judged on the through-the-door population of the out-of-time window against the simulator truth, and the best
method is registered as an A-card challenger while the champion stays."""
from __future__ import annotations

import json

import duckdb
import pytest

from lake.layout import LakeLayout
from models.lake_reject_inference import application_observations, run_reject_inference
from models.registry import ModelRegistry
from models.reject_inference import METHODS
from tests.lakehelpers import copy_lake

TRUTH_COLUMNS = {"true_pd_a_card", "bad_a_card", "counterfactual_true_pd", "mob6_observed", "outcome_source"}


@pytest.fixture(scope="module")
def lake(a_card_world, tmp_path_factory) -> LakeLayout:
    # reject inference registers a challenger: its own copy of the shared world
    return copy_lake(a_card_world, tmp_path_factory.mktemp("reject_inference") / "lake")


@pytest.fixture(scope="module")
def report(lake):
    registry = ModelRegistry(lake.registry)
    before = (registry.champion("a_card"), registry.list_versions("a_card"))
    return run_reject_inference(lake, n_boot=100, log=lambda *_: None), before


def test_every_application_booked_or_declined_is_an_observation_with_features(lake):
    obs = application_observations(lake)
    con = duckdb.connect()
    n_bronze, n_declined = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE decision = 'rejected') "
        f"FROM read_parquet('{lake.bronze_dir('applications').as_posix()}/**/*.parquet')").fetchone()
    assert len(obs) == obs["application_id"].nunique() == n_bronze
    assert int((~obs["accepted"]).sum()) == n_declined > 300
    assert obs.loc[~obs["accepted"], "target"].isna().all()  # declined applicants never have a label
    assert not TRUTH_COLUMNS & set(obs.columns)
    # declined applicants carry features like the booked do (the bureau / telco families are on every row)
    feats = con.execute(f"SELECT obs_id, * EXCLUDE (obs_id, customer_id, obs_at) "
                    f"FROM read_parquet('{lake.feature_table('feat_telco').as_posix()}')").df().set_index("obs_id")
    declined = feats.reindex(obs.loc[~obs["accepted"], "obs_id"])
    assert declined.notna().mean().mean() > 0.5


def test_ttd_evaluation_against_the_truth(report):
    rep, _ = report
    table = rep.table.set_index("model")
    assert list(table.index) == ["accepted_only", "fuzzy", "parcelling", "reweighting", "oracle (true pd)"]
    oracle = table.loc["oracle (true pd)"]
    assert rep.info["n_ttd_oot"] == oracle["n_ttd"] > 200 and oracle["n_rejects"] > 50
    assert 0.2 < rep.info["decline_rate"] < 0.5
    for name in ["accepted_only", "fuzzy", "parcelling", "reweighting"]:
        row = table.loc[name]
        assert row["auc_ttd_ci_low"] <= row["auc_ttd"] <= row["auc_ttd_ci_high"]
        assert row["auc_ttd_ci_high"] > 0.5 and row["auc_ttd"] > 0.5, name
        # ranking by the true probability is the best possible against the true probability
        assert 0.5 < row["auc_ttd_true_pd"] <= oracle["auc_ttd_true_pd"] + 1e-9, name
        assert row["mean_pd_rejects"] > 0 and row["true_pd_rejects"] == pytest.approx(oracle["true_pd_rejects"])
    # the declined are riskier than the booked in truth, which the accepted-only model must be told about
    assert oracle["true_pd_rejects"] > oracle["true_pd_ttd"]
    assert table.loc["parcelling", "mean_pd_rejects"] > table.loc["accepted_only", "mean_pd_rejects"]


def test_best_method_is_registered_as_a_challenger_and_the_champion_stays(lake, report):
    rep, (champion_before, versions_before) = report
    registry = ModelRegistry(lake.registry)
    assert champion_before is not None and registry.champion("a_card") == champion_before
    new = [v for v in registry.list_versions("a_card") if v not in versions_before]
    assert new == [rep.challenger_version]
    m = registry.metrics("a_card", rep.challenger_version)
    best = rep.table.set_index("model").loc[rep.best_method]
    assert m["reject_inference_method"] == rep.best_method in METHODS and m["role"] == "challenger"
    # like for like: the challenger is the champion's model type
    assert m["model_type"] == registry.metrics("a_card", champion_before)["model_type"] == rep.info["model_type"]
    assert m["model_name"] == f"a_card_{m['model_type']}_ri_{rep.best_method}"
    assert m["auc_ttd"] == pytest.approx(best["auc_ttd"]) and m["auc_ttd_true_pd"] == pytest.approx(best["auc_ttd_true_pd"])
    assert m["auc_ttd_ci"][0] <= m["auc_ttd"] <= m["auc_ttd_ci"][1]
    assert m["auc_ttd_true_pd"] == max(rep.table.set_index("model").loc[list(METHODS[1:]), "auc_ttd_true_pd"])
    assert len(m["reject_inference"]["table"]) == 5
    json.loads((registry.path("a_card", rep.challenger_version) / "metrics.json").read_text())  # valid JSON
    features = json.loads((registry.path("a_card", rep.challenger_version) / "features.json").read_text())
    assert features and not TRUTH_COLUMNS & set(features) and "accepted" not in features
    loaded = registry.load("a_card", rep.challenger_version)  # scores like any registered model
    obs = application_observations(lake).head(50)
    from models.lake_inputs import load_features

    p = loaded.predict_proba(load_features(lake, obs))
    assert ((p > 0) & (p < 1)).all()
