"""Scoring output: exactly the scores contract (columns, order, dtypes), vectorised, both model types."""
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from models.grading import calibrate_registered
from models.registry import ModelRegistry
from models.scorecard import probability_to_points
from models.scoring import SCORES_COLUMNS, SCORES_SCHEMA, check_scores, score_frame, scores_to_arrow
from models.strategy import load_strategy
from models.synthetic import feature_dictionary, make_credit_data
from models.train import train_model

STRATEGY_INPUTS = ["age", "blacklist_hit", "telco_name_match", "id_bureau_hit", "id_name_match", "id_number_match",
                   "id_phone_match", "id_card_match", "inquiries_30d", "open_loans_other",
                   "bureau_tradelines", "declared_income", "current_limit", "dpd_current", "max_dpd_6m",
                   "months_on_book", "broken_promises_30d", "device_shared_customers", "graph_known_bad_share"]


def with_strategy_inputs(df: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = len(df)
    return df.assign(
        age=rng.integers(16, 70, n), blacklist_hit=(rng.random(n) < 0.02).astype(int),
        telco_name_match=(rng.random(n) > 0.03).astype(int), id_bureau_hit=(rng.random(n) > 0.02).astype(int),
        id_name_match=(rng.random(n) > 0.01).astype(int), id_number_match=(rng.random(n) > 0.01).astype(int),
        id_phone_match=(rng.random(n) > 0.03).astype(int), id_card_match=(rng.random(n) > 0.02).astype(int),
        inquiries_30d=rng.poisson(1.5, n),
        open_loans_other=rng.poisson(2, n), bureau_tradelines=np.where(rng.random(n) < 0.1, np.nan, rng.poisson(4, n)),
        declared_income=rng.lognormal(8.5, 0.5, n).round(), current_limit=rng.choice([1000.0, 3000.0, 5000.0], n),
        dpd_current=(rng.random(n) < 0.03) * 5, max_dpd_6m=(rng.random(n) < 0.1) * 10,
        months_on_book=rng.integers(0, 24, n), broken_promises_30d=rng.poisson(0.3, n),
        device_shared_customers=rng.poisson(1, n), graph_known_bad_share=rng.random(n) * 0.3)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    df = with_strategy_inputs(make_credit_data(4000, 20, n_informative=8, seed=31))
    reg = ModelRegistry(tmp_path_factory.mktemp("registry"))
    common = dict(target="bad", time_column="month", oracle_column="true_prob", exclude=STRATEGY_INPUTS + ["partner_id"],
                  feature_dictionary=feature_dictionary(df))
    for label, mt in [("a_card", "lightgbm"), ("b_card", "scorecard")]:
        v = reg.register(train_model(df, model_type=mt, label=label, **common))
        calibrate_registered(reg, label, v, df, df["bad"])  # what training on the lake does: grades.json
        reg.set_champion(label, v)
    return df, reg, load_strategy()


def assert_contract(scores: pd.DataFrame):
    assert tuple(scores.columns) == SCORES_COLUMNS
    check_scores(scores)
    assert scores["business_date"].dtype == pd.ArrowDtype(pa.date32())
    assert scores["score"].dtype == np.int32
    assert scores["probability"].dtype == np.float64 and scores["recommended_limit"].dtype == np.float64
    for c in ("customer_id", "partner_id", "label", "model_name", "model_version", "grade", "reason_1", "decision"):
        assert scores[c].dtype == "string", c
    table = scores_to_arrow(scores)
    assert table.schema.equals(SCORES_SCHEMA)


@pytest.mark.parametrize("label", ["a_card", "b_card"])
def test_scores_match_the_contract(setup, label):
    df, reg, strategy = setup
    model = reg.load(label)
    scores = score_frame(df, model, "2026-10-01", strategy=strategy)
    assert_contract(scores)
    assert len(scores) == len(df) and (scores.index == df.index).all()
    assert (scores["label"] == label).all() and (scores["model_version"] == model.version).all()
    assert scores["business_date"].iloc[0] == pd.Timestamp("2026-10-01").date()
    assert scores["probability"].between(0, 1).all()
    assert (scores["score"] == np.rint(probability_to_points(scores["probability"])).astype(int)).all()
    assert set(scores["grade"]) <= set("ABCDE")
    # higher score, better grade
    by_grade = scores.groupby("grade")["score"].min()
    assert list(by_grade.sort_index()) == sorted(by_grade, reverse=True)
    assert scores["reason_1"].notna().mean() > 0.9
    descriptions = set(feature_dictionary(df)["description"])
    for i in (1, 2, 3):
        assert set(scores[f"reason_{i}"].dropna()) <= descriptions
    assert scores["decision"].notna().all()
    if label == "a_card":
        assert set(scores["decision"]) <= {"approve", "review", "reject"}
        assert (scores.loc[scores["decision"] == "reject", "recommended_limit"] == 0).all()
    else:
        assert set(scores["decision"]) <= {"raise", "keep", "cut", "freeze"}


def test_scores_match_the_exporters_contract_when_present(setup):
    contract = pytest.importorskip("lake.scores")
    df, reg, strategy = setup
    assert SCORES_SCHEMA.remove_metadata().equals(contract.SCORES_SCHEMA.remove_metadata())
    scores = score_frame(df.head(50), reg.load("a_card"), "2026-10-01", strategy=strategy)
    contract.validate_scores_schema(scores_to_arrow(scores).schema)
    contract.validate_scores_schema(pa.Table.from_pandas(scores, preserve_index=False).schema)


def test_scoring_options(setup):
    df, reg, strategy = setup
    model = reg.load("a_card")
    # no strategy: grades from explicit cut-offs, decision / limit null
    plain = score_frame(df, model, "2026-10-01", grade_cutoffs={"A": 700, "B": 650, "C": 600, "D": 550},
                        partner_id="PB09", reasons=False)
    assert_contract(plain)
    assert plain["decision"].isna().all() and plain["recommended_limit"].isna().all()
    assert (plain["partner_id"] == "PB09").all() and plain["reason_1"].isna().all()
    # adverse-action reasons only for the worst grades
    adverse = score_frame(df, model, "2026-10-01", strategy=strategy, reasons=["E"])
    has_reason = adverse["reason_1"].notna()
    assert has_reason.any() and (adverse.loc[has_reason, "grade"] == "E").all()
    # details: the "why" columns after the contract ones
    detailed = score_frame(df, model, "2026-10-01", strategy=strategy, details=True)
    assert tuple(detailed.columns[:len(SCORES_COLUMNS)]) == SCORES_COLUMNS
    assert {"rules_fired", "reason", "arm"} <= set(detailed.columns)
    with pytest.raises(ValueError, match="label"):
        score_frame(df, model, "2026-10-01", label="c_card")
    with pytest.raises(KeyError, match="partner"):
        score_frame(df.drop(columns="partner_id"), model, "2026-10-01")


def test_scoring_is_vectorised_at_scale(setup):
    df, reg, strategy = setup
    model = reg.load("b_card")  # scorecard: reasons on all rows
    big = pd.concat([df] * 25, ignore_index=True)  # 100k rows
    scores = score_frame(big, model, "2026-10-01", strategy=strategy)  # speed: bench/bench_exports.py
    assert len(scores) == len(big)
