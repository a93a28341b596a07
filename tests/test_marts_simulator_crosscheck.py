"""Cross-check of the loan-performance mart against the simulator's truth at small scale.

The simulator draws each loan's fate (which installment is missed, cures, partial payments, recoveries,
prepayments) and records `defaulted` = DPD >= 30 reached by the end of MOB 6. The mart derives the same
label only from the landed schedules and repayments, so for every loan with 6 MOB observed the two
should agree. Tolerance: 0.5% of loans. The pipeline reproduces the truth exactly on clean landings (it
did for every seed tried); the slack is for deliveries the contracts legitimately quarantine (a rejected
repayment row makes a paid installment look unpaid), which the simulator may add to its clean output.
"""
from __future__ import annotations

import shutil

import pytest

from lake.layout import LakeLayout
from lake.contracts import load_contracts
from tests.lakehelpers import ingest_all, query, run_dbt, shared_lake

simulator = pytest.importorskip("simulator", reason="the simulator package is not available")

NEEDED = {"drawdowns", "repayment_schedule", "repayments", "fund_flows"}


def build(lake: LakeLayout) -> None:
    simulator.generate_world(lake.landing, lake.truth, customers=2500, months=24, seed=11, log=None)
    for table, contract in load_contracts().items():  # the other sources are not needed by these marts
        if table not in NEEDED:
            shutil.rmtree(contract.landing_dir(lake.landing), ignore_errors=True)
    ingest_all(lake)
    # staging models, then the marts with all their data tests on a realistic world
    run_dbt(lake, "build", "--select", "staging", "marts", "--exclude", "staging,resource_type:test")


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> LakeLayout:
    return shared_lake(tmp_path_factory, "marts_crosscheck_lake", build)


def truth_join(lake: LakeLayout, sql: str) -> list[tuple]:
    return query(lake, sql.replace("TRUTH", f"read_parquet('{lake.truth / 'loans_truth.parquet'}')"))


def test_every_loan_reaches_the_mart(lake):
    n_truth, n_mart, n_both = truth_join(lake, """
        SELECT (SELECT count(*) FROM TRUTH), (SELECT count(*) FROM marts.loan_performance),
               (SELECT count(*) FROM TRUTH t JOIN marts.loan_performance l USING (loan_id))""")[0]
    assert n_truth == n_mart == n_both > 2000


def test_ever30_within_6_mob_matches_simulated_default(lake):
    (observed, agree, truth_bad, mart_bad, observed_flag_agrees), = truth_join(lake, """
        SELECT count(*), count(*) FILTER (WHERE t.defaulted = l.ever_dpd30_mob6),
               count(*) FILTER (WHERE t.defaulted), count(*) FILTER (WHERE l.ever_dpd30_mob6),
               bool_and(l.mob6_observed)
        FROM TRUTH t JOIN marts.loan_performance l USING (loan_id)
        WHERE t.mob6_observed""")
    print(f"6-MOB observed loans: {observed}, agreeing: {agree}, truth defaults: {truth_bad}, mart: {mart_bad}")
    assert observed > 1000 and observed_flag_agrees
    assert truth_bad > 30, "the world should have defaults to compare"
    assert agree >= 0.995 * observed
    assert abs(mart_bad - truth_bad) <= max(2, 0.02 * truth_bad)


def test_prohibited_spend_flag_finds_diverted_loans(lake):
    (diverted, caught, flagged), = truth_join(lake, """
        SELECT count(*) FILTER (WHERE t.diverted), count(*) FILTER (WHERE t.diverted AND f.flag_prohibited),
               count(*) FILTER (WHERE f.flag_prohibited)
        FROM TRUTH t JOIN marts.fund_usage_loans f USING (loan_id)""")
    print(f"diverted loans: {diverted}, flagged for prohibited spend: {caught}; all prohibited flags: {flagged}")
    assert diverted > 10
    assert caught >= 0.95 * diverted  # diverters send most of the money to prohibited merchants
    assert caught >= 0.5 * flagged    # ordinary borrowers only rarely touch them


def test_vintage_curves_rise_and_flatten(lake):
    rows = query(lake, """
        SELECT mob, sum(ever30_loans) / sum(loans) FROM marts.vintage_curves
        WHERE cohort_month <= (SELECT last_month_end FROM marts.marts_as_of) - INTERVAL 12 MONTH
        GROUP BY mob HAVING mob <= 12 ORDER BY mob""")
    rates = [r for _, r in rows]
    assert rates[0] == 0 and all(b >= a for a, b in zip(rates, rates[1:]))
    assert 0.01 < rates[12] < 0.2
    assert rates[6] >= 0.6 * rates[12]  # most of the 30+ appears in the first 6 MOB

