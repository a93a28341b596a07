"""Delinquency: month-end bucket distribution, roll-rate matrix, flow rates, FPD by cohort and cure rates."""
from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import charts, data, filters, ui

f = filters.current()
st.title("Delinquency")
st.caption("Buckets by DPD at month-end: C (current), M1 1-30, M2 31-60, ... M6 151-180, M7+ > 180 (written off "
           "that month; charge-off at DPD > 180). The book = active loans plus the month's write-offs. " + f.describe())

basis = st.radio("Basis", ["Count", "Balance"], horizontal=True, key="d_basis",
                 help="Count of loans, or outstanding principal.")
value_col = "loans" if basis == "Count" else "balance"

where_m, params_m = f.where(month_col="month_end")
where_c, params_c = f.where(cohort_in_range=True)
try:
    dist = data.query(f"""
        SELECT month_end, bucket, any_value(bucket_order) AS bucket_order,
               sum(loans) AS loans, sum(balance) AS balance
        FROM delinquency_buckets WHERE {where_m}
        GROUP BY month_end, bucket ORDER BY month_end, bucket_order""", params_m)
    roll = data.query(f"""
        SELECT month_end, from_bucket, to_bucket, any_value(from_order) AS from_order, any_value(to_order) AS to_order,
               sum(loans) AS loans, sum(balance_from) AS balance
        FROM roll_rates WHERE {where_m}
        GROUP BY month_end, from_bucket, to_bucket""", params_m)
    fpd = data.query(f"""
        SELECT cohort_month,
               sum(fpd7_loans) / nullif(sum(fpd7_observed_loans), 0) AS fpd7,
               sum(fpd30_loans) / nullif(sum(fpd30_observed_loans), 0) AS fpd30,
               sum(fpd7_principal) / nullif(sum(fpd7_observed_principal), 0) AS fpd7_amount,
               sum(fpd30_principal) / nullif(sum(fpd30_observed_principal), 0) AS fpd30_amount,
               sum(fpd7_observed_loans) AS fpd7_observed_loans, sum(fpd30_observed_loans) AS fpd30_observed_loans
        FROM fpd_rates WHERE {where_c}
        GROUP BY cohort_month ORDER BY cohort_month""", params_c)
except data.MartMissing as exc:
    ui.missing_marts(exc)

# ---- KPIs at the last month-end in range
if not dist.empty:
    last = dist[dist["month_end"] == dist["month_end"].max()]
    tot_n, tot_b = last["loans"].sum(), last["balance"].sum()
    dq = last[last["bucket"] != "C"]
    d30 = last[~last["bucket"].isin(["C", "M1"])]
    m1, m2, m3, m4 = st.columns(4)
    m1.metric(f"Loans on book {pd.Timestamp(last['month_end'].iloc[0]):%Y-%m-%d}", f"{int(tot_n):,}",
              help=f"Outstanding principal {tot_b:,.0f}")
    m2.metric("Delinquent (M1+), balance", ui.pct(dq["balance"].sum() / tot_b if tot_b else None))
    m3.metric("30+ (M2+), balance", ui.pct(d30["balance"].sum() / tot_b if tot_b else None))
    m4.metric("Written off this month", f"{int(last.loc[last['bucket'] == 'M7+', 'loans'].sum()):,}",
              help=f"Balance {last.loc[last['bucket'] == 'M7+', 'balance'].sum():,.0f}")

left, right = st.columns(2)

# ---- bucket distribution over time
with left:
    with_current = st.toggle("Include current (C)", value=False, key="d_with_current",
                             help="Off: the delinquent buckets stacked as shares of the whole book (their top is "
                                  "the delinquency rate). On: all buckets, normalised to 100%.")
    dist_tbl = dist.assign(share=dist[value_col] / dist.groupby("month_end")[value_col].transform("sum"))
    shown = dist_tbl if with_current else dist_tbl[dist_tbl["bucket"] != "C"]
    chart = charts.stacked_area(
        shown, "month_end", value_col if with_current else "share", "bucket", normalize=with_current,
        y_title=f"Share of book ({basis.lower()})",
        tooltip=[alt.Tooltip("month_end:T", title="Month-end"), alt.Tooltip("bucket:N", title="Bucket"),
                 alt.Tooltip("share:Q", title="Share of book", format=".2%"),
                 alt.Tooltip(f"{value_col}:Q", title=basis, format=",.0f")])
    ui.chart_block("Bucket distribution at month-end", chart, dist_tbl,
                   caption="Share of the book in each bucket; hover for counts and balances.")

# ---- roll-rate matrix
with right:
    months = sorted(roll["month_end"].unique())
    labels = ["All months in range (pooled)"] + [f"{pd.Timestamp(m):%Y-%m} -> next" for m in months[::-1]]
    pick = st.selectbox("Roll-rate month", labels, key="d_roll_month")
    sel = roll if pick == labels[0] else roll[roll["month_end"] == months[::-1][labels.index(pick) - 1]]
    mat = (sel.groupby(["from_bucket", "to_bucket"], as_index=False)
              .agg(from_order=("from_order", "first"), to_order=("to_order", "first"),
                   loans=("loans", "sum"), balance=("balance", "sum")))
    mat["rate"] = mat[value_col] / mat.groupby("from_bucket")[value_col].transform("sum")
    mat = mat.sort_values(["from_order", "to_order"])
    order = [b for b in charts.BUCKETS]
    chart = charts.heatmap(
        mat, "to_bucket", "from_bucket", "rate", x_title="State at next month-end", y_title="Bucket at month-end",
        x_sort=order, y_sort=order,
        tooltip=[alt.Tooltip("from_bucket:N", title="From"), alt.Tooltip("to_bucket:N", title="To"),
                 alt.Tooltip("rate:Q", title="Roll rate", format=".2%"), alt.Tooltip("loans:Q", title="Loans", format=","),
                 alt.Tooltip("balance:Q", title="Balance (at month-end)", format=",.0f")])
    ui.chart_block("Roll-rate matrix", chart, mat[["from_bucket", "to_bucket", "loans", "balance", "rate"]],
                   caption=f"Share of each bucket's {basis.lower()} by its state one month later (rows sum to 100%).")

left, right = st.columns(2)

# ---- flow rates (stock based): M(k) at t+1 / M(k-1) at t
with left:
    wide = dist.pivot_table(index="month_end", columns="bucket", values=value_col, aggfunc="sum").sort_index()
    wide = wide.reindex(columns=charts.BUCKETS[:8]).fillna(0)
    consecutive = pd.Series(wide.index).diff().dt.days.between(27, 32).to_numpy()
    rows = []
    for k in range(1, 8):
        prev, cur = charts.BUCKETS[k - 1], charts.BUCKETS[k]
        rate = wide[cur] / wide[prev].shift(1).replace(0, float("nan"))
        for (m, r), ok in zip(rate.items(), consecutive):
            if ok and r == r:
                rows.append({"month_end": m, "flow": f"{prev}->{cur}", "rate": float(r), "order": k})
    flows = pd.DataFrame(rows, columns=["month_end", "flow", "rate", "order"])
    chart = charts.lines(
        flows, "month_end", "rate", "flow", x_title="Month-end", y_title="Flow rate", x_type="T", color_title="Flow",
        tooltip=[alt.Tooltip("month_end:T", title="Month-end"), alt.Tooltip("flow:N", title="Flow"),
                 alt.Tooltip("rate:Q", title="Flow rate", format=".1%")])
    ui.chart_block("Flow rates", chart, flows[["month_end", "flow", "rate"]],
                   caption=f"{basis} in bucket k at a month-end over {basis.lower()} in bucket k-1 one month earlier.")

# ---- FPD by cohort
with right:
    fpd_long = fpd.melt(id_vars=["cohort_month", "fpd7_observed_loans", "fpd30_observed_loans"],
                        value_vars=["fpd7", "fpd30"] if basis == "Count" else ["fpd7_amount", "fpd30_amount"],
                        var_name="measure", value_name="rate").dropna(subset=["rate"])
    fpd_long["measure"] = fpd_long["measure"].str.replace("_amount", "").str.upper()
    fpd_long["rate"] = fpd_long["rate"].astype(float)
    chart = charts.lines(
        fpd_long, "cohort_month", "rate", "measure", x_title="Cohort (disbursement month)", y_title="First-payment default",
        x_type="T", color_title="Measure",
        tooltip=[alt.Tooltip("cohort_month:T", title="Cohort", format="%Y-%m"), alt.Tooltip("measure:N"),
                 alt.Tooltip("rate:Q", title="Rate", format=".2%"),
                 alt.Tooltip("fpd7_observed_loans:Q", title="Loans observed (FPD7)", format=",")])
    ui.chart_block("FPD7 / FPD30 by cohort", chart, fpd,
                   caption="First installment still unpaid 7 / 30 days after its due date (loans whose date is observed).")

# ---- cure rates
cure = roll[roll["from_bucket"] != "C"].copy()
if not cure.empty:
    cure["group"] = cure["from_bucket"].where(cure["from_bucket"].isin(["M1", "M2"]), "M3-M6")
    both = pd.concat([cure, cure.assign(group="All delinquent (M1+)")])
    both["cured"] = both[value_col].where(both["to_bucket"] == "C", 0)
    both["paid"] = both[value_col].where(both["to_bucket"] == "PAID_OFF", 0)
    cr = both.groupby(["month_end", "group"], as_index=False).agg(total=(value_col, "sum"), cured=("cured", "sum"),
                                                                   paid=("paid", "sum"))
    cr["cure_rate"] = cr["cured"] / cr["total"]
    cr["cure_or_payoff_rate"] = (cr["cured"] + cr["paid"]) / cr["total"]
else:
    cr = pd.DataFrame(columns=["month_end", "group", "total", "cured", "paid", "cure_rate", "cure_or_payoff_rate"])
chart = charts.lines(
    cr, "month_end", "cure_rate", "group", x_title="Month-end", y_title="Cured to current next month", x_type="T",
    color_title="From",
    tooltip=[alt.Tooltip("month_end:T", title="Month-end"), alt.Tooltip("group:N", title="From"),
             alt.Tooltip("cure_rate:Q", title="Back to current", format=".1%"),
             alt.Tooltip("cure_or_payoff_rate:Q", title="Current or paid off", format=".1%"),
             alt.Tooltip("total:Q", title=basis, format=",.0f")])
ui.chart_block("Cure rates", chart, cr,
               caption=f"Share of delinquent {basis.lower()} at a month-end that is current (C) at the next month-end.")
