"""train_model end to end, including the realistic synthetic test against the oracle AUC."""
import numpy as np
import pandas as pd
import pytest

from models import train_model
from models.synthetic import feature_dictionary, make_credit_data
from models.train import Split, split_frame

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def world():
    # a known logistic truth: 30k rows x 200 features, 20 informative (+ 1 categorical), the rest
    # noise, near-copies, near-constants, mostly-missing columns and two drifting features
    return make_credit_data(n_rows=30_000, n_features=200, n_informative=20, seed=2024)


@pytest.mark.parametrize("model_type", ["lightgbm", "scorecard"])
def test_oot_auc_is_close_to_the_oracle(world, model_type, tmp_path):
    result = train_model(world, target="bad", time_column="month", model_type=model_type, label="a_card",
                         oracle_column="true_prob", feature_dictionary=feature_dictionary(world), plot_dir=tmp_path)
    m = result.metrics
    assert 0.75 < m["oracle_auc"] < 0.9
    assert m["oracle_auc"] - m["auc_oot"] < 0.03, result.summary()
    assert m["gini_oot"] == pytest.approx(2 * m["auc_oot"] - 1)
    assert 0 < m["ks_oot"] < 1
    assert m["psi_score_train_oot"] < 0.1
    # the selection threw out the junk and the drifting features, and kept the strong signal
    dropped = dict(zip(result.selection.dropped["feature"], result.selection.dropped["reason"]))
    assert dropped.get("f_028") == "psi" and dropped.get("f_029") == "psi"    # the two drifting features
    assert dropped.get("f_025") == dropped.get("f_026") == "near_constant"
    assert dropped.get("f_027") == "missing_rate"
    assert "f_000" in result.features
    if model_type == "scorecard":
        assert len(result.features) <= 30
        assert dropped.get("f_020") == "correlated"                           # near-copy of f_000
    assert {p.name for p in result.plots.values()} == {"roc.png", "ks.png", "deciles.png", "calibration.png"}
    assert all(p.stat().st_size > 5000 for p in result.plots.values())
    assert len(result.deciles) == 10 and result.deciles["n"].sum() == m["n_oot"]
    assert len(result.calibration) == 10


def test_time_split_windows(world):
    tr, va, oo, info = split_frame(world, "bad", "month", Split())
    months = world["month"]
    assert months.iloc[tr].max() < months.iloc[oo].min()
    assert months.iloc[va].max() < months.iloc[oo].min()
    assert 0.2 <= len(oo) / len(world) < 0.3 and len(set(tr) & set(va)) == 0
    assert abs(len(va) / (len(tr) + len(va)) - 0.2) < 0.01
    tr, va, oo, info = split_frame(world, "bad", "month", Split(oot_start="2024-10-01", train_end="2024-08-01"))
    assert info["oot_start"] == pd.Timestamp("2024-10-01")
    assert months.iloc[np.concatenate([tr, va])].max() == pd.Timestamp("2024-08-01")   # a one-month gap
    with pytest.raises(ValueError, match="single period"):
        split_frame(world.assign(month=pd.Timestamp("2024-01-01")), "bad", "month", Split())


def test_gap_leaves_the_latest_in_time_periods_out_of_training():
    months = pd.Series(pd.date_range("2024-01-01", periods=12, freq="MS")).repeat(20).reset_index(drop=True)
    frame = pd.DataFrame({"month": months, "bad": np.tile([0, 1], len(months) // 2)})
    tr, va, oo, info = split_frame(frame, "bad", "month", Split(oot_start="2024-10-01", gap_periods=3), holdout=False)
    assert months.iloc[tr].max() == pd.Timestamp("2024-06-01") and info["oot_start"] == pd.Timestamp("2024-10-01")
    assert len(va) == 0 and months.iloc[oo].min() == pd.Timestamp("2024-10-01")
    with pytest.raises(ValueError, match="gap_periods=9 leaves no in-time period"):
        split_frame(frame, "bad", "month", Split(oot_start="2024-10-01", gap_periods=9))


def test_small_frame_in_a_few_lines():
    df = make_credit_data(3000, 20, n_informative=6, seed=9)
    df.loc[df.index[:50], "bad"] = np.nan          # unlabelled rows (immature performance) are dropped
    result = train_model(df, target="bad", time_column="month", model_type="scorecard", select={"max_features": 5})
    assert result.metrics["n_unlabelled_dropped"] == 50
    assert len(result.features) <= 5
    assert "oracle_auc" in result.metrics and result.metrics["oracle_auc"] is None
    s = result.summary()
    assert s["model_type"] == "scorecard" and 0.5 < s["auc_oot"] <= 1
    assert result.score(df.head(10)).shape == (10,)
    rec = result.metrics_record()
    import json

    json.dumps(rec)  # JSON-friendly
    with pytest.raises(ValueError, match="model_type"):
        train_model(df, target="bad", time_column="month", model_type="xgboost")
    with pytest.raises(ValueError, match="0/1"):
        train_model(df.assign(bad=df["bad"] * 2), target="bad", time_column="month")


@pytest.fixture(scope="module")
def small():
    return make_credit_data(3000, 20, n_informative=6, seed=9)


def test_string_targets_need_bad_value_and_booleans_pass(small):
    labelled = small.assign(status=np.where(small["bad"] == 1, "bad", "good"))
    with pytest.raises(ValueError, match=r"bad_value=.*'bad'"):
        train_model(labelled, "status", time_column="month", exclude=["bad"], model_type="scorecard")
    with pytest.raises(ValueError, match="does not occur"):
        train_model(labelled, "status", time_column="month", exclude=["bad"], bad_value="Bad")
    common = dict(time_column="month", model_type="scorecard", select={"max_features": 5}, validation="none",
                  exclude=["bad", "status", "is_bad"])
    by_string = train_model(labelled, "status", bad_value="bad", **common)
    by_bool = train_model(labelled.assign(is_bad=labelled["bad"] == 1), "is_bad", **common)
    by_int = train_model(labelled, "bad", **common)
    assert by_string.metrics["auc_oot"] == by_bool.metrics["auc_oot"] == by_int.metrics["auc_oot"]
    assert by_string.metrics["bad_rate_oot"] == pytest.approx(small.loc[small["month"] >= by_int.split["oot_start"], "bad"].mean())


def test_inf_is_counted_as_missing_or_refused(small):
    bad = small.copy()
    bad.loc[bad.index[:7], "f_000"] = np.inf
    bad.loc[bad.index[7:9], "f_001"] = -np.inf
    with pytest.warns(UserWarning, match=r"f_000 \(7 rows\)"):
        r = train_model(bad, "bad", time_column="month", model_type="scorecard", select={"max_features": 5},
                        validation="none")
    assert r.metrics["inf_replaced"] == {"f_000": 7, "f_001": 2} and r.metrics["n_inf_replaced"] == 9
    assert "f_000" in r.selection.stats["feature"].tolist()
    assert r.selection.stats.set_index("feature").at["f_000", "status"] != "low_iv" or np.isfinite(
        r.selection.stats.set_index("feature").at["f_000", "iv"])
    with pytest.raises(ValueError, match="f_000 .7 rows.*f_001 .2 rows"):
        train_model(bad, "bad", time_column="month", on_inf="raise")


def test_cv_fits_on_every_in_time_row(small):
    gbm = train_model(small, "bad", time_column="month", grid=None, cv_folds=3)
    sc = train_model(small, "bad", time_column="month", model_type="scorecard", select={"max_features": 5})
    oot_start = gbm.split["oot_start"]
    n_intime = int((small["month"] < oot_start).sum())
    for r in (gbm, sc):
        m = r.metrics
        assert m["n_train"] == n_intime and m["n_valid"] == 0       # no holdout wasted
        assert m["auc_valid"] == m["auc_cv"] and 0.55 < m["auc_cv"] < 0.95
        assert m["validation"].startswith("cv")
    assert gbm.metrics["cv_chosen"] in {c["name"] for c in gbm.model.evals["candidates"]}
    legacy = train_model(small, "bad", time_column="month", validation="holdout")
    assert legacy.metrics["n_valid"] > 0 and legacy.metrics["n_train"] + legacy.metrics["n_valid"] == n_intime
    with pytest.raises(ValueError, match="validation"):
        train_model(small, "bad", time_column="month", validation="none")


def test_tiny_frame_is_refused_with_a_clear_message(small):
    from models.gbm import TooLittleData

    with pytest.raises(TooLittleData, match="bad and .* good"):
        train_model(small.head(20), "bad", time_column="month")


def test_models_import_without_the_pipeline_packages():
    # the modelling library must work in a light install: dagster, dbt, GE, streamlit, boto3 absent
    import subprocess
    import sys

    code = (
        "import sys\n"
        "for name in ['dagster', 'dagster_dbt', 'dagster_webserver', 'dbt', 'great_expectations', 'streamlit', 'boto3']:\n"
        "    sys.modules[name] = None\n"
        "import models\n"
        "from models import train_model, score_frame, ModelRegistry, make_credit_data\n"
        "import models.train, models.gbm, models.scorecard, models.selection, models.metrics, models.datasets\n"
        "import models.scoring, models.registry, models.strategy\n"
        "df = make_credit_data(2000, 16, n_informative=4, seed=1)\n"
        "r = train_model(df, 'bad', time_column='month', model_type='scorecard', validation='none', select={'max_features': 4})\n"
        "heavy = sorted(m for m in ['dagster', 'dbt', 'great_expectations', 'streamlit', 'boto3'] if sys.modules.get(m) is not None)\n"
        "print('heavy', heavy, 'auc', round(r.metrics['auc_oot'], 3))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "heavy [] auc 0." in out.stdout


def test_real_data_loaders_when_their_packages_are_installed():
    from models.datasets import DatasetUnavailable, LOADERS, available_datasets, load_dataset

    names = available_datasets()
    if not names:
        with pytest.raises(DatasetUnavailable, match="pip install"):
            load_dataset("credit_data")
        pytest.skip("no data-set package installed (pip install 'risk-lakehouse[bench]')")
    expected = {"german_credit": (1000, 0.30), "credit_data": (4454, 0.2815), "lending_club": (9857, 0.0525),
                "lending_club_2018": (10000, 0.0178)}
    assert set(expected) == set(LOADERS)
    for n in names:
        ds = load_dataset(n)
        rows, rate = expected[n]
        assert len(ds.frame) == rows and ds.y.mean() == pytest.approx(rate, abs=5e-4)
        assert ds.target not in ds.features and set(ds.features) <= set(ds.frame.columns)
        assert not set(ds.dropped_columns) & set(ds.features)


def test_scorecard_C_is_chosen_on_the_training_rows_and_recorded(small):
    from models.scorecard import DEFAULT_C_GRID

    r = train_model(small, "bad", time_column="month", model_type="scorecard", select={"max_features": 5},
                    validation="none")
    assert r.params["C"] in DEFAULT_C_GRID and r.params["C"] == r.model.C
    cv_auc = {float(c): auc for c, auc in r.params["C_cv_auc"].items()}     # JSON keys are strings
    assert set(cv_auc) == set(DEFAULT_C_GRID) and cv_auc[r.params["C"]] == max(cv_auc.values())
    # the scorecard adopts the selection's binnings as they are
    assert all(r.model.scorecard.binning_process_.get_binned_variable(f) is r.selection.binnings[f]
               for f in r.model.features)
    given = train_model(small, "bad", time_column="month", model_type="scorecard", select={"max_features": 5},
                        validation="none", params={"C": 0.2})
    assert given.params["C"] == 0.2 and given.params["C_cv_auc"] is None
