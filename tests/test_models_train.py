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
