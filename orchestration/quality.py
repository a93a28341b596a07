"""Great Expectations suites declared as data, validated on DataFrames (GX's SQL datasource over DuckDB
returns wrong results, DESIGN §7). GX is imported lazily: the import alone takes seconds."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import pandas as pd
import yaml

from lake.contracts import Contract

EXPECTATIONS_DIR = Path(__file__).resolve().parent / "expectations"


@dataclass
class SuiteOutcome:
    name: str
    success: bool
    evaluated: int
    failed: list[dict]  # expectation type, column, unexpected count, sample of offending values
    report_path: Path | None = None

    def summary(self) -> str:
        if self.success:
            return f"{self.name}: all {self.evaluated} expectations passed"
        parts = [f"{f['expectation']}({f.get('column') or ''}): {f.get('unexpected_count')} rows, e.g. {f.get('sample')}"
                 for f in self.failed]
        return f"{self.name}: {len(self.failed)}/{self.evaluated} expectations failed: " + "; ".join(parts)


def load_suite_file(name: str) -> dict:
    return yaml.safe_load((EXPECTATIONS_DIR / f"{name}.yaml").read_text())


def contract_expectations(contract: Contract) -> list[dict]:
    """The contract's row rules restated as expectations on bronze (names as in bronze)."""
    exps: list[dict] = []
    for c in contract.columns:
        col = c.bronze_name
        if c.required:
            exps.append({"type": "expect_column_values_to_not_be_null", "column": col})
        if c.allowed is not None:
            exps.append({"type": "expect_column_values_to_be_in_set", "column": col, "value_set": list(c.allowed)})
        if (c.min is not None or c.max is not None) and c.type in ("integer", "bigint", "double"):
            exps.append({"type": "expect_column_values_to_be_between", "column": col,
                         "min_value": c.min, "max_value": c.max})
        if c.pii:
            exps.append({"type": "expect_column_values_to_match_regex", "column": col, "regex": r"^tk_[0-9a-f]{32}$"})
    keys = list(contract.primary_key)
    if len(keys) == 1:
        exps.append({"type": "expect_column_values_to_be_unique", "column": keys[0]})
    else:
        exps.append({"type": "expect_compound_columns_to_be_unique", "column_list": keys})
    return exps


def _class_name(expectation_type: str) -> str:
    return "".join(part.capitalize() for part in expectation_type.split("_"))


@lru_cache(maxsize=1)
def _gx():
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    batch_definition = (context.data_sources.add_pandas("frames").add_dataframe_asset("frame")
                        .add_batch_definition_whole_dataframe("whole"))
    return gx, batch_definition


def validate(name: str, frame: pd.DataFrame, expectations: list[dict], report_dir: Path | None = None) -> SuiteOutcome:
    gx, batch_definition = _gx()
    suite = gx.ExpectationSuite(name=re.sub(r"[^A-Za-z0-9_]", "_", name))
    for spec in expectations:
        kwargs = {k: v for k, v in spec.items() if k != "type"}
        try:
            cls = getattr(gx.expectations, _class_name(spec["type"]))
        except AttributeError as exc:
            raise ValueError(f"suite {name}: unknown expectation type {spec['type']!r}") from exc
        suite.add_expectation(cls(**kwargs))
    result = batch_definition.get_batch(batch_parameters={"dataframe": frame}).validate(suite)
    failed = []
    for r in result.results:
        if r.success:
            continue
        kw = r.expectation_config.kwargs
        failed.append({
            "expectation": r.expectation_config.type,
            "column": kw.get("column") or kw.get("column_list"),
            "unexpected_count": r.result.get("unexpected_count"),
            "observed_value": r.result.get("observed_value"),
            "sample": [str(v) for v in (r.result.get("partial_unexpected_list") or [])[:5]],
            "error": (r.exception_info or {}).get("exception_message") if isinstance(r.exception_info, dict) else None,
        })
    outcome = SuiteOutcome(name, bool(result.success), len(result.results), failed)
    if report_dir is not None:
        report_dir.mkdir(parents=True, exist_ok=True)
        path = report_dir / f"{datetime.now().strftime('%Y%m%dT%H%M%S%f')}.json"
        path.write_text(json.dumps(result.to_json_dict(), indent=1, default=str))
        outcome.report_path = path
    return outcome
