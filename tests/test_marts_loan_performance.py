"""Loan performance, vintage and delinquency marts on a handful of hand-computed loans.

Seven loans, as-of date 2026-09-30 (dbt var), charge-off at DPD > 180. Amounts keep the arithmetic easy:
equal principal of 1000 per installment, interest = outstanding x annual_rate / 12.

  L1 on time             3000, 3 x 1000, 0%    paid on each due date                 -> paid off 04-15
  L2 partial payment     3000, 12%: 1030/1020/1010  02-15 1030, 03-15 500, 04-20 1530 -> paid off 04-20, reached DPD 30
  L3 prepayment          6000, 6 x (1000 + int), 12%  02-15 1060, 03-10 5050 (= 1050 due + 4000 principal) -> paid off 03-10
  L4 several missed      3000, 0%   nothing until 04-20 1000 (inst 1), 05-05 2000      -> paid off 05-05
  L5 charge-off+recovery 3000, 0%   02-15 1000, then nothing; charged off 09-12; 09-20 pays 500 (recovery)
  L6 late first payment  3000, 0%, disbursed 02-10: inst 1 paid 03-25 (15 days late), rest on time
  L7 never pays          3000, 0%, disbursed 02-20: charged off 09-17
Cohorts: 2026-01 = L1..L5, 2026-02 = L6, L7.
"""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from lake.layout import LakeLayout
from tests.lakehelpers import ingest_all, land_rows, query, run_dbt, shared_lake

AS_OF = "2026-09-30"
VARS = f"{{as_of_date: '{AS_OF}'}}"
# the macro gives every loan's state on any date; compiled once with the lake (dbt needs the database)
STATE_ON_0320 = ("select loan_id, dpd, bucket, status, outstanding_principal "
                 "from {{ marts_loan_state_at(\"date '2026-03-20'\") }} order by loan_id")


def add_months(d: date, k: int) -> date:
    m = d.month - 1 + k
    return date(d.year + m // 12, m % 12 + 1, d.day)


def schedule(loan_id: str, drawdown: date, principal: float, term: int, rate: float) -> list[dict]:
    rows, out = [], principal
    for i in range(1, term + 1):
        p = principal / term
        rows.append({"loan_id": loan_id, "installment_no": i, "due_date": add_months(drawdown, i).isoformat(),
                     "principal_due": p, "interest_due": round(out * rate / 12, 2)})
        out -= p
    return rows


LOANS = [  # loan, drawdown date, principal, term, rate, purpose, product, channel
    ("L1", date(2026, 1, 15), 3000, 3, 0.0, "daily_consumption", "installment", "app"),
    ("L2", date(2026, 1, 15), 3000, 3, 0.12, "travel", "installment", "web"),
    ("L3", date(2026, 1, 15), 6000, 6, 0.12, "renovation", "revolving", "app"),
    ("L4", date(2026, 1, 15), 3000, 3, 0.0, "education", "revolving", "app"),
    ("L5", date(2026, 1, 15), 3000, 3, 0.0, "daily_consumption", "installment", "app"),
    ("L6", date(2026, 2, 10), 3000, 3, 0.0, "travel", "installment", None),
    ("L7", date(2026, 2, 20), 3000, 3, 0.0, "wedding", "installment", "app"),
]
PAYMENTS = [  # loan, date, amount
    ("L1", "2026-02-15", 1000), ("L1", "2026-03-15", 1000), ("L1", "2026-04-15", 1000),
    ("L2", "2026-02-15", 1030), ("L2", "2026-03-15", 500), ("L2", "2026-04-20", 1530),
    ("L3", "2026-02-15", 1060), ("L3", "2026-03-10", 5050),
    ("L4", "2026-04-20", 1000), ("L4", "2026-05-05", 2000),
    ("L5", "2026-02-15", 1000), ("L5", "2026-09-20", 500),
    ("L6", "2026-03-25", 1000), ("L6", "2026-04-10", 1000), ("L6", "2026-05-10", 1000),
]
FLOWS = [  # flow, loan, days after drawdown, amount, mcc
    ("F1", "L1", 1, 2000, "5411"),   # groceries: matches daily_consumption
    ("F2", "L1", 3, 500, "7995"),    # gambling: 500 / 3000 = 17% of principal -> flagged
    ("F3", "L1", 45, 400, "7995"),   # outside the 30-day window: ignored
    ("F4", "L3", 2, 5000, "5211"),   # building materials: matches renovation
    ("F5", "L3", 5, 300, "6211"),    # securities 300 / 6000 = 5% -> below the 10% threshold
    ("F6", "L4", 1, 2500, "6211"),   # securities: 83% -> flagged, and education does not match
    ("F7", "L6", 1, 2800, "4829"),   # wire transfer: cash-out 93% -> flagged (and mismatch with travel)
    ("F8", "L7", 2, 2000, "8220"),   # university fees while declaring a wedding: mismatch, reported but not queued
    ("F9", "L2", 2, 2900, "4511"),   # airline: matches travel
    ("F10", "L2", 3, 100, "0000"),   # unmapped MCC -> other
]


def build(lake: LakeLayout) -> None:
    land_rows(lake, "drawdowns", [
        {"loan_id": l, "line_id": "LN" + l, "customer_id": "C" + l, "drawdown_at": f"{d} 10:00:00", "amount": p,
         "term_months": t, "annual_rate": r, "declared_purpose": pur, "partner_id": "PB01", "product": prod,
         "channel": ch or ""}
        for l, d, p, t, r, pur, prod, ch in LOANS])
    land_rows(lake, "repayment_schedule", [row for l, d, p, t, r, *_ in LOANS for row in schedule(l, d, p, t, r)])
    land_rows(lake, "repayments", [
        {"payment_id": f"P{i}", "loan_id": l, "paid_at": f"{d} 12:00:00", "amount": a, "payment_channel": "app"}
        for i, (l, d, a) in enumerate(PAYMENTS)])
    drawn = {l: d for l, d, *_ in LOANS}
    land_rows(lake, "fund_flows", [
        {"flow_id": f, "loan_id": l, "customer_id": "C" + l,
         "flow_at": f"{drawn[l] + timedelta(days=days)} 11:00:00", "amount": a, "mcc": m, "counterparty_id": "M" + f}
        for f, l, days, a, m in FLOWS])
    ingest_all(lake)
    # staging models + marts with their data tests (staging and source tests are covered elsewhere)
    run_dbt(lake, "build", "--select", "staging", "marts", "--exclude", "staging,resource_type:test", "--vars", VARS)
    out = run_dbt(lake, "compile", "--quiet", "--vars", VARS, "--inline", STATE_ON_0320)
    (lake.root / "state_on_0320.sql").write_text(out.stdout)


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> LakeLayout:
    return shared_lake(tmp_path_factory, "marts_hand_lake", build)


def one(lake, sql):
    rows = query(lake, sql)
    assert len(rows) == 1, rows
    return rows[0]


def month_end_rows(lake, loan):
    return query(lake, f"SELECT strftime(month_end, '%m'), dpd, bucket, status, round(outstanding_principal, 2), "
                       f"round(overdue_amount, 2) FROM marts.loan_month_end WHERE loan_id = '{loan}' ORDER BY month_end")


def test_data_date(lake):
    assert one(lake, "SELECT as_of_date::varchar, last_month_end::varchar FROM marts.marts_as_of") == ("2026-09-30", "2026-09-30")


def test_on_time_loan(lake):
    assert month_end_rows(lake, "L1") == [
        ("01", 0, "C", "active", 3000.0, 0.0), ("02", 0, "C", "active", 2000.0, 0.0),
        ("03", 0, "C", "active", 1000.0, 0.0), ("04", 0, "PAID_OFF", "paid_off", 0.0, 0.0)]


def test_partial_payment_allocates_interest_first_and_oldest_first(lake):
    # March: 1030 + 500 paid; inst 1 covered; 500 goes to inst 2: 20 interest, 480 principal
    assert month_end_rows(lake, "L2") == [
        ("01", 0, "C", "active", 3000.0, 0.0), ("02", 0, "C", "active", 2000.0, 0.0),
        ("03", 16, "M1", "active", 1520.0, 520.0), ("04", 0, "PAID_OFF", "paid_off", 0.0, 0.0)]
    # inst 2 due 03-15 unpaid until 04-20: DPD 30 on 04-14, deepest DPD 35 (on 04-19)
    assert one(lake, "SELECT first_dpd1_date::varchar, first_dpd30_date::varchar, max_dpd, paid_off_date::varchar "
                     "FROM marts.loan_performance WHERE loan_id = 'L2'") == ("2026-03-16", "2026-04-14", 35, "2026-04-20")


def test_prepayment_closes_the_loan_without_future_interest(lake):
    assert month_end_rows(lake, "L3") == [
        ("01", 0, "C", "active", 6000.0, 0.0), ("02", 0, "C", "active", 5000.0, 0.0),
        ("03", 0, "PAID_OFF", "paid_off", 0.0, 0.0)]
    assert one(lake, "SELECT paid_off_date::varchar, status, ever_dpd30, max_dpd FROM marts.loan_performance "
                     "WHERE loan_id = 'L3'") == ("2026-03-10", "paid_off", False, 0)


def test_several_missed_installments_then_catch_up(lake):
    assert month_end_rows(lake, "L4") == [
        ("01", 0, "C", "active", 3000.0, 0.0),
        ("02", 13, "M1", "active", 3000.0, 1000.0),
        ("03", 44, "M2", "active", 3000.0, 2000.0),
        # 04-20 pays 1000: oldest-first covers inst 1 only; inst 2 (due 03-15) is now the oldest unpaid
        ("04", 46, "M2", "active", 2000.0, 2000.0),
        ("05", 0, "PAID_OFF", "paid_off", 0.0, 0.0)]
    assert one(lake, "SELECT first_dpd30_date::varchar, first_dpd60_date::varchar, first_dpd90_date, max_dpd, fpd7, fpd30 "
                     "FROM marts.loan_performance WHERE loan_id = 'L4'") == ("2026-03-17", "2026-04-16", None, 63, True, True)


def test_charge_off_and_payment_after_charge_off(lake):
    rows = month_end_rows(lake, "L5")
    assert [r[:3] for r in rows] == [("01", 0, "C"), ("02", 0, "C"), ("03", 16, "M1"), ("04", 46, "M2"), ("05", 77, "M3"),
                                     ("06", 107, "M4"), ("07", 138, "M5"), ("08", 169, "M6"), ("09", 199, "M7+")]
    # the 500 recovered on 09-20 reduces the contractual balance but the loan stays written off
    assert rows[-1][3:] == ("written_off", 1500.0, 1500.0)
    assert one(lake, "SELECT status, bucket, charge_off_date::varchar, written_off_principal, recovered_after_charge_off, "
                     "first_dpd90_date::varchar, dpd FROM marts.loan_performance WHERE loan_id = 'L5'") == (
        "written_off", "M7+", "2026-09-12", 2000.0, 500.0, "2026-06-13", 199)


def test_never_paying_loan_is_written_off_after_180_days(lake):
    assert [r[2] for r in month_end_rows(lake, "L7")] == ["C", "M1", "M2", "M3", "M4", "M5", "M6", "M7+"]
    assert one(lake, "SELECT charge_off_date::varchar, written_off_principal, fpd7, fpd30, ever_dpd30_mob6 "
                     "FROM marts.loan_performance WHERE loan_id = 'L7'") == ("2026-09-17", 3000.0, True, True, True)


def test_fpd_and_mob6_labels(lake):
    rows = query(lake, "SELECT loan_id, fpd7, fpd30, mob6_observed, ever_dpd30_mob6 FROM marts.loan_performance ORDER BY 1")
    assert rows == [("L1", False, False, True, False), ("L2", False, False, True, True), ("L3", False, False, True, False),
                    ("L4", True, True, True, True), ("L5", False, False, True, True), ("L6", True, False, True, False),
                    ("L7", True, True, True, True)]
    assert query(lake, "SELECT strftime(cohort_month, '%Y-%m'), sum(fpd7_loans), sum(fpd7_observed_loans), sum(fpd30_loans) "
                       "FROM marts.fpd_rates GROUP BY 1 ORDER BY 1") == [("2026-01", 1, 5, 1), ("2026-02", 2, 2, 1)]


def test_vintage_curve_of_january_cohort(lake):
    rows = query(lake, """
        SELECT mob, sum(loans), sum(ever30_loans), sum(ever30_principal) / sum(principal), sum(ever90_loans),
               sum(cur30_balance), sum(written_off_principal)
        FROM marts.vintage_curves WHERE cohort_month = DATE '2026-01-01' GROUP BY mob ORDER BY mob""")
    assert [r[0] for r in rows] == list(range(9))  # MOB 0 (Jan) .. 8 (Sep)
    assert all(r[1] == 5 for r in rows)
    assert [r[2] for r in rows] == [0, 0, 1, 3, 3, 3, 3, 3, 3]
    assert rows[3][3] == pytest.approx(9000 / 18000)
    assert [r[4] for r in rows] == [0, 0, 0, 0, 0, 1, 1, 1, 1]
    # current 30+: March L4 (3000); April L4 and L5 (2000 each); May..Aug L5 only; September L5 is written off
    assert [r[5] for r in rows] == [0, 0, 3000, 4000, 2000, 2000, 2000, 2000, 0]
    assert rows[8][6] == 2000


def test_bucket_distribution_and_roll_rates(lake):
    assert query(lake, "SELECT bucket, sum(loans), sum(count_share) FROM marts.delinquency_buckets "
                       "WHERE month_end = DATE '2026-03-31' GROUP BY bucket ORDER BY bucket") == [
        ("C", 2, pytest.approx(2 / 6)), ("M1", 3, pytest.approx(3 / 6)), ("M2", 1, pytest.approx(1 / 6))]
    feb = query(lake, "SELECT from_bucket, to_bucket, loans, round(count_rate, 4) FROM marts.roll_rate_matrix "
                      "WHERE month_end = DATE '2026-02-28' ORDER BY from_order, to_order")
    assert feb == [("C", "C", 2, round(2 / 6, 4)), ("C", "M1", 3, 0.5), ("C", "PAID_OFF", 1, round(1 / 6, 4)), ("M1", "M2", 1, 1.0)]
    mar = query(lake, "SELECT from_bucket, to_bucket, loans, round(count_rate, 4), round(balance_rate, 4) "
                      "FROM marts.roll_rate_matrix WHERE month_end = DATE '2026-03-31' ORDER BY from_order, to_order")
    assert mar == [("C", "C", 1, 0.5, round(2000 / 3000, 4)), ("C", "PAID_OFF", 1, 0.5, round(1000 / 3000, 4)),
                   ("M1", "M2", 2, round(2 / 3, 4), round(5000 / 6520, 4)),
                   ("M1", "PAID_OFF", 1, round(1 / 3, 4), round(1520 / 6520, 4)), ("M2", "M2", 1, 1.0, 1.0)]
    # flow into M2 in April: 3 loans in M2 at 04-30 / 3 in M1 at 03-31; into M7+ in September: L5, L7 from 2 in M6
    assert one(lake, "SELECT from_loans, to_loans, flow_rate_count FROM marts.flow_rates "
                     "WHERE month_end = DATE '2026-04-30' AND to_bucket = 'M2'") == (3, 3, 1.0)
    assert one(lake, "SELECT from_loans, to_loans FROM marts.flow_rates WHERE month_end = DATE '2026-09-30' AND to_bucket = 'M7+'") == (2, 2)
    # cure: L4 (M2 at April) paid off in May
    assert one(lake, "SELECT loans, cure_rate, payoff_rate FROM marts.cure_rates "
                     "WHERE month_end = DATE '2026-04-30' AND from_bucket = 'M2'") == (3, 0.0, pytest.approx(1 / 3))


def test_state_on_any_date_through_the_macro(lake):
    rows = query(lake, (lake.root / "state_on_0320.sql").read_text())
    assert rows == [("L1", 0, "C", "active", 1000.0), ("L2", 5, "M1", "active", 1520.0), ("L3", 0, "PAID_OFF", "paid_off", 0.0),
                    ("L4", 33, "M2", "active", 3000.0), ("L5", 5, "M1", "active", 2000.0), ("L6", 10, "M1", "active", 3000.0),
                    ("L7", 0, "C", "active", 3000.0)]


def test_fund_usage_flags(lake):
    rows = query(lake, "SELECT loan_id, round(traced_amount), round(prohibited_share, 4), flag_prohibited, flag_cash_out, "
                       "purpose_mismatch, is_flagged FROM marts.fund_usage_loans ORDER BY loan_id")
    assert rows == [
        ("L1", 2500.0, round(500 / 3000, 4), True, False, False, True),
        ("L2", 3000.0, 0.0, False, False, False, False),
        ("L3", 5300.0, 0.05, False, False, False, False),
        ("L4", 2500.0, round(2500 / 3000, 4), True, False, True, True),
        ("L5", 0.0, 0.0, False, False, False, False),
        ("L6", 2800.0, 0.0, False, True, True, True),
        ("L7", 2000.0, 0.0, False, False, True, False)]
    reasons = dict(query(lake, "SELECT loan_id, flag_reasons FROM marts.fund_usage_loans WHERE flag_reasons IS NOT NULL"))
    assert sorted(reasons) == ["L1", "L4", "L6", "L7"]
    assert reasons["L7"] == "declared wedding but 0% of traced spend matches it (top: education)"
    assert reasons["L6"] == ("cash-out / transfers 93% of principal; "
                             "declared travel but 0% of traced spend matches it (top: cash_transfer)")
    assert reasons["L1"] == "prohibited spend 17% of principal (gambling)"
    assert reasons["L4"].startswith("prohibited spend 83% of principal (securities/investment); declared education but 0%")
    assert query(lake, "SELECT spend_category, round(amount) FROM marts.fund_usage_categories WHERE declared_purpose = 'travel' "
                       "ORDER BY 1") == [("cash_transfer", 2800.0), ("other", 100.0), ("travel", 2900.0)]
    assert one(lake, "SELECT count(*) FROM marts.fund_usage_flows WHERE NOT in_window") == (1,)

