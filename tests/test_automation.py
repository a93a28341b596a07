"""Sensors and failure drills: new and late landing files are noticed and ingested exactly once."""
from __future__ import annotations

import dagster as dg
import duckdb

from orchestration.automation import landing_sensor, pending_files
from lake.layout import LakeLayout
from lake.contracts import load_contracts
from orchestration.ingest.pipeline import ingest_table
from orchestration.resources import LakeResource
from tests.lakehelpers import KEY, NOW, land_rows


def order(i: int, day: str) -> dict:
    return {"order_id": f"O{i}", "customer_id": "C1", "ordered_at": f"{day} 20:00:00", "amount": 10 + i,
            "category": "books", "channel": "app", "payment_method": "balance"}


def evaluate(lake: LakeLayout):
    context = dg.build_sensor_context(resources={"lake": LakeResource(root=str(lake.root))})
    return landing_sensor(context)


def test_sensor_requests_ingest_of_tables_with_new_files_only(tmp_path):
    lake = LakeLayout(root=tmp_path / "lake")
    assert isinstance(evaluate(lake), dg.SkipReason)
    land_rows(lake, "orders", [order(1, "2026-09-01")], name="20260901")
    land_rows(lake, "customers", [{"customer_id": "C1", "national_id": "110101199001011234", "phone": "13800000001",
                                   "birth_date": "1990-01-01", "registered_at": "2026-01-01 10:00:00"}])
    request = evaluate(lake)
    assert isinstance(request, dg.RunRequest)
    assert set(request.asset_selection) == {dg.AssetKey(["bronze", "orders"]), dg.AssetKey(["bronze", "customers"])}
    again = evaluate(lake)
    assert again.run_key == request.run_key  # same pending set -> same key: Dagster launches it once
    for table in ("orders", "customers"):
        ingest_table(load_contracts()[table], lake, KEY, now=NOW, progress=lambda _: None)
    assert isinstance(evaluate(lake), dg.SkipReason)


def test_late_file_for_an_old_day_is_picked_up_once_without_duplicates(tmp_path):
    lake = LakeLayout(root=tmp_path / "lake")
    contract = load_contracts()["orders"]
    land_rows(lake, "orders", [order(i, "2026-09-02") for i in range(3)], name="20260902")
    ingest_table(contract, lake, KEY, now=NOW, progress=lambda _: None)
    # The source delivers a day it missed, after later days were already ingested; one row repeats an order.
    land_rows(lake, "orders", [order(10, "2026-09-01"), order(11, "2026-09-01"), order(2, "2026-09-02")], name="20260901")
    assert pending_files(lake) == {"orders": ["ecommerce/orders/orders_20260901.jsonl"]}
    late = ingest_table(contract, lake, KEY, now=NOW, progress=lambda _: None)
    assert (late.landed, late.bronze, late.quarantined) == (3, 2, 1)
    rerun = ingest_table(contract, lake, KEY, now=NOW, progress=lambda _: None)
    assert rerun.files == [] and pending_files(lake) == {}
    ids = duckdb.sql(f"SELECT order_id FROM read_parquet('{lake.bronze}/orders/batch_*.parquet') ORDER BY 1").fetchall()
    assert [i for (i,) in ids] == ["O0", "O1", "O10", "O11", "O2"]
