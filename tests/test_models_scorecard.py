"""Points scaling, and the WoE scorecard agreeing with it."""
import numpy as np
import pytest

from models.scorecard import (ScoreScaling, log_odds_to_points, odds_to_points, points_to_odds,
                              points_to_probability, probability_to_points, train_scorecard)
from models.synthetic import make_credit_data


def test_default_scaling_anchor_points():
    assert odds_to_points(50) == pytest.approx(600)
    assert odds_to_points(100) == pytest.approx(620)
    assert odds_to_points(25) == pytest.approx(580)
    assert odds_to_points(200) == pytest.approx(640)
    # probability of bad 1/51 is 50:1 good:bad odds
    assert probability_to_points(1 / 51) == pytest.approx(600)
    assert probability_to_points(1 / 101) == pytest.approx(620)
    assert points_to_odds(620) == pytest.approx(100)
    assert points_to_probability(600) == pytest.approx(1 / 51)


def test_scaling_is_configurable_and_invertible():
    s = ScoreScaling(base_points=500, base_odds=20, pdo=40)
    assert odds_to_points(20, s) == pytest.approx(500)
    assert odds_to_points(40, s) == pytest.approx(540)
    p = np.array([0.001, 0.01, 0.1, 0.5, 0.9])
    assert points_to_probability(probability_to_points(p, s), s) == pytest.approx(p)
    # points = offset - factor * ln(bad:good odds)
    lo = np.log(p / (1 - p))
    assert log_odds_to_points(lo, s) == pytest.approx(s.offset - s.factor * lo)
    assert np.all(np.diff(probability_to_points(p, s)) < 0)  # riskier -> fewer points
    assert np.isfinite(probability_to_points([0.0, 1.0])).all()
    with pytest.raises(ValueError):
        ScoreScaling(pdo=0)


@pytest.fixture(scope="module")
def small_scorecard():
    df = make_credit_data(6000, 30, n_informative=8, seed=11)
    feats = [f"f_{j:03d}" for j in range(8)] + ["f_010", "f_011", "channel"]
    model = train_scorecard(df[feats], df["bad"])
    return model, df


def test_scorecard_points_match_probability_scaling(small_scorecard):
    model, df = small_scorecard
    p = model.predict_proba(df)
    # optbinning's pdo_odds points table sums to exactly our scaling of the model's probability
    assert model.points(df) == pytest.approx(probability_to_points(p, model.scaling), abs=1e-6)
    assert model.predict_log_odds(df) == pytest.approx(np.log(p / (1 - p)), abs=1e-8)


def test_scorecard_coefficients_have_the_right_sign(small_scorecard):
    model, _ = small_scorecard
    assert (model.coefficients <= 1e-8).all()  # WoE is high for good bins: risk falls as WoE rises
    t = model.table("detailed")
    assert {"Variable", "Bin", "WoE", "Points"} <= set(t.columns)


def test_scorecard_contributions_sum_and_reasons(small_scorecard):
    model, df = small_scorecard
    sample = df.head(500)
    C, base = model.contributions(sample)
    assert C.shape == (500, len(model.features))
    assert C.sum(axis=1) + base == pytest.approx(model.predict_log_odds(sample), abs=1e-8)
    assert (C >= -1e-9).all()  # points lost against each feature's best bin are never negative
    rc = model.reason_codes(sample, k=3, descriptions={"channel": "application channel"})
    assert list(rc.columns[:3]) == ["reason_1", "reason_1_feature", "reason_1_value"]
    top = rc["reason_1_feature"].dropna()
    assert len(top) > 400 and set(top) <= set(model.features)
    row = int(np.argmax(C.sum(axis=1)))
    assert rc["reason_1_feature"].iloc[row] == model.features[int(np.argmax(C[row]))]
