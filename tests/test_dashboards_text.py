"""Pages render data as text: no markdown-rendering call (st.markdown, headers, captions, alerts) is given
an f-string built from data, so a loan id like `[x](javascript:...)` or `![](http://...)` stays text."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted((ROOT / "dashboards" / "views").glob("*.py")) + [ROOT / "dashboards" / "page_modules" / "data_quality.py"]
MARKDOWN_CALLS = {"markdown", "subheader", "header", "title", "write"}
# Names whose values are the page's own (widget options from fixed lists, counts, constants), not data values.
OWN_VALUES = {"len", "metric", "trend_metric", "basis", "FRESH_H", "STALE_H", "lake", "failed", "int", "float"}


def _interpolated_names(node: ast.JoinedStr) -> set[str]:
    return {n.id for v in node.values if isinstance(v, ast.FormattedValue) for n in ast.walk(v.value)
            if isinstance(n, ast.Name)}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_no_data_value_reaches_a_markdown_call(page):
    offending = []
    for node in ast.walk(ast.parse(page.read_text())):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in MARKDOWN_CALLS):
            continue
        for arg in node.args[:1]:
            if isinstance(arg, ast.JoinedStr) and _interpolated_names(arg) - OWN_VALUES:
                offending.append((node.lineno, sorted(_interpolated_names(arg) - OWN_VALUES)))
    assert not offending, f"{page.name}: markdown built from data at {offending}; use st.text / st.dataframe"


def test_the_fund_usage_drill_down_shows_the_loan_as_text():
    tree = ast.parse((ROOT / "dashboards" / "views" / "fund_usage.py").read_text())
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
             and n.func.attr == "text" and n.args and isinstance(n.args[0], ast.JoinedStr)]
    assert any("loan" in _interpolated_names(c.args[0]) for c in calls)
