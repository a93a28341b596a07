"""The simulator's counterfactual A-card truth: one row per application, booked rows equal to the booked first
loan's truth, declined applicants riskier, and the landing zone untouched by it."""
from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import numpy as np
import pytest

from simulator import generate_world, world

END = "2026-09-30"


def _hashes(landing: Path) -> dict[str, str]:
    return {str(p.relative_to(landing)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(landing.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("apptruth")
    summary = generate_world(root / "landing", root / "truth", customers=3000, months=18, seed=3, end_date=END, log=None)
    return root, summary


@pytest.fixture(scope="module")
def con(world_dir):
    root, _ = world_dir
    con = duckdb.connect()
    land = root / "landing" / "internal"
    con.execute(f"CREATE VIEW apps AS SELECT * FROM read_json('{land}/applications/*.jsonl', format='newline_delimited')")
    con.execute(f"CREATE VIEW lines AS SELECT * FROM read_csv('{land}/credit_lines/*.csv', header=true)")
    con.execute(f"CREATE VIEW draws AS SELECT * FROM read_csv('{land}/drawdowns/*.csv', header=true)")
    con.execute(f"CREATE VIEW truth AS SELECT * FROM read_parquet('{root}/truth/applications_truth.parquet')")
    con.execute(f"CREATE VIEW loans AS SELECT * FROM read_parquet('{root}/truth/loans_truth.parquet')")
    con.execute(f"CREATE VIEW oracle AS SELECT * FROM read_parquet('{root}/truth/application_oracle.parquet')")
    return con


def test_every_application_has_exactly_one_truth_row(con):
    n_apps, n_truth, n_joined, approved_agree = con.execute(
        "SELECT (SELECT count(*) FROM apps), (SELECT count(*) FROM truth), count(*), "
        "count(*) FILTER (WHERE (a.decision = 'approved') = t.approved) "
        "FROM apps a JOIN truth t USING (application_id)").fetchone()
    assert n_apps == n_truth == n_joined == approved_agree > 1000
    nulls = con.execute("SELECT count(*) FROM truth WHERE true_pd_a_card IS NULL OR bad_a_card IS NULL "
                        "OR NOT (true_pd_a_card BETWEEN 0 AND 1)").fetchone()[0]
    assert nulls == 0


def test_booked_rows_are_the_first_loan_of_the_application_with_its_truth(con):
    # the first loan of an application: the earliest drawdown on the line it opened (landing files)
    mismatched = con.execute("""
        WITH first AS (
            SELECT l.application_id, arg_min(d.loan_id, (d.drawdown_at, d.loan_id)) AS loan_id
            FROM lines l JOIN draws d USING (line_id) GROUP BY l.application_id)
        SELECT count(*) FILTER (WHERE t.first_loan_id IS DISTINCT FROM f.loan_id),
               count(*) FILTER (WHERE f.loan_id IS NOT NULL)
        FROM truth t LEFT JOIN first f USING (application_id)""").fetchone()
    assert mismatched[0] == 0 and mismatched[1] > 500
    n, pd_diff, bad_diff, src_bad = con.execute("""
        SELECT count(*), max(abs(t.true_pd_a_card - l.true_pd)),
               count(*) FILTER (WHERE t.mob6_observed AND t.bad_a_card <> l.defaulted),
               count(*) FILTER (WHERE t.outcome_source <> 'booked_first_loan')
        FROM truth t JOIN loans l ON l.loan_id = t.first_loan_id""").fetchone()
    assert n > 500 and pd_diff == 0 and bad_diff == 0 and src_bad == 0
    assert con.execute("SELECT count(*) FROM truth WHERE first_loan_id IS NULL "
                       "AND outcome_source <> 'counterfactual'").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM truth WHERE NOT approved AND first_loan_id IS NOT NULL").fetchone()[0] == 0
    # the A-card oracle of booked applications (simulator/oracle.py) is the same probability
    n_oracle, n_same = con.execute("SELECT count(*), count(*) FILTER (WHERE o.first_loan_id = t.first_loan_id "
                                   "AND abs(o.p_a_card - t.true_pd_a_card) < 1e-9) "
                                   "FROM oracle o JOIN truth t USING (application_id)").fetchone()
    assert n_oracle == n_same == n


def test_counterfactual_follows_the_booked_hazard(con):
    # on booked rows the counterfactual first loan (same applicant, same time, own amount / term draw) tracks
    # the booked loan's probability; the realised draws follow the probability
    corr, ratio = con.execute("SELECT corr(ln(counterfactual_true_pd), ln(true_pd_a_card)), "
                              "avg(counterfactual_true_pd) / avg(true_pd_a_card) FROM truth "
                              "WHERE outcome_source = 'booked_first_loan'").fetchone()
    assert corr > 0.9 and 0.85 < ratio < 1.15
    mean_pd, bad_rate, n = con.execute("SELECT avg(true_pd_a_card), avg(bad_a_card::int), count(*) FROM truth "
                                       "WHERE outcome_source = 'counterfactual'").fetchone()
    assert abs(bad_rate - mean_pd) < 4 * np.sqrt(mean_pd * (1 - mean_pd) / n)
    assert con.execute("SELECT count(*) FROM truth WHERE outcome_source = 'counterfactual' "
                       "AND counterfactual_true_pd <> true_pd_a_card").fetchone()[0] == 0


def test_the_old_policy_declines_a_meaningful_risk_ranked_share(con, world_dir):
    decline_rate, pd_declined, pd_approved = con.execute(
        "SELECT avg((NOT approved)::int), avg(true_pd_a_card) FILTER (WHERE NOT approved), "
        "avg(true_pd_a_card) FILTER (WHERE approved) FROM truth").fetchone()
    assert 0.2 < decline_rate < 0.5
    assert pd_declined > 1.5 * pd_approved
    summary = world_dir[1]["truth"]
    assert summary["decline_rate"] == pytest.approx(decline_rate)
    assert summary["counterfactual_bad_rate_declined_mob6_observed"] > summary["counterfactual_bad_rate_approved_mob6_observed"]


def test_writing_the_application_truth_leaves_the_landing_zone_unchanged(tmp_path, monkeypatch):
    generate_world(tmp_path / "a" / "landing", tmp_path / "a" / "truth", customers=500, months=6, seed=9,
                   end_date=END, log=None)
    monkeypatch.setattr(world, "_write_application_truth", lambda *args: {})
    generate_world(tmp_path / "b" / "landing", tmp_path / "b" / "truth", customers=500, months=6, seed=9,
                   end_date=END, log=None)
    assert _hashes(tmp_path / "a" / "landing") == _hashes(tmp_path / "b" / "landing")
    assert not (tmp_path / "b" / "truth" / "applications_truth.parquet").exists()
    for name in ("loans_truth.parquet", "customers_truth.parquet"):
        a, b = (tmp_path / d / "truth" / name for d in "ab")
        assert a.read_bytes() == b.read_bytes()
