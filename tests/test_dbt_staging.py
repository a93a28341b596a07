"""dbt over a hand-made lake: staging dedups, flattens nested bureau data, and its key tests run."""
from __future__ import annotations

import pytest

from lake.layout import LakeLayout
from orchestration.dbt_sources import SOURCES_FILE, sources_yaml
from tests.lakehelpers import ingest_all, land_rows, query, run_dbt


def test_generated_sources_are_in_sync_with_contracts():
    assert SOURCES_FILE.read_text() == sources_yaml(), "run: python -m orchestration.dbt_sources"


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> LakeLayout:
    lake = LakeLayout(root=tmp_path_factory.mktemp("staging") / "lake")
    land_rows(lake, "customers", [
        {"customer_id": "C1", "national_id": "110101199001011234", "phone": "13800000001", "birth_date": "1990-01-01",
         "registered_at": "2026-01-01 10:00:00", "gender": "F", "monthly_income": 8000},
        {"customer_id": "C2", "national_id": "110101199101011234", "phone": "13800000002", "birth_date": "1991-01-01",
         "registered_at": "2026-01-02 10:00:00"},
    ])
    land_rows(lake, "credit_reports", [{
        "report_id": "R1", "customer_id": "C1", "national_id": "110101199001011234", "reported_at": "2026-01-01 09:59:00",
        "tradelines": [
            {"tradeline_id": "T1", "institution_type": "bank", "product": "credit_card", "opened_on": "2024-03-01",
             "credit_limit": 20000, "balance": 5000, "status": "normal", "monthly_status": "*" * 12 + "N" * 11 + "1"},
            {"tradeline_id": "T2", "institution_type": "microloan", "product": "microloan", "opened_on": "2025-06-01",
             "credit_limit": 3000, "balance": 0, "status": "closed", "monthly_status": "*" * 17 + "NNNNNN" + "C"}],
        "inquiries": [{"inquired_at": "2025-12-20 08:00:00", "institution_type": "p2p", "institution_id": "I9",
                       "reason": "loan_approval"}],
        "public_records": [],
    }])
    ingest_all(lake)
    run_dbt(lake, "build")
    return lake


def test_staging_tables_exist_for_every_source_and_layers_are_schemas(lake):
    schemas = {s for (s,) in query(lake, "SELECT DISTINCT table_schema FROM information_schema.tables")}
    assert {"bronze", "quarantine", "staging", "ops"} <= schemas
    assert query(lake, "SELECT count(*) FROM staging.stg_customers") == [(2,)]
    assert query(lake, "SELECT declared_monthly_income FROM staging.stg_customers WHERE customer_id='C1'") == [(8000.0,)]


def test_nested_reports_are_flattened(lake):
    rows = query(lake, "SELECT tradeline_id, institution_type, credit_limit, right(monthly_status, 1) "
                       "FROM staging.stg_bureau_tradelines ORDER BY 1")
    assert rows == [("T1", "bank", 20000.0, "1"), ("T2", "microloan", 3000.0, "C")]
    assert query(lake, "SELECT institution_type, inquiry_reason FROM staging.stg_bureau_inquiries") == [("p2p", "loan_approval")]
    assert query(lake, "SELECT count(*) FROM staging.stg_bureau_public_records") == [(0,)]


def test_source_freshness_passes_on_fresh_ingest(lake):
    out = run_dbt(lake, "source", "freshness", "--select", "source:bronze.customers", "source:bronze.credit_reports")
    assert out.stdout.count("PASS freshness of bronze.") == 2, out.stdout
