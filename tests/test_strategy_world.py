"""The shipped strategy on a small simulated world through the real pipeline: populations on the business date,
one final decision per application, rule hit rates within bounds, strategy version and reasons on every decision,
calibrated grades, and the backtest tables (cells counted independently from the lake)."""
from __future__ import annotations

import json

import duckdb
import pandas as pd
import pytest

from models.backtest import run_backtest
from models.batch import score_business_date
from models.strategy import DEFAULT_STRATEGY_FILE, load_strategy
from tests.lakehelpers import copy_lake

BUSINESS_DATE = "2026-09-30"
CANDIDATE = DEFAULT_STRATEGY_FILE.parent / "candidates" / "stricter_multi_lending.yaml"


@pytest.fixture(scope="module")
def world(trained_world, tmp_path_factory):
    # the shared world with every decision model trained; scoring and the backtest write into this copy
    lake = copy_lake(trained_world, tmp_path_factory.mktemp("strategy_world") / "lake")
    result = score_business_date(lake, BUSINESS_DATE, log=lambda *_: None)
    return lake, result


def test_one_final_decision_per_application(world):
    lake, result = world
    d = pd.read_parquet(lake.decisions_file(BUSINESS_DATE))
    apps = d[d["label"] == "application"]
    assert apps["obs_id"].is_unique and len(apps) == result.rows_by_label["a_card"] == result.rows_by_label["fraud"]
    assert set(apps["decision"]) <= {"approve", "review", "reject"} and apps["decision"].notna().all()
    approval = (apps["decision"] == "approve").mean()
    assert 0.25 <= approval <= 0.9, approval   # through the door (declined applicants included); demo worlds: 30-90%
    # partners receive that decision: both application scores carry it
    scores = pd.read_parquet(lake.scores_file(BUSINESS_DATE))
    booked = apps.set_index("customer_id")["decision"]
    for label in ("a_card", "fraud"):
        s = scores[scores["label"] == label].set_index("customer_id")["decision"]
        assert len(s) > 0 and (s == booked.reindex(s.index)).all()
    # every applicant is decided; only customers with a funding partner are exported
    assert len(scores[scores["label"] == "a_card"]) <= len(apps)
    # every row: the strategy version; every decline / review: at least one plain reason, never more than four
    assert (d["strategy_version"] == load_strategy().version).all()
    declined = apps[apps["decision"] != "approve"]
    assert declined["adverse_reason_1"].notna().all()
    assert not apps.loc[apps["decision"] == "approve", "adverse_reason_1"].notna().any()
    fired = apps[apps["rules_fired"].fillna("") != ""]
    assert all(len(json.loads(t)) > 0 for t in fired["rule_inputs"])


def test_rule_hit_rates_of_the_shipped_strategy(world):
    lake, _ = world
    d = pd.read_parquet(lake.decisions_file(BUSINESS_DATE))
    apps = d[d["label"] == "application"]
    fired = apps["rules_fired"].fillna("").str.split(";").explode()
    unknown = apps["rules_unknown"].fillna("").str.split(";").explode()
    rate = lambda s, name: (s == name).sum() / len(apps)  # noqa: E731
    bounds = {  # (min, max) share of applications; from the simulator's hit rates
        "identity_mismatch": (0.001, 0.05), "contact_mismatch": (0.01, 0.15), "thin_file": (0.03, 0.35),
        "age_out_of_range": (0.0, 0.15), "inquiries_elevated": (0.0, 0.5),
    }
    for rule, (lo, hi) in bounds.items():
        assert lo <= rate(fired, rule) <= hi, (rule, rate(fired, rule))
    assert rate(unknown, "identity_mismatch") < 0.1 and rate(unknown, "contact_mismatch") < 0.2
    # hand count straight from the feature mart: blacklisted applications (any listing before T)
    con = duckdb.connect()
    con.register("apps", apps[["obs_id"]])
    n_bl = con.execute(f"SELECT count(*) FROM read_parquet('{lake.feature_table('feat_bl').as_posix()}') b "
                   "SEMI JOIN apps USING (obs_id) WHERE b.bl_cnt_all > 0").fetchall()[0][0]
    assert (fired == "blacklist_hit").sum() == n_bl


def test_b_and_c_card_populations_on_the_business_date(world):
    lake, _ = world
    d = pd.read_parquet(lake.decisions_file(BUSINESS_DATE))
    con = duckdb.connect()
    spine = lake.feature_spine.as_posix()
    month_end = con.execute(f"SELECT max(obs_date) FROM read_parquet('{spine}') WHERE is_month_end "
                        f"AND obs_date <= DATE '{BUSINESS_DATE}'").fetchall()[0][0]
    obs = con.sql(f"SELECT obs_id, obs_date, is_bcard, dpd_at_obs FROM read_parquet('{spine}')").df().set_index("obs_id")
    for label, check in (("b_card", lambda o: o["is_bcard"]), ("c_card", lambda o: o["dpd_at_obs"].between(1, 30))):
        rows = obs.loc[d.loc[d["label"] == label, "obs_id"]]
        assert len(rows) > 0, label
        assert (pd.to_datetime(rows["obs_date"]).dt.date == month_end).all(), label
        assert check(rows).all(), label
    # every current account on book at that month-end (with a partner) is scored, no closed ones
    want = con.execute(f"SELECT count(*) FROM read_parquet('{spine}') WHERE is_bcard AND obs_date = DATE '{month_end}'"
                   ).fetchall()[0][0]
    assert (d["label"] == "b_card").sum() <= want and (d["label"] == "b_card").sum() >= 0.95 * want


def test_grades_are_calibrated_per_model_version(world):
    lake, _ = world
    d = pd.read_parquet(lake.decisions_file(BUSINESS_DATE))
    d["label"] = d["label"].replace({"application": "a_card"})
    for label in ("a_card", "b_card", "c_card"):
        champ = json.loads((lake.registry / label / "champion.json").read_text())["version"]
        grades = json.loads((lake.registry / label / champ / "grades.json").read_text())
        assert list(grades["cutoffs"]) == ["A", "B", "C", "D"]
        rows = d.loc[d["label"] == label, "grade"]
        if len(rows) >= 100:  # a handful of M1 accounts on one date says little about the grade spread
            assert rows.value_counts(normalize=True).max() <= 0.6, (label, rows.value_counts().to_dict())
    fraud = d.loc[d["label"] == "a_card", "fraud_grade"].value_counts(normalize=True)
    assert fraud.max() <= 0.6, fraud.to_dict()


def test_backtest_tables_on_the_world(world):
    lake, _ = world
    comp = run_backtest(lake, CANDIDATE, rebuild_history=True, log=lambda *_: None)
    n = duckdb.connect().execute(f"SELECT count(*) FROM read_parquet('{lake.labels.as_posix()}') WHERE bad_a_card IS NOT NULL"
                   ).fetchall()[0][0]
    swap = pd.read_parquet(lake.backtest_table("stricter_multi_lending", "swap_set"))
    assert swap["rows"].sum() == n
    both = comp.tables["summary"].set_index("strategy")
    assert both.loc["candidate", "approved"] <= both.loc["champion", "approved"]  # stricter can only approve fewer
    assert swap.set_index("cell").loc["swap_in", "rows"] == 0
    for table in ("summary", "by_grade", "rule_hits", "swap_set", "arms"):
        assert lake.backtest_table("stricter_multi_lending", table).exists()
