"""Strategy page: the champion strategy against a candidate YAML the analyst picks, replayed over matured history.

Read-only: it reads, through `dashboards.data`, the backtest history (`LakeLayout.backtest_history`, written by
the Dagster asset strategy/backtest or `python -m models.backtest`) and replays both strategies in memory with
``models.backtest.compare``; it never writes a file. Candidates are the YAML files in
models/strategy/candidates/ (each may `extends:` the champion and change a few lines).
"""
from __future__ import annotations

from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import data
from models.backtest import compare
from models.strategy import DEFAULT_STRATEGY_FILE, RuleError, load_strategy

CANDIDATES_DIR = DEFAULT_STRATEGY_FILE.parent / "candidates"
RATE_COLUMNS = ["approval_rate", "review_rate", "reject_rate", "bad_rate_count", "bad_rate_amount", "share",
                "bad_rate_all", "hit_rate", "unknown_rate"]


def candidate_files() -> list[Path]:
    return sorted(CANDIDATES_DIR.glob("*.yaml"))


@st.cache_data(ttl=60, show_spinner="Replaying both strategies over history ...")
def backtest(history_path: str, grades_path: str, candidate: str, fingerprint: tuple) -> dict[str, pd.DataFrame]:
    """All backtest tables for champion vs candidate (cached on the files' modification times)."""
    history = data.sql("SELECT * FROM read_parquet($p)", {"p": history_path})
    grades = data.read_json(data.path(grades_path))
    comp = compare(history, load_strategy(), load_strategy(candidate), grades)
    return {**comp.tables, "_versions": pd.DataFrame([{"champion": comp.champion_version,
                                                         "candidate": comp.candidate_version,
                                                         "history_rows": len(history)}])}


def _table(frame: pd.DataFrame, columns: list[str]) -> None:
    cfg = {c: st.column_config.NumberColumn(format="%.3f") for c in columns if c in RATE_COLUMNS}
    cfg.update({c: st.column_config.NumberColumn(format="%.0f") for c in ("exposure", "expected_loss", "mean_limit")
                if c in columns})
    st.dataframe(frame[columns], hide_index=True, width="stretch", column_config=cfg)


def render() -> None:
    st.title("Strategy")
    st.caption("What-if before go-live: the champion strategy and a candidate replayed over every booked "
               "application whose outcome has matured (point-in-time features, champion scores). Read-only.")
    layout = data.layout()
    files = candidate_files()
    if not files:
        st.info(f"No candidate strategies in {CANDIDATES_DIR}: add a YAML there (`extends: ../decision_rules.yaml`).")
        return
    chosen = st.selectbox("Candidate strategy", files, format_func=lambda p: p.stem, key="strategy_candidate")
    if not layout.backtest_history.exists():
        st.info(f"No backtest history yet ({layout.backtest_history}): run `python -m models.backtest --candidate "
                f"{chosen.relative_to(data.REPO_ROOT)}` or materialize the strategy/backtest asset in Dagster.")
        return
    try:
        tables = backtest(str(layout.backtest_history), str(layout.backtest_history_grades), str(chosen),
                          data.fingerprint([layout.backtest_history, layout.backtest_history_grades, chosen,
                                            DEFAULT_STRATEGY_FILE]))
    except RuleError as err:
        st.error(f"The candidate strategy is not valid: {err}")
        return
    versions = tables["_versions"].iloc[0]
    st.text(f"Champion strategy version {versions['champion']} vs candidate {chosen.stem} version "
            f"{versions['candidate']}, over {versions['history_rows']:,} matured applications")
    st.text(load_strategy(chosen).config.get("description", ""))

    summary = tables["summary"].set_index("strategy")
    cols = st.columns(4)
    for col, (name, label) in zip(cols, [("approval_rate", "Approval rate"), ("bad_rate_count", "Bad rate (count)"),
                                         ("bad_rate_amount", "Bad rate (amount)"), ("expected_loss", "Expected loss")]):
        champ, cand = summary.loc["champion", name], summary.loc["candidate", name]
        fmt = "{:,.0f}" if name == "expected_loss" else "{:.1%}"
        col.metric(label, fmt.format(cand), delta=fmt.format(cand - champ), delta_color="inverse"
                   if name != "approval_rate" else "normal", help=f"candidate (champion: {fmt.format(champ)})")
    st.subheader("Per strategy")
    _table(tables["summary"], ["strategy", "rows", "approved", "approval_rate", "review_rate", "reject_rate",
                               "bad_rate_count", "bad_rate_amount", "exposure", "expected_loss", "strategy_version"])

    st.subheader("Swap set")
    st.caption("Approve = a final decision of approve; review and reject count as not approved. The four cells "
               "add up to the history; each shows its realised bad rate.")
    swap = tables["swap_set"]
    _table(swap, ["cell", "rows", "share", "bad_rate_count", "bad_rate_amount"])
    st.text(f"Cells add up to {int(swap['rows'].sum()):,} of {versions['history_rows']:,} applications")

    st.subheader("By A-card grade")
    by_grade = tables["by_grade"]
    _table(by_grade, ["strategy", "grade", "rows", "share", "approved", "approval_rate", "bad_rate_all",
                      "bad_rate_count", "exposure", "expected_loss"])
    chart = alt.Chart(by_grade).mark_bar().encode(
        x=alt.X("grade:N", title="A-card grade"), xOffset="strategy:N",
        y=alt.Y("exposure:Q", title="Exposure of approvals"), color="strategy:N",
        tooltip=["strategy", "grade", "approved", alt.Tooltip("exposure:Q", format=",.0f"),
                 alt.Tooltip("expected_loss:Q", format=",.0f")])
    st.altair_chart(chart, width="stretch")

    st.subheader("Rule hit rates")
    _table(tables["rule_hits"], ["strategy", "section", "rule", "hits", "hit_rate", "unknown", "unknown_rate",
                                 "decided", "dormant"])

    st.subheader("Champion vs challenger arms")
    st.caption("Each strategy's own champion/challenger split (hash of the customer id), with realised outcomes.")
    _table(tables["arms"], ["strategy", "arm", "rows", "approval_rate", "bad_rate_count", "mean_limit", "exposure"])
