"""The filter sidebar shared by every page, and the parameterised SQL it turns into.

Filters (one set for the whole app, kept in st.session_state so they survive page switches):
  * Date range (months): the reporting window. Month-end based views (bucket distribution, roll,
    flow and cure rates) show month-ends inside it; cohort based views (vintage, FPD, fund usage)
    show the cohorts disbursed inside it.
  * Product, channel, declared purpose: segments (empty = all).
  * Cohort: specific disbursement months to focus on (empty = every cohort in the date range);
    applies to every page (the delinquency views then follow only those cohorts' loans).

`Filters.where()` returns a SQL condition over fixed column names plus a dict of bound parameters;
no user value is ever formatted into SQL text.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd
import streamlit as st

from dashboards import data

LABELS = {
    "product": "Product",
    "channel": "Channel",
    "declared_purpose": "Declared purpose",
}


@dataclass(frozen=True)
class Options:
    months: list[date]  # month starts, oldest first, from the first cohort to the last month-end
    products: list[str]
    channels: list[str]
    purposes: list[str]
    cohorts: list[date]
    as_of: date | None


@dataclass(frozen=True)
class Filters:
    start: date  # first day of the first month
    end: date    # last day of the last month
    products: list[str]
    channels: list[str]
    purposes: list[str]
    cohorts: list[date] = field(default_factory=list)  # empty = all cohorts

    def where(self, *, month_col: str | None = None, cohort_col: str | None = "cohort_month",
              cohort_in_range: bool = False) -> tuple[str, dict[str, Any]]:
        """SQL condition + parameters for a mart with product / channel / declared_purpose columns.

        month_col: a month-end column to keep inside the date range.
        cohort_col: the cohort column the cohort selection applies to.
        cohort_in_range: also keep cohorts inside the date range (cohort based views).
        """
        conds = ["list_contains($products, product)", "list_contains($channels, channel)",
                 "list_contains($purposes, declared_purpose)"]
        params: dict[str, Any] = {"products": self.products, "channels": self.channels, "purposes": self.purposes}
        if month_col:
            conds.append(f"{month_col} BETWEEN $start AND $end")
        if cohort_col and cohort_in_range:
            conds.append(f"{cohort_col} BETWEEN $start AND $end")
        if month_col or (cohort_col and cohort_in_range):
            params.update(start=self.start, end=self.end)
        if cohort_col and self.cohorts:
            conds.append(f"list_contains($cohorts, {cohort_col})")
            params["cohorts"] = self.cohorts
        return " AND ".join(conds), params

    def describe(self) -> str:
        parts = [f"{self.start:%Y-%m} to {self.end:%Y-%m}"]
        for name, values in (("product", self.products), ("channel", self.channels), ("purpose", self.purposes)):
            parts.append(f"{name}: {', '.join(values)}")
        if self.cohorts:
            parts.append("cohorts: " + ", ".join(f"{c:%Y-%m}" for c in self.cohorts))
        return " · ".join(parts)


def load_options() -> Options:
    lake = data.get_lake()
    if not lake.has("marts_as_of", "fpd_rates"):
        raise data.MartMissing("marts_as_of, fpd_rates")
    asof = data.query("SELECT as_of_date, first_cohort_month, last_month_end FROM marts_as_of")
    segs = data.query("SELECT DISTINCT cohort_month, product, channel, declared_purpose FROM fpd_rates")
    first = asof["first_cohort_month"].iloc[0]
    last = asof["last_month_end"].iloc[0]
    months = [d.date() for d in pd.date_range(pd.Timestamp(first).replace(day=1), last, freq="MS")]
    return Options(
        months=months,
        products=sorted(segs["product"].dropna().unique().tolist()),
        channels=sorted(segs["channel"].dropna().unique().tolist()),
        purposes=sorted(segs["declared_purpose"].dropna().unique().tolist()),
        cohorts=sorted(d.date() if hasattr(d, "date") else d for d in segs["cohort_month"].dropna().unique()),
        as_of=asof["as_of_date"].iloc[0].date() if len(asof) else None,
    )


def _month_end(d: date) -> date:
    nxt = date(d.year + d.month // 12, d.month % 12 + 1, 1)
    return date.fromordinal(nxt.toordinal() - 1)


def sidebar(opts: Options) -> Filters:
    """Render the shared filters in the sidebar and return the current selection."""
    sb = st.sidebar
    sb.header("Filters")
    labels = [f"{m:%Y-%m}" for m in opts.months]
    if len(labels) >= 2:
        lo, hi = sb.select_slider("Date range (months)", options=labels, value=(labels[0], labels[-1]), key="f_months",
                                  help="Month-ends shown by the delinquency views; disbursement months of the "
                                       "cohorts shown by the vintage, FPD and fund-usage views.")
    else:
        lo = hi = labels[0]
    start = opts.months[labels.index(lo)]
    end = _month_end(opts.months[labels.index(hi)])

    def pick(label: str, options: list[str], key: str) -> list[str]:
        chosen = sb.multiselect(label, options, default=[], key=key, placeholder="All")
        return chosen or list(options)

    products = pick("Product", opts.products, "f_product")
    channels = pick("Channel", opts.channels, "f_channel")
    purposes = pick("Declared purpose", opts.purposes, "f_purpose")
    cohort_labels = [f"{c:%Y-%m}" for c in opts.cohorts]
    chosen = sb.multiselect("Cohort (disbursement month)", cohort_labels, default=[], key="f_cohort", placeholder="All",
                            help="Follow only these cohorts' loans on every page.")
    cohorts = [opts.cohorts[cohort_labels.index(c)] for c in chosen]
    if opts.as_of:
        sb.caption(f"Data as of {opts.as_of:%Y-%m-%d} · lake: `{data.lake_root()}`")
    return Filters(start=start, end=end, products=products, channels=channels, purposes=purposes, cohorts=cohorts)


def current() -> Filters:
    """The filters the app's sidebar set for this run (pages call this)."""
    f = st.session_state.get("_filters")
    if f is None:
        raise RuntimeError("run the pages through dashboards/app.py (it renders the shared filters)")
    return f
