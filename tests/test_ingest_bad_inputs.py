"""Bad-input matrix for ingestion: every class of mess ends in quarantine with a reason, good rows reach
bronze, and per file landed = bronze + quarantined (checked against an independent line count)."""
from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lake.layout import LakeLayout
from lake.contracts import load_contracts
from orchestration.ingest.pipeline import ingest_table

NOW = datetime(2026, 10, 1, 12, 0, 0)
KEY = "test-key"
CONTRACTS = load_contracts()
DRAWDOWN_HEADER = "loan_id,line_id,customer_id,drawdown_at,amount,term_months,annual_rate,declared_purpose,partner_id,product,channel"


def drawdown(loan_id: str, **overrides) -> str:
    row = dict(loan_id=loan_id, line_id="LN1", customer_id="C1", drawdown_at="2026-09-01 10:00:00", amount="1000",
               term_months="6", annual_rate="0.18", declared_purpose="travel", partner_id="PB01", product="revolving",
               channel="app")
    row.update(overrides)
    return ",".join(row.values())


def order(order_id: str, **overrides) -> dict:
    row = dict(order_id=order_id, customer_id="C1", ordered_at="2026-09-01 21:15:00", amount=59.9, category="books",
               merchant_id="M1", channel="app", payment_method="credit_line", device_id="D1")
    row.update(overrides)
    return row


@pytest.fixture()
def lake(tmp_path: Path) -> LakeLayout:
    return LakeLayout(root=tmp_path / "lake")


def land(lake: LakeLayout, table: str, name: str, content: bytes | str) -> Path:
    contract = CONTRACTS[table]
    path = contract.landing_dir(lake.landing) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def ingest(lake: LakeLayout, table: str):
    return ingest_table(CONTRACTS[table], lake, KEY, now=NOW, progress=lambda _: None)


def bronze(lake: LakeLayout, table: str) -> list[dict]:
    return pq.read_table(sorted((lake.bronze / table).glob("*.parquet"))).to_pylist()


def quarantine(lake: LakeLayout, table: str) -> dict[int, str]:
    rows = pq.read_table(sorted((lake.quarantine / table).glob("*.parquet"))).to_pylist()
    return {r["_source_line"]: r["reason"] for r in rows}


def assert_conserved(result, expected_landed: int):
    assert result.landed == expected_landed
    assert result.conserved
    assert result.landed == result.bronze + result.quarantined


def csv_file(*rows: str) -> str:
    return "\n".join([DRAWDOWN_HEADER, *rows]) + "\n"


def test_wrong_type_null_required_negative_amount_and_future_date(lake):
    land(lake, "drawdowns", "drawdowns_20260901.csv", csv_file(
        drawdown("L1"),
        drawdown("L2", amount="abc"),
        drawdown("", line_id="LN2"),
        drawdown("L4", amount="-5"),
        drawdown("L5", drawdown_at="2031-01-01 00:00:00"),
        drawdown("L6", term_months="7", declared_purpose="gambling"),
        drawdown("L7", drawdown_at="yesterday"),
    ))
    result = ingest(lake, "drawdowns")
    assert_conserved(result, 7)
    assert [r["loan_id"] for r in bronze(lake, "drawdowns")] == ["L1"]
    q = quarantine(lake, "drawdowns")
    assert "amount: cannot read abc as double" in q[3]
    assert "loan_id: required value missing" in q[4]
    assert "amount: -5.0 below minimum 0.01" in q[5]
    assert "drawdown_at: 2031-01-01 00:00:00 is in the future" in q[6]
    assert "term_months: value 7 not allowed" in q[7] and "declared_purpose: value gambling not allowed" in q[7]
    assert "drawdown_at: cannot read yesterday as timestamp" in q[8]


def test_duplicate_keys_within_file_and_against_bronze(lake):
    land(lake, "drawdowns", "drawdowns_20260901.csv", csv_file(drawdown("L1"), drawdown("L2"), drawdown("L1", amount="5")))
    first = ingest(lake, "drawdowns")
    assert_conserved(first, 3)
    assert quarantine(lake, "drawdowns") == {4: "duplicate key: repeated within this delivery"}
    # A later file re-delivers L2 (late duplicate) and a new loan L3.
    land(lake, "drawdowns", "drawdowns_20260902.csv", csv_file(drawdown("L2"), drawdown("L3")))
    second = ingest(lake, "drawdowns")
    assert_conserved(second, 2)
    assert sorted(r["loan_id"] for r in bronze(lake, "drawdowns")) == ["L1", "L2", "L3"]
    reasons = pq.read_table(sorted((lake.quarantine / "drawdowns").glob("*.parquet"))).to_pylist()
    assert any(r["_source_file"].endswith("20260902.csv") and r["reason"] == "duplicate key: already in bronze"
               for r in reasons)


def test_missing_required_column_quarantines_every_row(lake):
    header = DRAWDOWN_HEADER.replace(",amount", "")
    rows = [",".join(v for k, v in zip(DRAWDOWN_HEADER.split(","), drawdown(f"L{i}").split(",")) if k != "amount")
            for i in range(3)]
    land(lake, "drawdowns", "drawdowns_20260901.csv", "\n".join([header, *rows]) + "\n")
    result = ingest(lake, "drawdowns")
    assert_conserved(result, 3)
    assert result.bronze == 0
    assert all("amount: required value missing" in r for r in quarantine(lake, "drawdowns").values())
    assert "missing column(s) ['amount']" in result.files[0].notes


def test_missing_optional_column_and_extra_column_are_schema_drift_not_row_errors(lake):
    header = DRAWDOWN_HEADER.replace(",channel", "") + ",promo_code"
    rows = [drawdown(f"L{i}").rsplit(",", 1)[0] + ",SPRING" for i in range(4)]
    land(lake, "drawdowns", "drawdowns_20260901.csv", "\n".join([header, *rows]) + "\n")
    result = ingest(lake, "drawdowns")
    assert_conserved(result, 4)
    assert result.bronze == 4
    out = bronze(lake, "drawdowns")
    assert all(r["channel"] is None for r in out) and "promo_code" not in out[0]
    notes = result.files[0].notes
    assert any("extra column(s) ['promo_code']" in n for n in notes)


def test_bad_encoding_lines_are_quarantined_others_kept(lake):
    good = csv_file(drawdown("L1"), drawdown("L2")).encode()
    bad_line = drawdown("L3", channel="app").replace("travel", "旅游").encode("gbk") + b"\n"
    land(lake, "drawdowns", "drawdowns_20260901.csv", good + bad_line + (drawdown("L4") + "\n").encode())
    result = ingest(lake, "drawdowns")
    assert_conserved(result, 4)
    assert sorted(r["loan_id"] for r in bronze(lake, "drawdowns")) == ["L1", "L2", "L4"]
    assert quarantine(lake, "drawdowns") == {4: "bad encoding: line is not valid UTF-8"}
    assert [r["_source_line"] for r in bronze(lake, "drawdowns")] == [2, 3, 5]


def test_truncated_file_quarantines_the_cut_row(lake):
    content = csv_file(drawdown("L1"), drawdown("L2"), drawdown("L3"))
    land(lake, "drawdowns", "drawdowns_20260901.csv", content[: content.rindex("0.18")])
    result = ingest(lake, "drawdowns")
    assert_conserved(result, 3)
    assert result.bronze == 2
    assert quarantine(lake, "drawdowns")[4].startswith("malformed row: expected 11 fields, got 7")


def test_empty_file_is_recorded_and_changes_nothing(lake):
    land(lake, "drawdowns", "drawdowns_20260901.csv", b"")
    land(lake, "drawdowns", "drawdowns_20260902.csv", csv_file(drawdown("L1")))
    result = ingest(lake, "drawdowns")
    assert_conserved(result, 1)
    assert {f.file.rsplit("/", 1)[1]: f.status for f in result.files} == {
        "drawdowns_20260901.csv": "empty", "drawdowns_20260902.csv": "ingested"}


def test_broken_json_line_is_quarantined_with_its_line(lake):
    lines = [json.dumps(order("O1")), json.dumps(order("O2"))[:30], json.dumps(order("O3", amount="lots")),
             json.dumps(order("O4", category="weapons")), "", json.dumps(order("O5"))]
    land(lake, "orders", "orders_20260901.jsonl", "\n".join(lines) + "\n")
    result = ingest(lake, "orders")
    assert_conserved(result, 5)  # the blank line is not a record
    assert sorted(r["order_id"] for r in bronze(lake, "orders")) == ["O1", "O5"]
    q = quarantine(lake, "orders")
    assert q[2] == "broken JSON: line is not a valid JSON object"
    assert "amount: cannot read lots as double" in q[3]
    assert "category: value weapons not allowed" in q[4]


def test_unreadable_file_is_named_and_other_files_still_load(lake):
    report = {"report_id": "R1", "customer_id": "C1", "national_id": "110101199001011234", "name": "张三",
              "reported_at": "2026-09-01 09:00:00", "tradelines": [], "inquiries": [], "public_records": []}
    land(lake, "credit_reports", "credit_reports_20260901.json", json.dumps({"reports": [report]}))
    land(lake, "credit_reports", "credit_reports_20260902.json", '{"reports": [{"report_id": "R2",')
    messages: list[str] = []
    result = ingest_table(CONTRACTS["credit_reports"], lake, KEY, now=NOW, progress=messages.append)
    assert_conserved(result, 2)
    assert result.bronze == 1
    rejected = [f for f in result.files if f.status == "rejected"]
    assert len(rejected) == 1 and rejected[0].file.endswith("credit_reports_20260902.json")
    assert any("credit_reports_20260902.json rejected" in m and "broken JSON document" in m for m in messages)


def test_parquet_drop_with_wrong_values(lake):
    table = pa.table({
        "flow_id": ["F1", "F2", "F3"], "loan_id": ["L1", "L1", None], "customer_id": ["C1", "C1", "C1"],
        "flow_at": pa.array([datetime(2026, 9, 1), datetime(2026, 9, 2), datetime(2026, 9, 3)], pa.timestamp("us")),
        "amount": [100.0, -3.0, 10.0], "mcc": ["5411", "7995", "5411"], "counterparty_id": ["X", "Y", "Z"],
    })
    path = CONTRACTS["fund_flows"].landing_dir(lake.landing) / "fund_flows_20260901.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(table, path)
    result = ingest(lake, "fund_flows")
    assert_conserved(result, 3)
    q = quarantine(lake, "fund_flows")
    assert "amount: -3.0 below minimum 0.01" in q[2] and "loan_id: required value missing" in q[3]


def test_reingesting_is_idempotent_and_a_crash_leaves_nothing_visible(lake):
    land(lake, "drawdowns", "drawdowns_20260901.csv", csv_file(drawdown("L1"), drawdown("L2")))
    with pytest.raises(RuntimeError, match="simulated crash"):
        ingest_table(CONTRACTS["drawdowns"], lake, KEY, now=NOW, progress=lambda _: None, _crash_before_log=True)
    # The crashed batch wrote data files but no log: the next run removes them and ingests cleanly.
    result = ingest(lake, "drawdowns")
    assert result.bronze == 2
    again = ingest(lake, "drawdowns")
    assert again.files == [] and again.skipped_files == 1
    assert sorted(r["loan_id"] for r in bronze(lake, "drawdowns")) == ["L1", "L2"]


def test_pii_is_tokenised_with_hmac_and_absent_from_bronze_and_quarantine(lake):
    header = "customer_id,name,national_id,phone,bank_card,gender,birth_date,city,city_tier,education,occupation,monthly_income,channel,registered_at"
    rows = ["C1,王小明,110101199001011234,13812345678,6222020200112233445,M,1990-01-01,北京,1,bachelor,engineer,12000,app,2026-01-05 10:00:00",
            "C2,李雷,11010119850202567X,15912345678,6222020200998877665,M,1985-02-02,上海,1,master_plus,doctor,abc,web,2026-01-06 10:00:00"]
    land(lake, "customers", "customers_20260105.csv", "\n".join([header, *rows]) + "\n")
    result = ingest(lake, "customers")
    assert_conserved(result, 2)
    out = bronze(lake, "customers")
    expected = "tk_" + hmac.new(KEY.encode(), b"110101199001011234", hashlib.sha256).hexdigest()[:32]
    assert out[0]["national_id_token"] == expected
    assert "national_id" not in out[0] and "phone" not in out[0]
    pii = ["王小明", "110101199001011234", "13812345678", "6222020200112233445", "李雷", "11010119850202567X",
           "15912345678", "6222020200998877665"]
    for folder in (lake.bronze, lake.quarantine):
        text = duckdb.sql(f"SELECT * FROM read_parquet('{folder}/**/*.parquet', union_by_name=true)").fetchall()
        flat = " ".join(str(v) for row in text for v in row)
        assert not [p for p in pii if p in flat], folder
        for f in folder.rglob("*.parquet"):
            data = f.read_bytes()
            assert not [p for p in pii if p.encode() in data]


def test_the_later_delivered_copy_of_a_key_is_the_duplicate(lake):
    import os

    original = land(lake, "drawdowns", "drawdowns_20260905.csv", csv_file(drawdown("L1"), drawdown("L2")))
    copy = land(lake, "drawdowns", "drawdowns_20260901.csv", csv_file(drawdown("L2", amount="999")))
    os.utime(original, ns=(1_000_000_000, 1_000_000_000))  # delivered first, although named later
    os.utime(copy, ns=(2_000_000_000, 2_000_000_000))
    result = ingest(lake, "drawdowns")
    assert_conserved(result, 3)
    kept = {r["loan_id"]: r["amount"] for r in bronze(lake, "drawdowns")}
    assert kept == {"L1": 1000.0, "L2": 1000.0}
    rows = pq.read_table(sorted((lake.quarantine / "drawdowns").glob("*.parquet"))).to_pylist()
    assert [(r["_source_file"].rsplit("/", 1)[1], r["reason"]) for r in rows] == [
        ("drawdowns_20260901.csv", "duplicate key: repeated within this delivery")]


def test_device_ids_shaped_like_a_card_load_but_a_phone_in_device_id_is_stopped(lake):
    """A 16-hex-digit device id that happens to be all decimal digits has a bank card's shape: the contract skips
    that one kind for device_id, so such ids reach bronze; a phone or national id delivered there is still stopped."""
    ids = {"OD1": "6222020200112233", "OD2": "9f3a0c2b7d115e40", "OD3": "13812345678", "OD4": "110101199001011234"}
    land(lake, "orders", "orders_20260901.jsonl", "".join(json.dumps(order(k, device_id=v)) + "\n" for k, v in ids.items()))
    result = ingest(lake, "orders")
    assert_conserved(result, 4)
    loaded = {r["order_id"]: r["device_id"] for r in bronze(lake, "orders")}
    assert loaded == {"OD1": ids["OD1"], "OD2": ids["OD2"]}
    reasons = quarantine(lake, "orders")
    assert sorted(reasons.values()) == ["device_id: holds what looks like a national id; value withheld",
                                        "device_id: holds what looks like a phone number; value withheld"]


def test_a_contract_skipping_an_unknown_pii_kind_is_refused(tmp_path):
    from lake.contracts import ContractError

    text = (CONTRACTS["orders"].path.read_text()
            .replace("pii_guard_skip: [bank card]", "pii_guard_skip: [credit card]"))
    (tmp_path / "orders.yaml").write_text(text)
    with pytest.raises(ContractError, match=r"orders.yaml.*device_id.*unknown PII kinds \['credit card'\]"):
        load_contracts(tmp_path)
