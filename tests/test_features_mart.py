"""Feature mart on a hand-written lake built through the real pipeline (contracts -> bronze -> dbt staging ->
features): the spine, hand-computed feature values of every family and the association graph on a planted ring."""
from __future__ import annotations

import math

import pytest

from features.catalog import catalog
from features.testing import HAND_ROWS, shared_build
from lake.layout import LakeLayout
from tests.lakehelpers import ingest_all, land_rows, query, run_dbt


def _build(root):
    lake = LakeLayout(root=root)
    for table, rows in HAND_ROWS.items():
        land_rows(lake, table, rows)
    ingest_all(lake)
    run_dbt(lake, "build", "--select", "staging", "features", "--indirect-selection", "cautious")


@pytest.fixture(scope="module")
def lake(tmp_path_factory, worker_id) -> LakeLayout:
    base = tmp_path_factory.getbasetemp() if worker_id == "master" else tmp_path_factory.getbasetemp().parent
    from tests.test_features_leakage import _build as build_leakage_lakes

    return LakeLayout(root=shared_build(base, "features_hand_lake", _build,
                                        meanwhile=[("features_leakage", build_leakage_lakes)]))


def feat(lake, table: str, cols: list[str], customer: str, obs_at: str) -> dict:
    rows = query(lake, f"SELECT {', '.join(cols)} FROM features.{table} "
                       f"WHERE customer_id = '{customer}' AND obs_at = TIMESTAMP '{obs_at}'")
    assert len(rows) == 1, (table, customer, obs_at, rows)
    return dict(zip(cols, rows[0]))


def close(a, b, tol=1e-6):
    if b is None:
        return a is None
    return a is not None and math.isclose(a, b, rel_tol=tol, abs_tol=tol)


def check(values: dict, expected: dict):
    bad = {k: (values[k], v) for k, v in expected.items() if not close(values[k], v)}
    assert not bad, f"feature: (got, expected) {bad}"


def test_spine_has_applications_and_month_ends_with_point_in_time_dpd(lake):
    rows = query(lake, "SELECT customer_id, strftime(obs_at, '%Y-%m-%d %H:%M'), is_application, is_bcard, is_ccard, dpd_at_obs "
                       "FROM features.feat_spine ORDER BY 1, 2")
    assert rows == [
        ("C1", "2026-07-01 09:00", True, False, False, None),
        ("C1", "2026-08-01 00:00", False, True, False, 0),
        ("C1", "2026-09-01 00:00", False, True, False, 0),
        ("C1", "2026-10-01 00:00", False, True, False, 0),
        ("C2", "2026-07-10 09:00", True, False, False, None),
        ("C2", "2026-08-01 00:00", False, True, False, 0),
        ("C2", "2026-09-01 00:00", False, False, True, 16),  # installment due 08-15 unpaid at the 08-31 month-end
        ("C2", "2026-10-01 00:00", False, False, True, 46),
        ("C3", "2026-06-10 10:00", True, False, False, None),
        ("C4", "2026-05-20 10:00", True, False, False, None),
        ("C4", "2026-09-30 12:00", True, False, False, None),
        ("C5", "2026-06-05 08:00", True, False, False, None),
    ]
    # every family table has exactly the spine's rows
    (n,) = query(lake, "SELECT count(*) FROM features.feat_spine")[0]
    for table in catalog().tables:
        assert query(lake, f"SELECT count(*), count(DISTINCT obs_id) FROM features.{table}") == [(n, n)], table


def test_ecommerce_features_at_the_application(lake):
    # orders before T = 2026-07-01 09:00: 100 (groceries, 20.54 d), 30 (gaming, night, 6.29 d), 2500 (digital, 2.79 d);
    # the 999 order on 07-05 is after T and must not count.
    v = feat(lake, "feat_ecom", ["ecom_cnt_7d", "ecom_cnt_30d", "ecom_sum_amt_7d", "ecom_sum_amt_30d", "ecom_avg_amt_30d",
                                 "ecom_max_amt_30d", "ecom_min_amt_30d", "ecom_std_amt_30d", "ecom_cat_gaming_cnt_7d",
                                 "ecom_tod_night_cnt_30d", "ecom_band_xlarge_cnt_30d", "ecom_band_small_cnt_30d",
                                 "ecom_cat_groceries_shr_cnt_30d", "ecom_pay_credit_card_shr_amt_30d", "ecom_dsl", "ecom_dsf",
                                 "ecom_dst_merchant_30d", "ecom_dst_day_30d", "ecom_acc_cnt_7v30", "ecom_trend_cnt_6m",
                                 "ecom_cat_luxury_cnt_365d", "ecom_cnt_365d"],
             "C1", "2026-07-01 09:00:00")
    mean = 2630 / 3
    std = math.sqrt(((100 - mean) ** 2 + (30 - mean) ** 2 + (2500 - mean) ** 2) / 2)
    check(v, {"ecom_cnt_7d": 2, "ecom_cnt_30d": 3, "ecom_sum_amt_7d": 2530, "ecom_sum_amt_30d": 2630, "ecom_avg_amt_30d": mean,
              "ecom_max_amt_30d": 2500, "ecom_min_amt_30d": 30, "ecom_std_amt_30d": std, "ecom_cat_gaming_cnt_7d": 1,
              "ecom_tod_night_cnt_30d": 1, "ecom_band_xlarge_cnt_30d": 1, "ecom_band_small_cnt_30d": 1,
              "ecom_cat_groceries_shr_cnt_30d": 1 / 3, "ecom_pay_credit_card_shr_amt_30d": 2500 / 2630,
              "ecom_dsl": 2 + 19 / 24, "ecom_dsf": 20 + 13 / 24, "ecom_dst_merchant_30d": 2, "ecom_dst_day_30d": 3,
              "ecom_acc_cnt_7v30": (2 / 7) / (3 / 30), "ecom_trend_cnt_6m": 3 * 2.5 / 17.5,
              "ecom_cat_luxury_cnt_365d": 0, "ecom_cnt_365d": 3})
    # nothing before the first order window: averages are missing, counts are zero
    v = feat(lake, "feat_ecom", ["ecom_cnt_30d", "ecom_avg_amt_30d", "ecom_dsl"], "C2", "2026-07-10 09:00:00")
    assert v == {"ecom_cnt_30d": 0, "ecom_avg_amt_30d": None, "ecom_dsl": None}


def test_bureau_features_use_the_latest_report_before_t(lake):
    # R1 (2026-06-30 10:00) is the latest report before T; R0 (older, with a mortgage) and R2 (after T) are ignored
    v = feat(lake, "feat_tl", ["tl_cnt_all", "tl_sum_bal_all", "tl_sum_lim_all", "tl_util_all", "tl_cnt_180d", "tl_cnt_730d",
                               "tl_max_worst3_all", "tl_max_worst24_all", "tl_sum_od6_all", "tl_status_overdue_cnt_all",
                               "tl_prod_credit_card_sum_bal_all", "tl_prod_mortgage_cnt_all", "tl_report_age_all", "tl_dsf", "tl_dsl"],
             "C1", "2026-07-01 09:00:00")
    check(v, {"tl_cnt_all": 2, "tl_sum_bal_all": 6500, "tl_sum_lim_all": 23000, "tl_util_all": 6500 / 23000,
              "tl_cnt_180d": 1, "tl_cnt_730d": 1, "tl_max_worst3_all": 2, "tl_max_worst24_all": 2, "tl_sum_od6_all": 2,
              "tl_status_overdue_cnt_all": 1, "tl_prod_credit_card_sum_bal_all": 5000, "tl_prod_mortgage_cnt_all": 0,
              "tl_report_age_all": 23 / 24, "tl_dsf": 852 + 9 / 24, "tl_dsl": 61 + 9 / 24})
    v = feat(lake, "feat_inq", ["inq_cnt_7d", "inq_cnt_30d", "inq_cnt_90d", "inq_inst_p2p_cnt_30d", "inq_dst_institution_30d",
                                "inq_dst_institution_90d", "inq_acc_cnt_7v30", "inq_dsl", "inq_reason_loan_approval_shr_cnt_90d"],
             "C1", "2026-07-01 09:00:00")
    check(v, {"inq_cnt_7d": 1, "inq_cnt_30d": 2, "inq_cnt_90d": 3, "inq_inst_p2p_cnt_30d": 2, "inq_dst_institution_30d": 1,
              "inq_dst_institution_90d": 2, "inq_acc_cnt_7v30": (1 / 7) / (2 / 30), "inq_dsl": 3 + 1 / 24,
              "inq_reason_loan_approval_shr_cnt_90d": 2 / 3})
    v = feat(lake, "feat_pr", ["pr_cnt_365d", "pr_sum_amt_all", "pr_type_court_enforcement_cnt_all", "pr_dsl"],
             "C1", "2026-07-01 09:00:00")
    check(v, {"pr_cnt_365d": 1, "pr_sum_amt_all": 5000, "pr_type_court_enforcement_cnt_all": 1, "pr_dsl": 212 + 9 / 24})
    v = feat(lake, "feat_telco", ["telco_tenure", "telco_name_match", "telco_carrier_china_mobile_cnt"], "C1", "2026-07-01 09:00:00")
    check(v, {"telco_tenure": 60, "telco_name_match": 1, "telco_carrier_china_mobile_cnt": 1})
    v = feat(lake, "feat_prof", ["prof_income", "prof_age", "prof_gender_f_cnt", "prof_edu_bachelor_cnt"], "C1", "2026-07-01 09:00:00")
    check(v, {"prof_income": 8000, "prof_age": 13330 / 365.25, "prof_gender_f_cnt": 1, "prof_edu_bachelor_cnt": 1})


def test_internal_repayment_ledger_and_fund_usage_at_month_end(lake):
    t = "2026-10-01 00:00:00"
    # installment 1 paid a day early (08-01 for 08-02), installment 2 paid 8 days late (09-10 for 09-02)
    v = feat(lake, "feat_inst", ["inst_cnt_all", "inst_sum_on_time_all", "inst_ontime_rate_all", "inst_sum_late_all",
                                 "inst_max_late_days_all", "inst_sum_early_all", "inst_max_early_days_all",
                                 "inst_max_dpd_now_all", "inst_cnt_30d", "inst_sum_due_amt_all"], "C1", t)
    check(v, {"inst_cnt_all": 2, "inst_sum_on_time_all": 1, "inst_ontime_rate_all": 0.5, "inst_sum_late_all": 1,
              "inst_max_late_days_all": 8, "inst_sum_early_all": 1, "inst_max_early_days_all": 1,
              "inst_max_dpd_now_all": None, "inst_cnt_30d": 1, "inst_sum_due_amt_all": 2090})
    v = feat(lake, "feat_inst", ["inst_max_dpd_now_all", "inst_sum_late_all", "inst_sum_late30_all", "inst_ontime_rate_all"], "C2", t)
    check(v, {"inst_max_dpd_now_all": 46, "inst_sum_late_all": 2, "inst_sum_late30_all": 1, "inst_ontime_rate_all": 0})
    # limit 10,000 + 5,000 increase; principal 3,000 drawn - 2 x 1,000 paid off
    v = feat(lake, "feat_led", ["led_sum_limit_delta_all", "led_sum_principal_delta_all", "led_util_all",
                                "led_kind_increase_cnt_all", "led_kind_installment_paid_cnt_90d", "led_sum_frozen_delta_all"], "C1", t)
    check(v, {"led_sum_limit_delta_all": 15000, "led_sum_principal_delta_all": 1000, "led_util_all": 1000 / 15000,
              "led_kind_increase_cnt_all": 1, "led_kind_installment_paid_cnt_90d": 2, "led_sum_frozen_delta_all": 0})
    # at the 08-01 month-end the first payment (08-01 20:00) had not happened yet
    v = feat(lake, "feat_led", ["led_sum_principal_delta_all"], "C1", "2026-08-01 00:00:00")
    check(v, {"led_sum_principal_delta_all": 3000})
    v = feat(lake, "feat_fund", ["fund_cnt_all", "fund_sum_amt_all", "fund_risk_prohibited_shr_amt_all",
                                 "fund_use_gambling_cnt_all", "fund_purpose_match_share_all", "fund_avg_delay_h_all"], "C1", t)
    check(v, {"fund_cnt_all": 2, "fund_sum_amt_all": 2700, "fund_risk_prohibited_shr_amt_all": 1200 / 2700,
              "fund_use_gambling_cnt_all": 1, "fund_purpose_match_share_all": 1500 / 2700, "fund_avg_delay_h_all": 12})
    v = feat(lake, "feat_pay", ["pay_cnt_90d", "pay_sum_amt_90d", "pay_chan_auto_debit_cnt_90d"], "C1", t)
    check(v, {"pay_cnt_90d": 2, "pay_sum_amt_90d": 2090, "pay_chan_auto_debit_cnt_90d": 1})
    v = feat(lake, "feat_loan", ["loan_cnt_all", "loan_purpose_travel_cnt_all", "loan_avg_rate_all"], "C1", t)
    check(v, {"loan_cnt_all": 1, "loan_purpose_travel_cnt_all": 1, "loan_avg_rate_all": 0.18})
    v = feat(lake, "feat_cross", ["x_bureau_debt_to_income"], "C1", "2026-07-01 09:00:00")
    check(v, {"x_bureau_debt_to_income": 6500 / 8000})


def test_device_and_application_velocity(lake):
    v = feat(lake, "feat_dev", ["dev_cnt_7d", "dev_sum_device_change_365d", "dev_sum_new_device_365d", "dev_dst_device_365d",
                                "dev_type_login_cnt_30d", "dev_dst_wifi_365d"], "C1", "2026-07-01 09:00:00")
    check(v, {"dev_cnt_7d": 1, "dev_sum_device_change_365d": 1, "dev_sum_new_device_365d": 2, "dev_dst_device_365d": 2,
              "dev_type_login_cnt_30d": 1, "dev_dst_wifi_365d": 1})
    v = feat(lake, "feat_app", ["app_cnt_all", "app_cnt_180d", "app_decision_rejected_cnt_all", "app_dsl"], "C4", "2026-09-30 12:00:00")
    check(v, {"app_cnt_all": 1, "app_cnt_180d": 1, "app_decision_rejected_cnt_all": 1, "app_dsl": 133 + 2 / 24})


def test_graph_features_on_a_planted_ring(lake):
    cols = ["graph_cc_size", "graph_cc_bad_cnt", "graph_cc_bad_density", "graph_cc_self_bad", "graph_device_n",
            "graph_device_shared_sum", "graph_device_shared_bad", "graph_wifi_n", "graph_wifi_shared_sum", "graph_cc_growth_30d"]
    # C4 applies when only C3 and C4 have used the ring's phone
    check(feat(lake, "feat_graph", cols, "C4", "2026-05-20 10:00:00"),
          {"graph_cc_size": 2, "graph_cc_bad_cnt": 0, "graph_cc_bad_density": 0, "graph_cc_self_bad": 0, "graph_device_n": 1,
           "graph_device_shared_sum": 1, "graph_device_shared_bad": 0, "graph_wifi_n": 0, "graph_wifi_shared_sum": 0,
           "graph_cc_growth_30d": 1})
    # C5's first use of the phone is stamped exactly T: not before T, so C5 is still alone (but known bad)
    check(feat(lake, "feat_graph", cols, "C5", "2026-06-05 08:00:00"),
          {"graph_cc_size": 1, "graph_cc_bad_cnt": 0, "graph_cc_bad_density": None, "graph_cc_self_bad": 1, "graph_device_n": 0,
           "graph_device_shared_sum": 0, "graph_device_shared_bad": 0, "graph_wifi_n": 0, "graph_wifi_shared_sum": 0,
           "graph_cc_growth_30d": 0})
    # C3 applies after C5 joined: a component of 3 with one known-bad member (blacklisted 06-01). C3 used the Wi-Fi
    # twice (a link), C4 only once (one-off use: no link)
    check(feat(lake, "feat_graph", cols, "C3", "2026-06-10 10:00:00"),
          {"graph_cc_size": 3, "graph_cc_bad_cnt": 1, "graph_cc_bad_density": 0.5, "graph_cc_self_bad": 0, "graph_device_n": 1,
           "graph_device_shared_sum": 2, "graph_device_shared_bad": 1, "graph_wifi_n": 1, "graph_wifi_shared_sum": 0,
           "graph_cc_growth_30d": 1})
    # customers outside the ring stay alone
    assert feat(lake, "feat_graph", ["graph_cc_size"], "C1", "2026-07-01 09:00:00") == {"graph_cc_size": 1}
