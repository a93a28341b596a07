"""Risk analytics dashboards: `streamlit run dashboards/app.py` (or `make dashboards`).

One multipage app. PAGES below is the only place to register a page; every page reads the lake through
`dashboards.data` (paths from `lake.layout.LakeLayout`, LAKE_ROOT a local folder or s3://bucket/prefix) and
the shared filters through `filters.current()`. The packages are importable because `make install` installs
the project (editable): no page edits `sys.path`.

Every page has its own URL (/vintage, /delinquency, ...): Streamlit serves its default page at "/" only,
so the default here is a hidden entry page that forwards to Vintage, and opening /vintage directly works.
"""
from __future__ import annotations

import time
from pathlib import Path

import streamlit as st

from dashboards import data, filters, ui
from dashboards.page_modules.data_quality import render as data_quality_page
from dashboards.page_modules.features import render as features_page
from dashboards.page_modules.models import render as models_page
from dashboards.page_modules.strategy import render as strategy_page

VIEWS = Path(__file__).resolve().parent / "views"

VINTAGE = st.Page(VIEWS / "vintage.py", title="Vintage", icon=":material/show_chart:", url_path="vintage")
PORTFOLIO = [
    VINTAGE,
    st.Page(VIEWS / "delinquency.py", title="Delinquency", icon=":material/warning:", url_path="delinquency"),
    st.Page(VIEWS / "fund_usage.py", title="Fund usage", icon=":material/payments:", url_path="fund_usage"),
]


def _entry() -> None:
    st.switch_page(VINTAGE)


PAGES = {
    "": [st.Page(_entry, title="Risk analytics", url_path="home", default=True, visibility="hidden")],
    "Portfolio": PORTFOLIO,
    "Models and features": [
        st.Page(models_page, title="Models", icon=":material/model_training:", url_path="models"),
        st.Page(features_page, title="Features", icon=":material/dataset:", url_path="features"),
        st.Page(strategy_page, title="Strategy", icon=":material/rule:", url_path="strategy"),
    ],
    "Operations": [
        st.Page(data_quality_page, title="Data quality", icon=":material/fact_check:", url_path="data_quality"),
    ],
}

st.set_page_config(page_title="Risk analytics", page_icon=":material/analytics:", layout="wide")
page = st.navigation(PAGES)
try:
    st.session_state["_filters"] = filters.sidebar(filters.load_options())
except data.MartMissing as exc:
    st.session_state["_filters"] = None
    if page.url_path in {p.url_path for p in PORTFOLIO}:  # the other pages read models, features and ingest results, not the marts
        ui.missing_marts(exc)
started = time.perf_counter()
page.run()
# server-side time of the page (queries + chart specs); the browser then draws the charts
st.sidebar.caption(f"Page computed in {1000 * (time.perf_counter() - started):.0f} ms")
