"""Dashboards: every page through streamlit.testing.v1.AppTest with filters changed (chart data checked
against the marts), safety (parameterised filters, no PII, works while the .duckdb file is write-locked),
and one real headless-Chromium run against a live `streamlit run` with screenshots.

The lake is a small simulated world (1,500 customers) built through the real pipeline once per session.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import date

import duckdb
import pandas as pd
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from lake.layout import REPO_ROOT, LakeLayout
from lake.contracts import load_contracts
from tests.lakehelpers import ingest_all, run_dbt, shared_lake

simulator = pytest.importorskip("simulator", reason="the simulator package is not available")

APP = REPO_ROOT / "dashboards" / "app.py"
PAGES = {"Vintage": "views/vintage.py", "Delinquency": "views/delinquency.py", "Fund usage": "views/fund_usage.py"}
URLS = {"Vintage": "vintage", "Delinquency": "delinquency", "Fund usage": "fund_usage"}  # each page has its own URL
# no emoji anywhere on a page (CI's Chromium has no emoji font: they render as empty boxes)
EMOJI = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF]")
PII_COLUMNS = {"customer_id", "name_token", "national_id_token", "phone_token", "bank_card_token", "counterparty_id"}


def build(lake: LakeLayout) -> None:
    simulator.generate_world(lake.landing, lake.truth, customers=1500, months=18, seed=5, log=None)
    needed = {"drawdowns", "repayment_schedule", "repayments", "fund_flows"}
    for table, contract in load_contracts().items():
        if table not in needed:
            shutil.rmtree(contract.landing_dir(lake.landing), ignore_errors=True)
    ingest_all(lake)
    run_dbt(lake, "build", "--select", "staging", "marts", "--exclude", "resource_type:test")


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> LakeLayout:
    return shared_lake(tmp_path_factory, "dashboards_lake", build)


def mart(lake: LakeLayout, sql: str) -> pd.DataFrame:
    """Independent read of the mart files (not through the app's code)."""
    con = duckdb.connect()
    for p in lake.marts.glob("*.parquet"):
        con.execute(f"CREATE VIEW {p.stem} AS SELECT * FROM read_parquet('{p}')")
    return con.execute(sql).df()


@pytest.fixture
def app(lake, monkeypatch) -> AppTest:
    monkeypatch.setenv("LAKE_ROOT", str(lake.root))
    return AppTest.from_file(str(APP), default_timeout=60)


def run_page(at: AppTest, name: str) -> AppTest:
    at.switch_page(PAGES[name])
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == name
    return at


def charts(at: AppTest) -> list[tuple[dict, pd.DataFrame]]:
    """(Vega-Lite spec, data) of every chart on the page."""
    out = []
    for el in at.get("vega_lite_chart"):
        spec = json.loads(el.proto.spec)
        frames = [pa.ipc.open_stream(d.data.data).read_all().to_pandas() for d in el.proto.datasets]
        out.append((spec, frames[0] if frames else pd.DataFrame()))
    return out


def chart_with(at: AppTest, *columns: str) -> pd.DataFrame:
    for _, df in charts(at):
        if set(columns) <= set(df.columns):
            return df
    raise AssertionError(f"no chart with columns {columns}: {[list(d.columns) for _, d in charts(at)]}")


def frame_with(at: AppTest, *columns: str) -> pd.DataFrame:
    for d in at.dataframe:
        if set(columns) <= set(d.value.columns):
            return d.value
    raise AssertionError(f"no dataframe with columns {columns}")



# ----------------------------------------------------------------------------------------------- AppTest


def test_vintage_page_default_and_filtered(app, lake):
    at = run_page(app, "Vintage")
    df = chart_with(at, "series", "mob", "rate")
    expected = mart(lake, """
        SELECT strftime(cohort_month, '%Y-%m') AS series, mob, sum(ever30_loans) / sum(loans) AS rate
        FROM vintage_curves WHERE mob <= 24 GROUP BY ALL""")
    got = df.merge(expected, on=["series", "mob"], suffixes=("", "_mart"))
    assert len(got) == len(expected) == len(df) > 50
    assert (got["rate"] - got["rate_mart"]).abs().max() < 1e-12
    assert df.groupby("series")["rate"].apply(lambda s: s.is_monotonic_increasing).all()  # "ever" curves never fall

    # one product, ever 90+ on amount, one line per declared purpose, MOB <= 12
    at.sidebar.multiselect(key="f_product").set_value(["installment"])
    at.selectbox(key="v_metric").set_value("Ever 90+ (amount)")
    at.selectbox(key="v_split").set_value("Declared purpose")
    at.slider(key="v_max_mob").set_value(12)
    at.run()
    assert not at.exception
    df = chart_with(at, "series", "mob", "rate")
    expected = mart(lake, """
        SELECT declared_purpose AS series, mob, sum(ever90_principal) / sum(principal) AS rate
        FROM vintage_curves WHERE product = 'installment' AND mob <= 12 GROUP BY ALL""")
    got = df.merge(expected, on=["series", "mob"], suffixes=("", "_mart"))
    assert len(got) == len(expected) == len(df) and df["mob"].max() == 12
    assert (got["rate"] - got["rate_mart"]).abs().max() < 1e-12
    assert "Ever 90+ (amount)" in at.subheader[0].value
    assert any(d.proto.label == "Download triangle (CSV)" for d in at.get("download_button"))


def test_delinquency_page_default_and_filtered(app, lake):
    at = run_page(app, "Delinquency")
    assert len(charts(at)) == 5  # bucket areas, roll-rate heatmap, flow rates, FPD, cure rates
    # roll-rate rows sum to 1 and match the mart
    heat = chart_with(at, "from_bucket", "to_bucket", "rate")
    assert heat.groupby("from_bucket")["rate"].sum().sub(1).abs().max() < 1e-9
    exp = mart(lake, "SELECT sum(loans) FILTER (WHERE to_bucket = 'M2') / sum(loans) AS r FROM roll_rates "
                     "WHERE from_bucket = 'M1'")["r"].iloc[0]
    assert heat.query("from_bucket == 'M1' and to_bucket == 'M2'")["rate"].iloc[0] == pytest.approx(exp)
    # FPD trend by cohort
    fpd = chart_with(at, "cohort_month", "measure", "rate")
    assert set(fpd["measure"]) == {"FPD7", "FPD30"}

    # balance basis, last 6 months, one cohort, including current loans, one roll month
    months = at.sidebar.select_slider(key="f_months").options
    at.sidebar.select_slider(key="f_months").set_range(months[-6], months[-1])
    cohort = months[-9]
    at.sidebar.multiselect(key="f_cohort").set_value([cohort])
    at.radio(key="d_basis").set_value("Balance")
    at.toggle(key="d_with_current").set_value(True)
    at.run()
    assert not at.exception
    at.selectbox(key="d_roll_month").set_value(at.selectbox(key="d_roll_month").options[1])
    at.run()
    assert not at.exception
    dist = chart_with(at, "month_end", "bucket", "balance", "share")
    assert pd.to_datetime(dist["month_end"]).min() >= pd.Timestamp(months[-6] + "-01")
    last = pd.to_datetime(dist["month_end"]).max()
    exp = mart(lake, f"""SELECT bucket, sum(balance) AS balance FROM delinquency_buckets
                         WHERE month_end = DATE '{last:%Y-%m-%d}' AND cohort_month = DATE '{cohort}-01' GROUP BY bucket""")
    got = dist[pd.to_datetime(dist["month_end"]) == last].set_index("bucket")["balance"]
    assert got.to_dict() == pytest.approx(exp.set_index("bucket")["balance"].to_dict())
    assert "C" in set(dist["bucket"])


def test_fund_usage_page_default_filtered_and_drill_down(app, lake):
    at = run_page(app, "Fund usage")
    assert len(charts(at)) >= 3
    cats = chart_with(at, "spend_category", "amount", "class")
    exp = mart(lake, "SELECT spend_category, sum(flow_amount) AS amount FROM fund_usage_flows WHERE in_window GROUP BY 1")
    assert cats.set_index("spend_category")["amount"].to_dict() == pytest.approx(exp.set_index("spend_category")["amount"].to_dict())
    assert set(cats.loc[cats["class"] == "prohibited", "spend_category"]) <= {
        "securities_investment", "gambling", "real_estate", "crypto_quasi_cash"}
    flagged = frame_with(at, "loan_id", "flag_reasons")
    n_flagged = mart(lake, "SELECT count(*) AS n FROM fund_usage_loans WHERE is_flagged")["n"].iloc[0]
    assert len(flagged) == min(n_flagged, 2000) > 0
    assert flagged["flag_reasons"].str.contains("prohibited|cash-out").all()

    # one declared purpose, mismatches included, drill into the second loan
    purpose = "rent"
    at.sidebar.multiselect(key="f_purpose").set_value([purpose])
    at.toggle(key="fu_mismatch").set_value(True)
    at.selectbox(key="fu_trend_by").set_value("Product")
    at.run()
    assert not at.exception
    flagged = frame_with(at, "loan_id", "flag_reasons")
    assert len(flagged) > 0 and set(flagged["declared_purpose"]) == {purpose}
    loan = flagged["loan_id"].iloc[min(1, len(flagged) - 1)]
    at.selectbox(key="fu_loan").set_value(loan)
    at.run()
    assert not at.exception
    flows = frame_with(at, "flow_amount", "spend_category")
    n_flows = mart(lake, f"SELECT count(*) AS n FROM fund_usage_flows WHERE loan_id = '{loan}'")["n"].iloc[0]
    assert len(flows) == n_flows
    history = frame_with(at, "month_end", "dpd", "bucket")
    assert len(history) >= 1
    trend = chart_with(at, "cohort_month", "series", "value")
    assert set(trend["series"]) <= {"installment", "revolving"}


def test_no_pii_on_any_page(app):
    for name in PAGES:
        at = run_page(app, name)
        for df in at.dataframe:
            assert not PII_COLUMNS & set(df.value.columns), (name, df.value.columns)
        for _, df in charts(at):
            assert not PII_COLUMNS & set(df.columns), name
        text = " ".join(m.value for m in [*at.markdown, *at.caption])
        assert "customer_id" not in text and "_token" not in text


def test_no_emoji_on_any_page(app):
    for name in PAGES:
        at = run_page(app, name)
        texts = [e.value for kind in ("markdown", "caption", "title", "subheader", "info", "warning", "success")
                 for e in getattr(at, kind)] + [str(m.value) for m in at.metric]
        texts += [d.value.to_csv() for d in at.dataframe]
        assert not any(EMOJI.search(t) for t in texts), name


def test_default_url_forwards_to_vintage(app):
    at = app.run()  # "/" runs the hidden entry page, which switches to Vintage
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Vintage"


def test_filters_are_bound_parameters_not_sql(lake, monkeypatch):
    from dashboards import data, filters

    monkeypatch.setenv("LAKE_ROOT", str(lake.root))
    evil = "x') OR 1=1; DROP VIEW vintage_curves; --"
    f = filters.Filters(start=date(2000, 1, 1), end=date(2100, 12, 31), products=[evil], channels=[evil],
                        purposes=["rent", evil], cohorts=[])
    where, params = f.where(cohort_in_range=True)
    assert evil not in where
    lake_ = data.get_lake()
    assert lake_.query(f"SELECT count(*) AS n FROM vintage_curves WHERE {where}", params)["n"].iloc[0] == 0
    assert lake_.query("SELECT count(*) AS n FROM vintage_curves")["n"].iloc[0] > 0  # still there


def test_app_works_while_the_lakehouse_file_is_write_locked(app, lake):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('locked', flush=True); "
                               "time.sleep(120)", str(lake.database)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(duckdb.IOException):  # a reader of the .duckdb file would be blocked now
            duckdb.connect(str(lake.database), read_only=True)
        for name in PAGES:
            at = run_page(app, name)
            assert charts(at)
    finally:
        holder.kill()
        holder.wait()


def test_missing_marts_show_a_hint_not_an_exception(tmp_path, monkeypatch):
    monkeypatch.setenv("LAKE_ROOT", str(tmp_path / "empty_lake"))
    at = AppTest.from_file(str(APP), default_timeout=30).run()
    assert not at.exception
    assert "not built yet" in at.warning[0].value


# ----------------------------------------------------------------------------------------------- browser


def test_every_page_in_headless_chromium(lake, tmp_path, dashboard_in_browser):
    shots = tmp_path / "screenshots"
    shots.mkdir()
    timings = {}
    with dashboard_in_browser(lake.root) as (page, base):
        page.goto(f"{base}/")  # the root forwards to the default page's own URL
        page.get_by_role("heading", name="Vintage", exact=True).first.wait_for(state="visible", timeout=30_000)
        page.wait_for_url(f"{base}/vintage", timeout=30_000)
        for name, url in URLS.items():
            page.set_viewport_size({"width": 1500, "height": 1000})
            started = time.perf_counter()
            page.goto(f"{base}/{url}")
            page.get_by_role("heading", name=name, exact=True).first.wait_for(state="visible", timeout=30_000)
            page.locator('[data-testid="stVegaLiteChart"]').first.wait_for(state="visible", timeout=30_000)
            page.locator('[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg').first.wait_for(
                state="visible", timeout=30_000)
            page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
                                   timeout=30_000)
            timings[name] = time.perf_counter() - started
            assert page.locator('[data-testid="stException"]').count() == 0, f"exception on {name}"
            if name in ("Vintage", "Fund usage"):
                page.locator('[data-testid="stDataFrame"] >> visible=true').first.wait_for(timeout=30_000)
            # the app scrolls inside its main container: grow the viewport to take the whole page
            height = page.evaluate("() => { const m = document.querySelector('[data-testid=\"stMain\"]');"
                                   " return m ? m.scrollHeight : 1000; }")
            page.set_viewport_size({"width": 1500, "height": int(min(max(height, 1000), 6000))})
            page.wait_for_timeout(700)  # let Vega redraw at the new size
            assert page.locator('[data-testid="stException"]').count() == 0, f"exception on {name}"
            page.screenshot(path=str(shots / f"{url}.png"), full_page=True)
            assert not EMOJI.search(page.inner_text("body")), f"emoji on {name}"
            assert page.locator('[data-testid="stVegaLiteChart"]').count() >= (1 if name == "Vintage" else 3)
        # Models / Features / Data quality on a lake without models or GE results: they must load
        # without an exception and explain what is missing.
        for name, url in {"Models": "models", "Features": "features", "Data quality": "data_quality"}.items():
            page.set_viewport_size({"width": 1500, "height": 1400})
            page.goto(f"{base}/{url}")
            page.get_by_role("heading", name=name, exact=True).first.wait_for(state="visible", timeout=30_000)
            page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
                                   timeout=30_000)
            page.wait_for_timeout(500)
            assert page.locator('[data-testid="stException"]').count() == 0, f"exception on {name}"
            page.screenshot(path=str(shots / f"{url}.png"), full_page=True)
    print(f"\nscreenshots: {shots}")
    print("browser load times (new session per page, s): " + ", ".join(f"{k} {v:.2f}" for k, v in timings.items()))
    assert sorted(p.name for p in shots.iterdir()) == ["data_quality.png", "delinquency.png", "features.png",
                                                       "fund_usage.png", "models.png", "vintage.png"]
    if os.environ.get("SAVE_SCREENSHOTS"):
        dest = REPO_ROOT / "data" / "screenshots"
        dest.mkdir(parents=True, exist_ok=True)
        for p in shots.iterdir():
            shutil.copy2(p, dest / p.name)
        print(f"copied to {dest}")
