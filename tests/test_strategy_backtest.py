"""Grade calibration and the backtest / what-if on hand-made history (hand-counted)."""
import json

import numpy as np
import pandas as pd
import pytest

from models.backtest import SWAP_CELLS, compare, replay
from models.grading import GradingError, calibrate_version, check_targets, cutoffs_for_shares, version_cutoffs
from models.strategy import DEFAULT_STRATEGY_FILE, load_strategy

CANDIDATES = DEFAULT_STRATEGY_FILE.parent / "candidates"


def test_share_targets_become_cutoffs_on_the_versions_scores(tmp_path):
    scores = np.arange(1, 101)            # 100 distinct scores
    shares = {"A": 0.1, "B": 0.2, "C": 0.3, "D": 0.2, "E": 0.2}
    assert cutoffs_for_shares(scores, shares) == {"A": 91.0, "B": 71.0, "C": 41.0, "D": 21.0}
    # ties: integer scores that repeat never give two grades the same minimum
    cut = cutoffs_for_shares(np.full(50, 600), shares)
    assert list(cut.values()) == sorted(cut.values(), reverse=True) and len(set(cut.values())) == 4
    with pytest.raises(GradingError, match="add up to 1"):
        check_targets({"target": "population_share", "A": 0.5, "B": 0.5, "C": 0.5, "D": 0.1, "E": 0.1}, "x")
    with pytest.raises(GradingError, match="target must be one of"):
        check_targets({"target": "vibes", **shares}, "x")
    st = load_strategy()
    rng = np.random.default_rng(0)
    s = rng.normal(600, 30, 5000).round()
    bad = (rng.random(5000) < 1 / (1 + np.exp((s - 540) / 20))).astype(int)
    rec = calibrate_version(tmp_path, "a_card", s, bad, strategy=st)
    stored = json.loads((tmp_path / "grades.json").read_text())
    assert stored["cutoffs"] == rec["cutoffs"] and stored["strategy_version"] == st.version
    share = stored["calibrated_on"]["share"]
    for g, want in st.grade_targets("a_card").items():
        if g != "target":
            assert abs(share[g] - want) < 0.02, (g, share[g], want)
    rates = [stored["calibrated_on"]["bad_rate"][g] for g in "ABCDE"]
    assert rates == sorted(rates)                     # better grades, fewer bads

    class Version:
        path = tmp_path
    assert version_cutoffs(Version) == rec["cutoffs"]


def hand_history() -> tuple[pd.DataFrame, dict]:
    """Eight booked applications; scores put them in known grades, inputs trip known rules."""
    base = dict(blacklist_hit=0.0, age=35.0, telco_name_match=1.0, id_bureau_hit=1.0, id_name_match=1.0,
                id_number_match=1.0, id_phone_match=1.0, id_card_match=1.0, inquiries_30d=1.0, open_loans_other=1.0,
                bureau_tradelines=4.0, declared_income=5000.0, device_shared_customers=0.0,
                graph_known_bad_share=0.0, fraud_score=700.0)
    rows = [  # a_card score (A >= 640, B >= 620, C >= 600, D >= 580), inquiries, bad, principal
        dict(a_card_score=650, inquiries_30d=1, bad=0, principal=1000),    # A approve / approve
        dict(a_card_score=650, inquiries_30d=5, bad=1, principal=3000),    # champion: review (elevated); candidate: reject
        dict(a_card_score=630, inquiries_30d=2, bad=0, principal=2000),    # champion approve; candidate review (2 > 2? no) approve
        dict(a_card_score=630, inquiries_30d=3, bad=1, principal=1000),    # champion approve; candidate review -> swap-out
        dict(a_card_score=610, inquiries_30d=4, bad=0, principal=500),     # champion review; candidate review
        dict(a_card_score=590, inquiries_30d=0, bad=1, principal=800),     # D review both
        dict(a_card_score=500, inquiries_30d=0, bad=1, principal=900),     # E reject both
        dict(a_card_score=650, inquiries_30d=0, bad=0, principal=1500, age=70),  # age reject both
    ]
    hist = pd.DataFrame([{**base, **r} for r in rows])
    hist.insert(0, "obs_id", np.arange(1, len(hist) + 1))
    hist["customer_id"] = [f"C{i}" for i in range(len(hist))]
    hist["obs_month"] = pd.Timestamp("2025-06-01")
    hist["a_card_probability"] = 1 / (1 + np.exp((hist["a_card_score"] - 540) / 20))
    st = load_strategy()
    grades = {"a_card": {"targets": st.grade_targets("a_card"), "cutoffs": {"A": 640, "B": 620, "C": 600, "D": 580}},
              "fraud": {"targets": st.grade_targets("fraud"), "cutoffs": {"A": 640, "B": 620, "C": 600, "D": 580}}}
    return hist, grades


def test_backtest_and_swap_set_match_a_hand_count():
    hist, grades = hand_history()
    champ = load_strategy()
    cand = load_strategy(CANDIDATES / "stricter_multi_lending.yaml")    # reject > 4 inquiries, review > 2
    d_champ = replay(hist, champ, grades)
    d_cand = replay(hist, cand, grades)
    assert list(d_champ["decision"]) == ["approve", "review", "approve", "approve", "review", "review", "reject", "reject"]
    assert list(d_cand["decision"]) == ["approve", "reject", "approve", "review", "review", "review", "reject", "reject"]
    comp = compare(hist, champ, cand, grades)
    summary = comp.tables["summary"].set_index("strategy")
    assert summary.loc["champion", "approved"] == 3 and summary.loc["candidate", "approved"] == 2
    assert summary.loc["champion", "approval_rate"] == pytest.approx(3 / 8)
    assert summary.loc["champion", "bad_rate_count"] == pytest.approx(1 / 3)          # rows 0, 2, 3: one bad
    assert summary.loc["champion", "bad_rate_amount"] == pytest.approx(1000 / 4000)
    # exposure = initial limits: grade A 3.0 x 5000 = 15000, grade B 2.0 x 5000 = 10000 (x2)
    assert summary.loc["champion", "exposure"] == pytest.approx(35000)
    el = (hist["a_card_probability"].iloc[[0, 2, 3]] * np.array([15000, 10000, 10000])).sum() * 0.65
    assert summary.loc["champion", "expected_loss"] == pytest.approx(el)
    swap = comp.tables["swap_set"].set_index("cell")
    assert swap["rows"].to_dict() == {"both_approve": 2, "swap_in": 0, "swap_out": 1, "both_decline": 5}
    assert swap["rows"].sum() == len(hist) and list(swap.index) == list(SWAP_CELLS)
    assert swap.loc["swap_out", "bad_rate_count"] == 1.0 and swap.loc["both_approve", "bad_rate_count"] == 0.0
    assert swap.loc["both_decline", "bad_rate_count"] == pytest.approx(3 / 5)
    grade = comp.tables["by_grade"].query("strategy == 'champion'").set_index("grade")
    assert grade["rows"].to_dict() == {"A": 3, "B": 2, "C": 1, "D": 1, "E": 1}
    assert grade.loc["A", "approved"] == 1 and grade.loc["B", "exposure"] == 20000
    hits = comp.tables["rule_hits"].query("strategy == 'candidate'").set_index("rule")
    assert hits.loc["multi_lending", "hits"] == 1 and hits.loc["inquiries_elevated", "hits"] == 3
    assert hits.loc["age_out_of_range", "hit_rate"] == pytest.approx(1 / 8)
    arms = comp.tables["arms"]
    assert arms.groupby("strategy")["rows"].sum().to_dict() == {"candidate": 8, "champion": 8}


def test_batch_scores_is_scheduled_daily_ahead_of_every_export():
    from orchestration.definitions import defs
    from orchestration.export_assets import export_specs
    from orchestration.strategy_assets import SCORES_HOUR, SCORES_MINUTE

    schedule = defs.get_schedule_def("batch_scores_schedule")
    assert schedule.cron_schedule == f"{SCORES_MINUTE} {SCORES_HOUR} * * *"
    assert schedule.execution_timezone == "Asia/Shanghai"
    job = defs.resolve_job_def("batch_scores_daily")
    assert "scores__batch_scores" in [n.name for n in job.graph.node_defs]
    assert export_specs and all((SCORES_HOUR, SCORES_MINUTE) < tuple(s.hour_minute) for s in export_specs)
    assert defs.get_assets_def(["strategy", "backtest"]) is not None
