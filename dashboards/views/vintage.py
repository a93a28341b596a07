"""Vintage: for each origination cohort, the share of loans (or principal) that ever reached 30+ / 90+ DPD
by each month on book, and the current 30+ balance; one line per cohort (or per segment)."""
from __future__ import annotations

import altair as alt
import streamlit as st

from dashboards import charts, data, filters, ui

f = filters.current()
st.title("Vintage")
st.caption("Each line is a group of loans followed from disbursement (MOB 0 = disbursement month). "
           "Ever 30+ / 90+: loans that reached that DPD on any day up to the MOB's month-end, as a share of all "
           "the group's loans (count) or of their disbursed principal (amount). Current 30+: outstanding principal "
           "of active loans at DPD >= 30 at the month-end over disbursed principal.")

# (numerator, denominator) columns of marts.vintage_curves; labels are the only user choice
METRICS = {
    "Ever 30+ (count)": ("ever30_loans", "loans"),
    "Ever 30+ (amount)": ("ever30_principal", "principal"),
    "Ever 90+ (count)": ("ever90_loans", "loans"),
    "Ever 90+ (amount)": ("ever90_principal", "principal"),
    "Current 30+ balance / disbursed": ("cur30_balance", "principal"),
}
SPLITS = {
    "Cohort": "strftime(cohort_month, '%Y-%m')",
    "Product": "product",
    "Channel": "channel",
    "Declared purpose": "declared_purpose",
}

c1, c2, c3 = st.columns([2, 2, 3])
metric = c1.selectbox("Metric", list(METRICS), key="v_metric")
split = c2.selectbox("One line per", list(SPLITS), key="v_split",
                     help="Other than Cohort, a line pools the cohorts in range that have reached each MOB.")
max_mob = c3.slider("Months on book shown", min_value=3, max_value=36, value=24, key="v_max_mob")

num, den = METRICS[metric]
where, params = f.where(cohort_in_range=True)
params["max_mob"] = max_mob
try:
    df = data.query(f"""
        SELECT {SPLITS[split]} AS series, mob,
               sum({num}) / nullif(sum({den}), 0) AS rate,
               sum({num}) AS numerator, sum({den}) AS denominator,
               sum(loans) AS loans, count(DISTINCT cohort_month) AS cohorts
        FROM vintage_curves
        WHERE {where} AND mob <= $max_mob
        GROUP BY ALL
        ORDER BY series, mob""", params)
    kpi = data.query(f"""
        SELECT count(DISTINCT cohort_month) AS cohorts,
               sum(loans) FILTER (WHERE mob = 0) AS loans,
               sum(principal) FILTER (WHERE mob = 0) AS principal,
               sum(ever30_loans) FILTER (WHERE mob = 6) / nullif(sum(loans) FILTER (WHERE mob = 6), 0) AS ever30_mob6,
               sum(ever90_loans) FILTER (WHERE mob = 12) / nullif(sum(loans) FILTER (WHERE mob = 12), 0) AS ever90_mob12
        FROM vintage_curves WHERE {where}""", {k: v for k, v in params.items() if k != "max_mob"})
except data.MartMissing as exc:
    ui.missing_marts(exc)

k = kpi.iloc[0]
m1, m2, m3, m4 = st.columns(4)
m1.metric("Cohorts", int(k["cohorts"] or 0))
m2.metric("Loans disbursed", f"{int(k['loans'] or 0):,}", help=f"Principal {float(k['principal'] or 0):,.0f}")
m3.metric("Ever 30+ by MOB 6", ui.pct(k["ever30_mob6"]),
          help="Cohorts in range with 6 months on book observed (the A-card bad rate)")
m4.metric("Ever 90+ by MOB 12", ui.pct(k["ever90_mob12"]), help="Cohorts in range with 12 months on book observed")

df["rate"] = df["rate"].astype(float)
chart = charts.lines(
    df, "mob", "rate", "series", x_title="Months on book", y_title=metric, color_title=split, ordered=split == "Cohort",
    tooltip=[alt.Tooltip("series:N", title=split), alt.Tooltip("mob:Q", title="MOB"),
             alt.Tooltip("rate:Q", title=metric, format=".2%"), alt.Tooltip("loans:Q", title="Loans", format=","),
             alt.Tooltip("numerator:Q", title="Numerator", format=",.0f")])
ui.chart_block(f"Vintage curves: {metric}", chart, df,
               caption="Click a legend entry to highlight a line; scroll to zoom along MOB. " + f.describe())

if not df.empty:
    st.subheader("Vintage triangle")
    tri = df.pivot(index="series", columns="mob", values="rate")
    tri.columns = [f"MOB {c}" for c in tri.columns]
    tri = tri.reset_index().rename(columns={"series": split})
    st.dataframe(tri, hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(c, format="percent") for c in tri.columns[1:]})
    ui.download(tri, f"vintage triangle {metric}", label="Download triangle (CSV)")
