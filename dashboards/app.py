"""Risk analytics dashboards: `streamlit run dashboards/app.py`.

One multipage app. The pages are listed in PAGES below (the only place to register one); each page is a
script in dashboards/views/ that reads the shared filters with `filters.current()` and queries the marts
through `dashboards.data` (Parquet files via in-memory DuckDB; lake root from env LAKE_ROOT, default
<repo>/data). Later pages (Models, Features, Data quality) are one more script and one more line here.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run dashboards/app.py` puts only dashboards/ on the path
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from dashboards import data, filters, ui  # noqa: E402
from dashboards.page_modules.features import render as features_page  # noqa: E402
from dashboards.page_modules.data_quality import render as data_quality_page  # noqa: E402
from dashboards.page_modules.models import render as models_page  # noqa: E402
from dashboards.page_modules.strategy import render as strategy_page  # noqa: E402

VIEWS = Path(__file__).resolve().parent / "views"

PAGES = {
    "Portfolio": [
        st.Page(VIEWS / "vintage.py", title="Vintage", icon=":material/show_chart:", url_path="vintage", default=True),
        st.Page(VIEWS / "delinquency.py", title="Delinquency", icon=":material/warning:", url_path="delinquency"),
        st.Page(VIEWS / "fund_usage.py", title="Fund usage", icon=":material/payments:", url_path="fund_usage"),
    ],
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
    ui.missing_marts(exc)
started = time.perf_counter()
page.run()
# server-side time of the page (queries + chart specs); the browser then draws the charts
st.sidebar.caption(f"Page computed in {1000 * (time.perf_counter() - started):.0f} ms")
