"""Models on the lake: the true oracle per label, deterministic training, champions chosen by in-time CV,
the approval step, and the monitoring backfill with its model card (one small simulated world)."""
from __future__ import annotations

import hashlib
import json

import duckdb
import numpy as np
import pytest

from lake.layout import LakeLayout
from models import lake_training
from models.lake_inputs import model_specs
from models.registry import ModelRegistry, RegistryError, main as registry_cli
from simulator import generate_world
from simulator.oracle import default_prior
from tests.lakehelpers import LABELS, copy_lake, small_training as small_training_patch

@pytest.fixture(scope="module")
def lake(trained_world, tmp_path_factory) -> LakeLayout:
    # monitoring and approvals add to the lake: this module's own copy of the shared world
    return copy_lake(trained_world, tmp_path_factory.mktemp("lake_training") / "lake")


@pytest.fixture
def small_training(monkeypatch):
    small_training_patch(monkeypatch)


@pytest.fixture(scope="module")
def trained(lake):
    """Each label's LightGBM and scorecard versions, trained once in the shared world."""
    reg = ModelRegistry(lake.registry)
    return {label: reg.list_versions(label)[:2] for label in LABELS}


# ---------------------------------------------------------------------------------------------- the oracle
def test_default_prior_follows_the_fate_model_by_hand():
    prior, none = default_prior(np.array([0.1, 0.1, 0.5]), np.array([3, 12, 6]), np.array([False, False, True]))
    w = np.array([0.34, 0.24, 0.18, 0.14, 0.10])
    assert prior[0, :3] == pytest.approx(0.1 * w[:3] / w[:3].sum()) and prior[0, 3:].sum() == 0
    assert none[0] == pytest.approx(0.9)
    late_each = 0.9 * 0.3 * 0.1 / 6  # not a 6-MOB default, a late one at installment 7..12
    assert prior[1, :5] == pytest.approx(0.1 * w) and prior[1, 6:] == pytest.approx(np.full(6, late_each))
    assert none[1] == pytest.approx(1 - 0.1 - 6 * late_each)
    assert prior[2, :2] == pytest.approx([0.45, 0.05]) and none[2] == pytest.approx(0.5)  # ring: k = 1 or 2


def test_the_oracle_draws_nothing_landing_is_unchanged(tmp_path, monkeypatch):
    """Landing bytes are the same with the oracle computed and with it skipped (it uses no random stream)."""
    import simulator.world as world

    def files(root):
        return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(root.rglob("*")) if p.is_file()}

    generate_world(tmp_path / "a" / "landing", tmp_path / "a" / "truth", customers=800, months=12, seed=3, log=None)
    empty = world.pa.table({"x": [1]})
    monkeypatch.setattr(world.oracle, "application_oracle", lambda *a, **k: empty)
    monkeypatch.setattr(world.oracle, "month_end_oracle", lambda *a, **k: empty)
    generate_world(tmp_path / "b" / "landing", tmp_path / "b" / "truth", customers=800, months=12, seed=3, log=None)
    assert files(tmp_path / "a" / "landing") == files(tmp_path / "b" / "landing")
    assert (tmp_path / "a" / "truth" / "month_end_oracle.parquet").stat().st_size > 1000


@pytest.mark.parametrize("label", LABELS)
def test_oracle_covers_and_is_calibrated_on_the_labels(lake, label):
    """The oracle is the probability of exactly the labels mart's event: every labelled observation has one,
    and its mean matches the realised bad rate within sampling error, overall and in its top and bottom halves."""
    obs = duckdb.sql(f"SELECT obs_id, customer_id, obs_at, bad_{label}::INTEGER AS y FROM "
                     f"read_parquet('{lake.labels.as_posix()}') WHERE bad_{label} IS NOT NULL ORDER BY obs_id").df()
    p = lake_training.oracle_probability(lake, obs, label)
    assert len(obs) > 200 and p.notna().all()
    y, q = obs["y"].to_numpy(), p.to_numpy()
    for part in (np.ones(len(q), bool), q >= np.median(q), q < np.median(q)):
        se = np.sqrt((q[part] * (1 - q[part])).sum()) / part.sum()
        assert abs(y[part].mean() - q[part].mean()) <= 3.5 * se + 0.005, (label, y[part].mean(), q[part].mean())


@pytest.mark.parametrize("label", LABELS)
def test_no_model_beats_its_oracle_on_oot(lake, trained, label):
    for version in trained[label]:
        check = lake_training.oracle_bound(lake, label, version)
        metrics = ModelRegistry(lake.registry).metrics(label, version)
        assert check["auc_model"] == pytest.approx(metrics["auc_oot"], abs=1e-9)  # the same OOT rows re-scored
        assert check["auc_oracle"] == pytest.approx(metrics["oracle_auc"], abs=1e-9)
        assert check["diff_ci"][0] <= 0.0, check  # model - oracle is not significantly positive


# ---------------------------------------------------------------------------------------------- determinism
def test_training_twice_gives_bit_identical_models_and_metrics(lake, small_training, tmp_path, monkeypatch):
    monkeypatch.setattr(lake_training, "lake_registry", lambda layout: ModelRegistry(tmp_path / "registry"))
    first = lake_training.train_label(lake, "a_card", log=lambda *_: None)
    second = lake_training.train_label(lake, "a_card", log=lambda *_: None)
    reg = ModelRegistry(tmp_path / "registry")
    skip = {"metrics.json", "model_card.md"} | {f"{p}.png" for p in ("roc", "ks", "deciles", "calibration")}
    volatile = {"created_at", "registered_at", "version", "timings_s", "train_seconds"}
    for model_type in ("lightgbm", "scorecard"):
        a, b = reg.path("a_card", first[model_type]["version"]), reg.path("a_card", second[model_type]["version"])
        names = sorted(p.name for p in a.iterdir() if p.name not in skip and p.suffix != ".joblib")
        assert names == sorted(p.name for p in b.iterdir() if p.name not in skip and p.suffix != ".joblib")
        for name in names:
            assert (a / name).read_bytes() == (b / name).read_bytes(), (model_type, name)
        ma, mb = (json.loads((f / "metrics.json").read_text()) for f in (a, b))
        assert {k: v for k, v in ma.items() if k not in volatile} == {k: v for k, v in mb.items() if k not in volatile}
        assert first[model_type]["auc_oot"] == second[model_type]["auc_oot"]


# ---------------------------------------------------------------------------------------------- champions
def test_champion_is_the_best_in_time_cv_auc_never_the_configured_type(lake, trained):
    reg = ModelRegistry(lake.registry)
    for label in LABELS:
        versions = trained[label]
        cv = {v: reg.metrics(label, v)["cv_auc"] for v in versions}
        assert all(isinstance(x, float) and 0.4 < x < 1 for x in cv.values()), cv
        assert reg.champion(label) == max(cv, key=cv.get)
        assert len(reg.metrics(label, versions[0])["cv_auc_folds"]) == lake_training.CV_FOLDS


def test_lightgbm_feature_cap_scales_with_bads():
    defaults = model_specs()["defaults"]
    caps = [lake_training.lightgbm_selection(defaults, bads)["max_features"] for bads in (10, 60, 200, 10_000)]
    assert caps == [15, 30, 100, 150]


def test_manual_promotion_waits_for_an_approval_that_records_who_when_why(lake, trained, tmp_path, capsys):
    import shutil

    root = tmp_path / "registry"
    shutil.copytree(lake.registry / "a_card", root / "a_card")
    (root / "a_card" / "champion.json").unlink()
    reg = ModelRegistry(root)
    v1, v2 = trained["a_card"]
    out = lake_training.promote_candidate(reg, "a_card", v2, "cv_auc", margin=0.005, mode="manual")
    assert out["candidate"] == v2 and reg.champion("a_card") is None
    assert [e["version"] for e in reg.pending("a_card")] == [v2]
    with pytest.raises(RegistryError, match="--by NAME and --why"):
        reg.approve("a_card", v2, by=" ", why="")
    assert registry_cli(["--root", str(root), "approve", "a_card", v2, "--by", "R. Officer", "--why", "CV AUC best"]) == 0
    record = json.loads((root / "a_card" / "champion.json").read_text())
    assert record["version"] == v2 and record["approval"]["by"] == "R. Officer"
    assert record["approval"]["why"] == "CV AUC best" and record["approval"]["at"] and record["approval"]["candidate"]
    assert reg.pending("a_card") == []
    log = reg.log("a_card")
    assert [e["event"] for e in log][-2:] == ["candidate", "champion"] and log[-1]["approval"]["by"] == "R. Officer"
    assert registry_cli(["--root", str(root), "approve", "a_card", "v9999", "--by", "x", "--why", "y"]) == 2
    assert "no version 'v9999'" in capsys.readouterr().err
    with pytest.raises(lake_training.ModelDataError, match="promotion must be"):
        lake_training.promote_candidate(reg, "a_card", v1, "cv_auc", margin=0.005, mode="sometimes")


# ---------------------------------------------------------------------------------------------- monitoring
def test_backfill_fills_monitoring_tables_and_writes_the_model_card(lake, trained):
    from models.monitoring import backfill, monitoring_tables

    out = backfill(lake, "b_card", log=lambda *_: None)
    tables = monitoring_tables(lake, "b_card", out["version"])
    scored = duckdb.sql(f"SELECT * FROM read_parquet('{out['folder']}/backfill.parquet')").df()
    assert out["months"] >= 12 and set(scored["window"]) >= {"train", "oot"}
    matured = scored[scored["target"].notna()]
    grades = tables["grades"]
    assert grades["rows"].sum() == len(matured) and grades["bads"].sum() == int(matured["target"].sum())
    assert set(grades["grade"]) <= set("ABCDE")
    vint = tables["vintages"]
    assert vint["rows"].sum() == len(scored) and vint["auc"].notna().sum() >= 3
    assert vint.loc[vint["window"] == "train", "score_psi"].median() < 0.1  # months of the baseline itself
    assert vint["expected_bad_rate"].notna().all()  # expected for every month, realised once matured
    csi = tables["csi"]
    assert csi["feature"].nunique() >= 5 and (csi["csi"] >= 0).all()
    card = (ModelRegistry(lake.registry).path("b_card", out["version"]) / "model_card.md").read_text()
    for section in ("## Purpose", "## Population", "## Windows", "## Features", "## Performance", "## Stability",
                    "## Limitations", "true oracle"):
        assert section in card
    assert "(validation: 4-fold cross-validation on it, stratified by the label, each `customer_id`'s observations " \
           "in one fold)" in card


@pytest.mark.parametrize("workers", [1, 2])
def test_a_label_that_fails_is_returned_as_its_error_in_process_and_in_workers(tmp_path, workers):
    # a lake without labels: each label fails on its own and comes back as its exception (no crash, none lost)
    results = lake_training.train_labels(LakeLayout(root=tmp_path / "no_labels"), ["a_card", "fraud"],
                                         log=lambda *_: None, workers=workers)
    assert list(results) == ["a_card", "fraud"]
    assert all(isinstance(err, Exception) for err in results.values()), results


def test_training_workers_come_from_the_environment_and_never_exceed_the_labels(monkeypatch):
    monkeypatch.setenv(lake_training.TRAINING_WORKERS_ENV, "3")
    assert lake_training.training_workers(2) == 2 and lake_training.training_workers(5) == 3
    assert lake_training.training_workers(4, workers=1) == 1
    monkeypatch.setenv(lake_training.TRAINING_WORKERS_ENV, "two")
    with pytest.raises(lake_training.ModelDataError, match="MODEL_TRAINING_WORKERS='two' is not a number"):
        lake_training.training_workers(2)


def test_the_training_sample_reads_few_shards_and_spreads_over_customers(tmp_path):
    """With more labelled rows than max_rows: shards 0, 1, ... of the mart's shard count until they hold max_rows
    customers, and within them the rows first by hash(obs_id); nothing from the other shards. Recounted here
    from each customer's shard; one shard is the plain sample by hash(obs_id)."""
    layout = LakeLayout(root=tmp_path / "lake")
    layout.labels.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute(f"""COPY (SELECT i AS obs_id, 'C' || (i // 6)::VARCHAR AS customer_id,
                             TIMESTAMP '2025-01-01' + INTERVAL (i % 12) MONTH AS obs_at,
                             (i % 12) AS obs_month, NULL::VARCHAR AS first_loan_id,
                             CASE WHEN i % 10 = 9 THEN NULL ELSE (i % 7 = 0) END AS bad_x
                      FROM range(12000) t(i)) TO '{layout.labels}' (FORMAT parquet)""")
    family = layout.feature_table("feat_ecom")  # the first catalog table: its manifest gives the shard count
    family.mkdir(parents=True)
    manifest = family / "_manifest.json"
    manifest.write_text(json.dumps({"n_shards": 4, "parts": []}))

    obs = lake_training.training_observations(layout, {"target": "bad_x", "max_rows": 700}, {"max_rows": 30000})
    rows = con.sql(f"SELECT obs_id, customer_id, (hash(customer_id) % 4)::INTEGER AS shard, hash(obs_id) AS h "
                   f"FROM '{layout.labels}' WHERE bad_x IS NOT NULL").df()
    customers_per_shard = rows.groupby("shard")["customer_id"].nunique()
    # the fewest leading shards holding 700 customers (2,000 customers in all, ~500 a shard)
    chosen = next(k for k in range(1, 5) if customers_per_shard.loc[:k - 1].sum() >= 700)
    assert chosen >= 2
    expected = rows[rows["shard"] < chosen].sort_values(["h", "obs_id"]).head(700)
    assert len(obs) == 700 and obs["target"].notna().all()
    assert set(obs["obs_id"]) == set(expected["obs_id"])
    assert list(obs["obs_id"]) == list(obs.sort_values(["obs_month", "obs_id"])["obs_id"])
    assert rows[rows["obs_id"].isin(obs["obs_id"])].groupby("customer_id").size().mean() < 1.5
    # fewer labelled rows than max_rows: all of them
    everything = lake_training.training_observations(layout, {"target": "bad_x", "max_rows": 20000}, {"max_rows": 30000})
    assert sorted(everything["obs_id"]) == sorted(rows["obs_id"])
    # one shard: the sample by hash of obs_id, whatever the customers
    manifest.write_text(json.dumps({"n_shards": 1, "parts": []}))
    one = lake_training.training_observations(layout, {"target": "bad_x", "max_rows": 700}, {"max_rows": 30000})
    assert set(one["obs_id"]) == set(rows.sort_values(["h", "obs_id"]).head(700)["obs_id"])


def test_labels_are_started_largest_sample_first(tmp_path):
    """Workers take labels in the order they are submitted: the largest training sample (labelled rows, capped
    at the spec's max_rows: B-card 40,000, the others 30,000) goes first; an unknown lake keeps the given order."""
    layout = LakeLayout(root=tmp_path / "lake")
    layout.labels.parent.mkdir(parents=True, exist_ok=True)
    # labelled rows: A-card 50,000 (capped at 30,000), fraud 35,000 (capped: 30,000), B-card 45,000 (capped:
    # 40,000), C-card 20,000
    duckdb.connect().execute(f"""COPY (SELECT i AS obs_id,
            CASE WHEN i < 50000 THEN i % 2 = 0 END AS bad_a_card, CASE WHEN i < 35000 THEN i % 3 = 0 END AS bad_fraud,
            CASE WHEN i < 45000 THEN i % 5 = 0 END AS bad_b_card, CASE WHEN i < 20000 THEN i % 2 = 0 END AS bad_c_card
        FROM range(60000) t(i)) TO '{layout.labels}' (FORMAT parquet)""")
    assert lake_training.largest_first(layout, ["c_card", "a_card", "fraud", "b_card"]) == ["b_card", "a_card", "fraud", "c_card"]
    assert lake_training.largest_first(layout, ["fraud", "a_card"]) == ["fraud", "a_card"]   # a tie keeps the order
    assert lake_training.largest_first(LakeLayout(root=tmp_path / "empty"), ["c_card", "b_card"]) == ["c_card", "b_card"]


def test_load_features_keeps_the_observations_order_and_numpy_float32_semantics(tmp_path, monkeypatch):
    """One row per requested observation in the requested order (missing values where the table lacks it), columns
    sorted, numbers and booleans as float32 with a DOUBLE beyond float32's range as ±inf (numpy's cast; DuckDB's
    refuses it), NaN kept NaN, text as text; a table with a repeated obs_id is refused."""
    import types

    import pandas as pd

    from models import lake_inputs

    layout = LakeLayout(root=tmp_path / "lake")
    path = layout.feature_table("feat_x")
    path.parent.mkdir(parents=True, exist_ok=True)
    monkeypatch.setattr(lake_inputs, "catalog", lambda: types.SimpleNamespace(tables=["feat_x"]))

    def write(extra_rows: str = "") -> None:
        duckdb.connect().execute(f"""COPY (SELECT * FROM (VALUES
              (1::BIGINT, 'C1', TIMESTAMP '2026-01-01', 0.5::DOUBLE, 7::INTEGER, 'a', true),
              (2, 'C2', TIMESTAMP '2026-01-01', 1e39, 8, 'b', false),
              (3, 'C3', TIMESTAMP '2026-01-01', 'nan'::DOUBLE, NULL, NULL, NULL) {extra_rows})
            t(obs_id, customer_id, obs_at, b_big, a_int, c_txt, d_flag)) TO '{path}' (FORMAT parquet)""")

    write()
    obs = pd.DataFrame({"obs_id": [3, 1, 4, 2], "customer_id": ["C3", "C1", "C4", "C2"]})
    got = lake_inputs.load_features(layout, obs)
    assert list(got.columns) == ["obs_id", "customer_id", "a_int", "b_big", "c_txt", "d_flag"]
    assert list(got["obs_id"]) == [3, 1, 4, 2]
    assert {got[c].dtype.name for c in ("a_int", "b_big", "d_flag")} == {"float32"}
    big = got["b_big"].to_numpy()
    assert np.isnan(big[0]) and big[1] == np.float32(0.5) and np.isnan(big[2]) and big[3] == np.inf
    assert got["a_int"].tolist()[1] == 7 and np.isnan(got["a_int"].tolist()[2]) and got["d_flag"].tolist()[1] == 1.0
    assert got["c_txt"].tolist()[1] == "a" and pd.isna(got["c_txt"].tolist()[2])
    assert lake_inputs.load_features(layout, obs, columns=["d_flag"]).columns.tolist() == ["obs_id", "customer_id", "d_flag"]
    write(", (1, 'C1', TIMESTAMP '2026-02-01', 0.1, 1, 'z', true)")
    with pytest.raises(lake_training.ModelDataError, match="feature table feat_x holds 1 duplicate row"):
        lake_inputs.load_features(layout, obs)
