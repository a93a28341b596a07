"""Fund usage: where loan proceeds went (merchant categories within the monitoring window after each
drawdown), prohibited spend, declared-purpose mismatch, trends by cohort, and the flagged loans with a
drill-down into one loan's flows and repayment history. No customer identifiers are shown."""
from __future__ import annotations

import altair as alt
import streamlit as st

from dashboards import charts, data, filters, ui

f = filters.current()
st.title("Fund usage")
st.caption("Fund flows of each drawdown's proceeds within the monitoring window (30 days) by merchant category. "
           "Prohibited: securities / investment (incl. crypto / quasi-cash), gambling, real estate. " + f.describe())

where, params = f.where(cohort_in_range=True)
try:
    kpi = data.query(f"""
        SELECT sum(loans) AS loans, sum(principal) AS principal, sum(traced_amount) AS traced,
               sum(prohibited_amount) AS prohibited, sum(flagged_loans) AS flagged,
               sum(mismatch_loans) AS mismatch,
               sum(flagged_mob6_bad) / nullif(sum(flagged_mob6_loans), 0) AS flagged_bad,
               sum(other_mob6_bad) / nullif(sum(other_mob6_loans), 0) AS other_bad
        FROM fund_usage_trends WHERE {where}""", params)
    cats = data.query(f"""
        SELECT spend_category, declared_purpose, bool_or(is_prohibited) AS is_prohibited,
               bool_or(matches_purpose) AS matches_purpose, sum(amount) AS amount, sum(flows) AS flows
        FROM fund_usage_categories WHERE {where}
        GROUP BY spend_category, declared_purpose""", params)
    trends = data.query(f"""
        SELECT cohort_month, declared_purpose, product, channel,
               sum(loans) AS loans, sum(traced_amount) AS traced, sum(prohibited_amount) AS prohibited,
               sum(securities_amount) AS securities, sum(gambling_amount) AS gambling,
               sum(real_estate_amount) AS real_estate, sum(flagged_loans) AS flagged,
               sum(mismatch_loans) AS mismatch
        FROM fund_usage_trends WHERE {where}
        GROUP BY ALL""", params)
except data.MartMissing as exc:
    ui.missing_marts(exc)

k = kpi.iloc[0]
loans = int(k["loans"] or 0)
m1, m2, m3, m4, m5 = st.columns(5)
m1.metric("Drawdowns", f"{loans:,}", help=f"Principal {float(k['principal'] or 0):,.0f}")
m2.metric("Traced within window", ui.pct(k["traced"] / k["principal"] if k["principal"] else None, 1),
          help="Fund flows within the window over disbursed principal")
m3.metric("Prohibited share of traced spend", ui.pct(k["prohibited"] / k["traced"] if k["traced"] else None))
m4.metric("Flagged loans", f"{int(k['flagged'] or 0):,}", delta=ui.pct(k["flagged"] / loans if loans else None),
          delta_color="off", help="Prohibited spend >= 10% of principal, or cash-out >= 50%")
m5.metric("Bad rate: flagged / other", f"{ui.pct(k['flagged_bad'], 1)} / {ui.pct(k['other_bad'], 1)}",
          help="Ever DPD 30+ by MOB 6 (A-card bad), loans with 6 months on book observed: flagged vs the rest")

left, right = st.columns([2, 3])
with left:
    by_cat = cats.groupby("spend_category", as_index=False).agg(
        amount=("amount", "sum"), flows=("flows", "sum"), is_prohibited=("is_prohibited", "max"))
    by_cat["class"] = by_cat["is_prohibited"].map({True: "prohibited", False: "allowed"})
    by_cat.loc[by_cat["spend_category"] == "cash_transfer", "class"] = "cash / transfer"
    by_cat["share"] = by_cat["amount"] / by_cat["amount"].sum() if len(by_cat) else 0
    by_cat = by_cat.sort_values("amount", ascending=False)
    scale = alt.Scale(domain=["allowed", "cash / transfer", "prohibited"], range=["#5c8fd6", "#f2a93b", "#d32f2f"])
    chart = charts.bars(by_cat, "amount", "spend_category", "class", x_title="Amount within window",
                        y_title="Merchant category", color_scale=scale, color_title="Category",
                        tooltip=[alt.Tooltip("spend_category:N", title="Category"),
                                 alt.Tooltip("amount:Q", title="Amount", format=",.0f"),
                                 alt.Tooltip("share:Q", title="Share of traced", format=".2%"),
                                 alt.Tooltip("flows:Q", title="Flows", format=",")])
    ui.chart_block("Where the proceeds went", chart, by_cat[["spend_category", "class", "amount", "share", "flows"]])

with right:
    hm = cats.copy()
    hm["share"] = hm["amount"] / hm.groupby("declared_purpose")["amount"].transform("sum")
    hm["match"] = hm["matches_purpose"].map({True: "consistent", False: "not consistent"})
    chart = charts.heatmap(
        hm, "spend_category", "declared_purpose", "share", x_title="Actual spend category", y_title="Declared purpose",
        x_sort="ascending", y_sort="ascending",
        scheme="blues", x_label_angle=-40, min_label=0.05,
        tooltip=[alt.Tooltip("declared_purpose:N", title="Declared"), alt.Tooltip("spend_category:N", title="Spent on"),
                 alt.Tooltip("share:Q", title="Share of the purpose's spend", format=".1%"),
                 alt.Tooltip("amount:Q", title="Amount", format=",.0f"), alt.Tooltip("match:N", title="Purpose match")])
    ui.chart_block("Declared purpose vs actual spend", chart,
                   hm[["declared_purpose", "spend_category", "match", "amount", "share"]].sort_values(
                       ["declared_purpose", "amount"], ascending=[True, False]),
                   caption="Each row sums to 100%: how money drawn for a purpose was actually spent.")

# ---- trends by cohort
TREND_BY = {"Total": None, "Declared purpose": "declared_purpose", "Product": "product", "Channel": "channel"}
c1, c2 = st.columns(2)
trend_by = c1.selectbox("Trend lines per", list(TREND_BY), key="fu_trend_by")
trend_metric = c2.selectbox("Trend metric", ["Prohibited share of traced spend", "Flagged loans (share)",
                                             "Purpose mismatch (share of loans)"], key="fu_trend_metric")
col = TREND_BY[trend_by]
g = trends.assign(series=trends[col] if col else "All").groupby(["cohort_month", "series"], as_index=False)[
    ["loans", "traced", "prohibited", "flagged", "mismatch"]].sum()
g["value"] = {"Prohibited share of traced spend": g["prohibited"] / g["traced"].where(g["traced"] > 0),
              "Flagged loans (share)": g["flagged"] / g["loans"],
              "Purpose mismatch (share of loans)": g["mismatch"] / g["loans"]}[trend_metric].astype(float)
g = g.dropna(subset=["value"])
chart = charts.lines(
    g, "cohort_month", "value", "series", x_title="Cohort (disbursement month)", y_title=trend_metric, x_type="T",
    color_title=trend_by,
    tooltip=[alt.Tooltip("cohort_month:T", title="Cohort", format="%Y-%m"), alt.Tooltip("series:N", title=trend_by),
             alt.Tooltip("value:Q", title=trend_metric, format=".2%"), alt.Tooltip("loans:Q", title="Loans", format=",")])
ui.chart_block(f"Trend by cohort: {trend_metric}", chart, g[["cohort_month", "series", "loans", "value"]])

# ---- flagged loans with drill-down
st.subheader("Flagged loans")
include_mismatch = st.toggle("Also list loans whose only issue is a purpose mismatch", value=False, key="fu_mismatch")
flag_cond = "flag_reasons IS NOT NULL" if include_mismatch else "is_flagged"
flagged = data.query(f"""
    SELECT loan_id, strftime(cohort_month, '%Y-%m') AS cohort, product, channel, declared_purpose,
           principal, traced_share, prohibited_share, cash_transfer_share, purpose_match_share, top_category,
           flag_reasons, status, ever_dpd30
    FROM fund_usage_loans
    WHERE {where} AND {flag_cond}
    ORDER BY prohibited_share DESC, principal DESC, loan_id
    LIMIT 2000""", params)
st.caption(f"{len(flagged):,} loans (at most 2,000 shown, most prohibited spend first). "
           "Pick one below to see its fund flows and repayment history.")
pct_cols = ["traced_share", "prohibited_share", "cash_transfer_share", "purpose_match_share"]
st.dataframe(flagged, hide_index=True, width="stretch", height=320,
             column_config={**{c: st.column_config.NumberColumn(c.replace("_", " "), format="percent") for c in pct_cols},
                            "principal": st.column_config.NumberColumn("principal", format="%.0f"),
                            "flag_reasons": st.column_config.TextColumn("flag reasons", width="large")})
ui.download(flagged, "flagged loans")

if not flagged.empty:
    loan = st.selectbox("Drill down into loan", flagged["loan_id"].tolist(), key="fu_loan")
    one = flagged[flagged["loan_id"] == loan].iloc[0]
    # Data is rendered as text, never as markdown: a loan id or flag text cannot become a link or an image.
    st.text(f"{loan} · {one['product']} · {one['channel']} · declared {one['declared_purpose']} · "
            f"principal {one['principal']:,.0f} · status {one['status']} · {one['flag_reasons']}")
    flows = data.query("""
        SELECT flow_at, days_after_drawdown, flow_amount, mcc, mcc_description, spend_category,
               is_prohibited, matches_purpose, in_window
        FROM fund_usage_flows WHERE loan_id = $loan ORDER BY flow_at""", {"loan": loan})
    perf = data.query("""
        SELECT month_end, mob, dpd, bucket, outstanding_principal, overdue_amount
        FROM loan_month_end WHERE loan_id = $loan ORDER BY month_end""", {"loan": loan})
    a, b = st.columns(2)
    with a:
        chart = alt.Chart(flows).mark_bar(width=8).encode(
            x=alt.X("days_after_drawdown:Q", title="Days after drawdown", axis=alt.Axis(format=".1f")),
            y=alt.Y("flow_amount:Q", title="Amount"),
            color=alt.Color("spend_category:N", title="Category"),
            tooltip=["flow_at:T", alt.Tooltip("flow_amount:Q", format=",.2f"), "mcc:N", "mcc_description:N",
                     "spend_category:N", "is_prohibited:N", "matches_purpose:N", "in_window:N"],
        ).properties(height=260)
        ui.chart_block("Fund flows of the selected loan", chart, flows)
    with b:
        chart = alt.Chart(perf).mark_line(point=True).encode(
            x=alt.X("month_end:T", title="Month-end", axis=alt.Axis(format="%Y-%m", tickCount="month")),
            y=alt.Y("dpd:Q", title="DPD at month-end", axis=alt.Axis(format="d"), scale=alt.Scale(domainMin=0)),
            tooltip=["month_end:T", "mob:Q", "dpd:Q", "bucket:N", alt.Tooltip("outstanding_principal:Q", format=",.2f"),
                     alt.Tooltip("overdue_amount:Q", format=",.2f")],
        ).properties(height=260)
        ui.chart_block("Repayment history of the selected loan", chart, perf)
