"""The Strategy page: AppTest on a hand-made backtest history (figures checked against models.backtest), and the
whole app in headless Chromium with the page rendering its tables."""
from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from lake.layout import LakeLayout
from models.backtest import compare
from models.strategy import DEFAULT_STRATEGY_FILE, load_strategy
from tests.test_strategy_backtest import hand_history

CANDIDATE = DEFAULT_STRATEGY_FILE.parent / "candidates" / "stricter_multi_lending.yaml"


def write_history(lake: LakeLayout) -> None:
    hist, grades = hand_history()
    lake.backtest.mkdir(parents=True, exist_ok=True)
    hist.to_parquet(lake.backtest_history, index=False)
    lake.backtest_history_grades.write_text(json.dumps(grades))


def strategy_page_script():
    from dashboards.page_modules.strategy import render

    render()


def test_strategy_page_shows_the_backtest_of_the_chosen_candidate(tmp_path, monkeypatch):
    lake = LakeLayout(tmp_path / "lake")
    write_history(lake)
    monkeypatch.setenv("LAKE_ROOT", str(lake.root))
    at = AppTest.from_function(strategy_page_script, default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Strategy"
    at.selectbox(key="strategy_candidate").select(CANDIDATE).run()
    assert not at.exception
    hist, grades = hand_history()
    want = compare(hist, load_strategy(), load_strategy(CANDIDATE), grades).tables
    frames = {tuple(df.value.columns[:2]): df.value for df in at.dataframe}
    swap = frames[("cell", "rows")]
    assert swap.set_index("cell")["rows"].to_dict() == want["swap_set"].set_index("cell")["rows"].to_dict()
    assert int(swap["rows"].sum()) == len(hist)
    summary = frames[("strategy", "rows")]
    assert summary["approval_rate"].round(6).tolist() == want["summary"]["approval_rate"].round(6).tolist()
    assert any("stricter_multi_lending" in t.value for t in at.text)
    assert len(at.metric) == 4 and not list(lake.root.rglob("*.tmp"))
    files = sorted(p.name for p in lake.root.rglob("*") if p.is_file())
    assert files == ["history.parquet", "history_grades.json"]      # read-only: nothing written


def test_strategy_page_without_history_explains_what_to_run(tmp_path, monkeypatch):
    monkeypatch.setenv("LAKE_ROOT", str(tmp_path / "empty"))
    at = AppTest.from_function(strategy_page_script, default_timeout=60)
    at.run()
    assert not at.exception
    assert any("python -m models.backtest" in i.value for i in at.info)


@pytest.fixture(scope="module")
def app_lake(tmp_path_factory) -> LakeLayout:
    from tests.lakehelpers import shared_lake
    from tests.test_dashboards import build

    lake = shared_lake(tmp_path_factory, "dashboards_lake", build)  # the dashboards' marts, built once
    write_history(lake)
    return lake


def test_strategy_page_in_headless_chromium(app_lake, tmp_path, dashboard_in_browser):
    with dashboard_in_browser(app_lake.root, viewport=(1500, 3000)) as (page, base):
        page.goto(f"{base}/strategy")
        page.get_by_role("heading", name="Strategy", exact=True).first.wait_for(state="visible", timeout=30_000)
        page.get_by_role("heading", name="Swap set").first.wait_for(state="visible", timeout=30_000)
        page.locator('[data-testid="stVegaLiteChart"]').first.wait_for(state="visible", timeout=30_000)
        page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=30_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        assert page.locator('[data-testid="stDataFrame"]').count() >= 5
        assert page.get_by_text("Cells add up to 8 of 8 applications").count() == 1
        page.screenshot(path=str(tmp_path / "strategy.png"), full_page=True)
