"""Models and Data quality dashboard pages through streamlit.testing.v1.AppTest on a tiny hand-written lake
(registry, scores, labels, ingest log, quarantine, GE results, bronze), plus an empty lake per page.

The pages are run through a two-line script calling their render(): dashboards/app.py's shared sidebar needs
the portfolio marts, which these pages do not use.
"""
from __future__ import annotations

import json
import struct
import zlib
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = """
from dashboards.page_modules.{module} import render
render()
"""


def _png(path: Path) -> None:
    """A valid 2x2 grey PNG (no imaging library needed)."""
    raw = b"".join(b"\x00" + b"\x80\x80\x80" * 2 for _ in range(2))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _version(reg: Path, label: str, version: str, model_type: str, auc: float, n_features: int) -> None:
    d = reg / label / version
    d.mkdir(parents=True)
    (d / "metrics.json").write_text(json.dumps({
        "label": label, "model_type": model_type, "model_name": f"{label}_{model_type}", "auc_oot": auc,
        "gini_oot": 2 * auc - 1, "ks_oot": 0.4321, "oracle_auc": 0.8771, "psi_score_train_oot": 0.0123,
        "psi_score_status": "stable", "n_train": 4000, "n_oot": 2000, "n_features": n_features,
        "created_at": "2026-01-20T10:00:00+00:00",
        "split": {"oot_start": "2025-11-01T00:00:00", "oot_end": "2026-03-01T00:00:00"}}))
    (d / "features.json").write_text(json.dumps(["f1", "f2"]))
    for plot in ("roc", "ks", "deciles", "calibration"):
        _png(d / f"{plot}.png")
    pd.DataFrame({"decile": [1, 2], "n": [10, 10], "n_bad": [4, 1], "bad_rate": [0.4, 0.1], "min_score": [0.2, 0.0],
                  "max_score": [0.9, 0.2], "lift": [1.6, 0.4], "ks": [0.3, 0.2]}).to_csv(d / "deciles.csv", index=False)


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tiny_lake")
    # -- model registry: a LightGBM champion and a scorecard challenger
    reg = root / "models" / "registry"
    _version(reg, "a_card", "v0001", "lightgbm", 0.7512, 321)
    _version(reg, "a_card", "v0002", "scorecard", 0.7011, 12)
    (reg / "a_card" / "champion.json").write_text(json.dumps({
        "label": "a_card", "version": "v0001", "approval": {"by": "R. Officer", "at": "2026-01-21T09:00:00+00:00",
                                                             "why": "best in-time CV AUC"}}))
    (reg / "a_card" / "v0001" / "model_card.md").write_text("# Model card: a_card_lightgbm v0001\n\n## Purpose\n")
    # -- monitoring tables of the champion, as models.monitoring.backfill writes them
    mon = root / "models" / "monitoring" / "a_card" / "v0001"
    mon.mkdir(parents=True)
    months = pd.to_datetime(["2025-09-01", "2025-10-01", "2025-11-01"])
    pd.DataFrame({"grade": ["A", "E"], "rows": [300, 100], "bads": [3, 20], "realised_bad_rate": [0.01, 0.2],
                  "expected_bad_rate": [0.012, 0.18], "mean_score": [640.0, 540.0]}).to_parquet(mon / "grades.parquet")
    pd.DataFrame({"obs_month": months, "window": ["train", "train", "oot"], "rows": [150, 130, 120],
                  "matured": [150, 130, 120], "bad_rate": [0.05, 0.06, 0.07], "expected_bad_rate": [0.05, 0.055, 0.06],
                  "auc": [0.74, 0.75, 0.72], "ks": [0.4, 0.41, 0.38], "score_psi": [0.01, 0.02, 0.08]}
                 ).to_parquet(mon / "vintages.parquet")
    pd.DataFrame({"feature": ["f1"] * 3 + ["f2"] * 3, "obs_month": list(months) * 2,
                  "csi": [0.0, 0.01, 0.03, 0.0, 0.02, 0.3]}).to_parquet(mon / "csi.parquet")
    # -- scores on one business date, joinable to matured labels of the same month
    d = root / "scores" / "business_date=2026-01-15"
    d.mkdir(parents=True)
    cust = [f"c{i}" for i in range(10)]
    grades = ["A", "A", "B", "B", "C", "C", "D", "D", "E", "E"]
    pd.DataFrame({"business_date": pd.to_datetime(["2026-01-15"] * 10).date, "customer_id": cust,
                  "partner_id": "p1", "label": "a_card", "model_name": "a_card_lightgbm", "model_version": "v0001",
                  "probability": [0.01 * (i + 1) for i in range(10)], "score": [700 - 15 * i for i in range(10)],
                  "grade": grades, "reason_1": "r", "reason_2": "r", "reason_3": "r",
                  "decision": ["approve"] * 6 + ["review", "review", "reject", "reject"],
                  "recommended_limit": 1000.0}).to_parquet(d / "scores.parquet", index=False)
    (root / "marts").mkdir()
    pd.DataFrame({"obs_id": range(10), "customer_id": cust, "obs_at": pd.Timestamp("2026-01-10"),
                  "obs_month": pd.to_datetime(["2026-01-01"] * 10).date,
                  "bad_a_card": [False] * 8 + [True, False], "bad_fraud": None, "bad_b_card": None,
                  "bad_c_card": None}).to_parquet(root / "marts" / "labels.parquet", index=False)
    # -- ingest: drawdowns conserved (10 = 9 + 1), repayments not (5 != 3 + 1)
    now = datetime.utcnow().replace(microsecond=0)
    for table, landed, bronze, quar, ingested in (("drawdowns", 10, 9, 1, now - timedelta(hours=2)),
                                                  ("repayments", 5, 3, 1, now - timedelta(hours=100))):
        for sub in ("_meta/ingest_log", "quarantine", "bronze"):
            (root / sub / table).mkdir(parents=True)
        pd.DataFrame({"file": [f"loans/{table}/{table}_20260114.csv"], "sha256": ["x"], "landed_rows": [landed],
                      "bronze_rows": [bronze], "quarantined_rows": [quar], "status": ["ingested"], "notes": [""],
                      "batch_id": ["batch_20260115T080000_abc"], "ingested_at": [ingested]}
                     ).to_parquet(root / "_meta/ingest_log" / table / "batch_20260115T080000_abc.parquet", index=False)
        pd.DataFrame({"_source_file": [f"loans/{table}/{table}_20260114.csv"], "_source_line": [3],
                      "reason": ["amount: value -5 below minimum (min: 0); term_months: required value missing"],
                      "amount": ["-5"]}
                     ).to_parquet(root / "quarantine" / table / "batch_20260115T080000_abc.parquet", index=False)
        pd.DataFrame({"loan_id": [f"l{i}" for i in range(bronze)], "_ingested_at": [ingested] * bronze}
                     ).to_parquet(root / "bronze" / table / "batch_20260115T080000_abc.parquet", index=False)
    # -- Great Expectations: an old failing run and a newer passing one (drawdowns), one failing (repayments)
    ge = root / "_meta" / "ge_results" / "bronze"

    def result(ok, etype, column, unexpected=0, sample=()):
        return {"success": ok, "expectation_config": {"type": etype, "kwargs": {"batch_id": "b", "column": column}},
                "result": {"element_count": 9, "unexpected_count": unexpected, "partial_unexpected_list": list(sample)}}

    for table, stamp, results in (
            ("drawdowns", "20260115T080001000000", [result(False, "expect_column_values_to_not_be_null", "loan_id", 9)]),
            ("drawdowns", "20260115T090001000000", [result(True, "expect_column_values_to_not_be_null", "loan_id")]),
            ("repayments", "20260115T090002000000", [
                result(True, "expect_column_values_to_be_unique", "payment_id"),
                result(False, "expect_column_values_to_be_between", "amount", 2, [-7.5, -1.25]),
                result(False, "expect_column_values_to_not_be_null", "customer_id", 1, ["c_secret_42"])])):
        (ge / table).mkdir(parents=True, exist_ok=True)
        (ge / table / f"{stamp}.json").write_text(json.dumps({
            "success": all(r["success"] for r in results), "suite_name": f"bronze_{table}", "results": results,
            "statistics": {"evaluated_expectations": len(results)}}))
    return root


def run(module: str, root: Path, monkeypatch) -> AppTest:
    monkeypatch.setenv("LAKE_ROOT", str(root))
    at = AppTest.from_string(SCRIPT.format(module=module), default_timeout=30)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def frame_with(at: AppTest, *columns: str) -> pd.DataFrame:
    for d in at.dataframe:
        if set(columns) <= set(d.value.columns):
            return d.value
    raise AssertionError(f"no dataframe with columns {columns}")


def test_models_page(lake, monkeypatch):
    at = run("models", lake, monkeypatch)
    assert at.title[0].value == "Models"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Model AUC (OOT)"] == "0.751" and metrics["True oracle AUC (OOT)"] == "0.877"
    assert [m.label for m in at.metric][:2] == ["True oracle AUC (OOT)", "Model AUC (OOT)"]  # the oracle first
    assert metrics["Gini (OOT)"] == "0.502" and metrics["KS (OOT)"] == "0.432"
    assert metrics["PSI train→OOT"] == "0.012" and metrics["Features"] == "321"
    assert metrics["Rows train / OOT"] == "4,000 / 2,000"
    assert len(at.get("image")) == 4  # roc, ks, deciles, calibration of the champion
    versions = frame_with(at, "version", "model_type", "champion", "auc_oot")
    assert len(versions) == 2
    assert versions.set_index("version").loc["v0001", "champion"]
    assert not versions.set_index("version").loc["v0002", "champion"]
    assert versions.set_index("version").loc["v0002", "auc_oot"] == pytest.approx(0.7011)
    realised = frame_with(at, "grade", "matured", "bad_rate")
    assert realised["matured"].sum() == 10
    assert realised.set_index("grade").loc["E", "bad_rate"] == pytest.approx(0.5)
    assert realised.set_index("grade").loc["A", "bad_rate"] == 0
    assert len(at.get("vega_lite_chart")) >= 6  # + AUC/KS, bad rates, score PSI and CSI of the backfill
    grades = frame_with(at, "grade", "realised_bad_rate", "expected_bad_rate")
    assert grades["rows"].sum() == 400
    assert any("approved by R. Officer" in t.value and "best in-time CV AUC" in t.value for t in at.text)
    assert any("# Model card: a_card_lightgbm v0001" in c.value for c in at.code)
    # aggregates only: no table on the page lists customers
    assert all("customer_id" not in d.value.columns for d in at.dataframe)


def test_data_quality_page(lake, monkeypatch):
    at = run("data_quality", lake, monkeypatch)
    assert at.title[0].value == "Data quality"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["GE suites passing"] == "1 / 2"  # the newer drawdowns run passed, repayments failed
    assert metrics["Failed expectations"] == "2"
    assert metrics["Quarantined rows"] == "2"
    assert metrics["Conservation"] == "1 table(s) off"
    summary = frame_with(at, "table", "suite", "status", "expectations", "failed").set_index("table")
    assert summary.loc["drawdowns", "status"] == "passed" and summary.loc["repayments", "failed"] == 2
    failed = frame_with(at, "expectation", "unexpected_count", "sample").set_index("column")
    assert failed.loc["amount", "expectation"] == "expect_column_values_to_be_between"
    assert failed.loc["amount", "unexpected_count"] == 2 and "-7.5" in failed.loc["amount", "sample"]
    assert failed.loc["customer_id", "sample"] == "(hidden: identifier column)"
    assert not any("c_secret_42" in str(d.value.to_csv()) for d in at.dataframe)
    checks = frame_with(at, "table", "check_failed", "rows")
    assert set(checks["check_failed"]) == {"amount: below minimum"} and checks["rows"].sum() == 2
    cons = frame_with(at, "landed", "bronze", "quarantined", "conserved").set_index("table")
    assert bool(cons.loc["drawdowns", "conserved"]) and not bool(cons.loc["repayments", "conserved"])
    assert any("repayments" in e.value for e in at.error)
    fresh = frame_with(at, "status", "age_hours", "latest_file_date").set_index("table")
    assert fresh.loc["drawdowns", "status"] == "fresh" and fresh.loc["repayments", "status"] == "STALE"
    assert str(fresh.loc["drawdowns", "latest_file_date"])[:10] == "2026-01-14"
    assert at.get("vega_lite_chart")


@pytest.mark.parametrize("module, text", [("models", "No model registry"), ("data_quality", "Nothing ingested")])
def test_empty_lake(tmp_path, monkeypatch, module, text):
    at = run(module, tmp_path, monkeypatch)
    assert any(text in i.value for i in at.info)


PAGE_FILES = sorted([*(REPO / "dashboards" / "views").glob("*.py"), *(REPO / "dashboards" / "page_modules").glob("*.py"),
                     REPO / "dashboards" / "app.py"])


@pytest.mark.parametrize("page", PAGE_FILES, ids=lambda p: p.name)
def test_every_page_reads_the_lake_through_data_py(page):
    """One page architecture: no page resolves the lake root, opens DuckDB, edits sys.path or knows the registry's
    file names; dashboards/data.py (on lake.layout) does."""
    import ast

    tree = ast.parse(page.read_text(encoding="utf-8"))
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not imported & {"duckdb", "os", "sys"}, imported
    # path-like string constants (prose such as docstrings and captions has spaces)
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
               and " " not in n.value}
    assert not strings & {"LAKE_ROOT", "champion.json", "metrics.json", "scores.parquet"}, page.name
    for folder in ("marts", "_stats", "registry", "scores", "bronze", "quarantine", "_meta", "features"):
        assert not any(f"/{folder}" in s or f"{folder}/" in s for s in strings), (page.name, folder)
