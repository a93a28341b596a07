"""Page building blocks: a chart with its data table and a CSV download of exactly what it shows."""
from __future__ import annotations

import re

import pandas as pd
import streamlit as st

from dashboards import data


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def download(df: pd.DataFrame, name: str, label: str = "Download CSV") -> None:
    st.download_button(label, df.to_csv(index=False).encode("utf-8"), file_name=f"{slug(name)}.csv",
                       mime="text/csv", key=f"dl_{slug(name)}", icon=":material/download:")


def chart_block(title: str, chart, df: pd.DataFrame, *, caption: str | None = None, table: pd.DataFrame | None = None,
                empty_message: str = "No data for the current filters.") -> None:
    """Subheader, chart (or a note when empty), an expandable table and a CSV download of the data shown."""
    st.subheader(title)
    if caption:
        st.caption(caption)
    if df.empty:
        st.info(empty_message)
        return
    st.altair_chart(chart, width="stretch")
    shown = table if table is not None else df
    with st.expander("Data", expanded=False):
        st.dataframe(shown, hide_index=True, width="stretch")
    download(shown, title)


def missing_marts(exc: data.MartMissing) -> None:
    st.warning(f"The marts this page needs are not built yet ({exc}). Build them with `make demo` "
               f"(or `python -m orchestration.dbt_cli build --select staging marts`) and reload. Lake: `{data.lake_root()}`")
    st.stop()


def pct(x, digits: int = 2) -> str:
    """Percent text for a metric; 'n/a' for missing values."""
    return "n/a" if x is None or x != x else f"{x:.{digits}%}"
