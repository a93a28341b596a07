"""Bad-delivery matrix, one case per landed file, run twice: through `ingest_table` and through the Dagster
ingest job (own DagsterInstance under a temp DAGSTER_HOME). For every file it asserts the outcome, that
landed (hand-counted here, not taken from the code) = bronze rows + quarantined rows (recounted from the
Parquet files by `_source_file`), that reasons name file and line, that each table's good file still
loads, and that no planted PII value appears in any file or database under the lake or the Dagster home.

Classes (issue #11): 1 unreadable, 2 valid-but-unusual, 3 names, 4 silent loss, 5 PII, 6 values.
"""
from __future__ import annotations

import gzip
import io
import json
import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lake.contracts import load_contracts
from lake.layout import LakeLayout
from orchestration.ingest.pipeline import ingest_log, ingest_table

NOW = datetime(2026, 10, 1, 12, 0, 0)
KEY = "test-key"
CONTRACTS = load_contracts()
TABLES = ("drawdowns", "repayments", "customers", "blacklist", "fund_flows", "repayment_schedule", "credit_reports",
          "orders", "telco")

# Every PII value planted in a landing file: none may appear anywhere outside landing.
NAMES = ["王小明", "李雷", "韩梅梅", "张伟强"]
NATIONAL_IDS = ["110101199001011234", "11010119850202567X", "320102197703034411", "440301199912120022"]
PHONES = ["13812345678", "15912345678", "18600001111", "13700002222"]
CARDS = ["6222020200112233445", "6217001234567890", "6228480402564890018"]
EMAILS = ["wang.xm@example.com"]
PLANTED = NAMES + NATIONAL_IDS + PHONES + CARDS + EMAILS

D_HEADER = "loan_id,line_id,customer_id,drawdown_at,amount,term_months,annual_rate,declared_purpose,partner_id,product,channel"
R_HEADER = "payment_id,loan_id,paid_at,amount,payment_channel"
C_HEADER = ("customer_id,name,national_id,phone,bank_card,gender,birth_date,city,city_tier,education,occupation,"
            "monthly_income,channel,registered_at")
B_HEADER = "blacklist_id,national_id,phone,listed_at,source,reason"


def dd(loan: str, **kw) -> str:
    row = dict(loan_id=loan, line_id="LN1", customer_id="C1", drawdown_at="2026-09-01 10:00:00", amount="1000",
               term_months="6", annual_rate="0.18", declared_purpose="travel", partner_id="PB01",
               product="revolving", channel="app")
    row.update(kw)
    return ",".join(row.values())


def rp(pid: str, paid_at: str = "2026-09-02 10:00:00", amount: str = "100.5") -> str:
    return f"{pid},LO1,{paid_at},{amount},app"


def cust(cid: str, i: int, **kw) -> str:
    row = dict(customer_id=cid, name=NAMES[i], national_id=NATIONAL_IDS[i], phone=PHONES[i], bank_card=CARDS[i % 3],
               gender="M", birth_date="1990-01-01", city="北京", city_tier="1", education="bachelor",
               occupation="engineer", monthly_income="12000", channel="app", registered_at="2026-01-05 10:00:00")
    row.update(kw)
    return ",".join(row.values())


def report(rid: str, **kw) -> dict:
    row = dict(report_id=rid, customer_id="C1", national_id=NATIONAL_IDS[0], name=NAMES[0],
               reported_at="2026-09-01 09:00:00", tradelines=[{"tradeline_id": "T1", "status": "normal"}],
               inquiries=[], public_records=[])
    row.update(kw)
    return row


def order(oid: str, **kw) -> dict:
    row = dict(order_id=oid, customer_id="C1", ordered_at="2026-09-01 21:15:00", amount=59.9, category="books",
               merchant_id="M1", channel="app", payment_method="credit_line", device_id="D1")
    row.update(kw)
    return row


def csv_text(header: str, *rows: str, end: str = "\n") -> bytes:
    return (end.join([header, *rows]) + end).encode()


def parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def flows(ids: list[str], **cols) -> pa.Table:
    n = len(ids)
    data = {"flow_id": ids, "loan_id": ["L1"] * n, "customer_id": ["C1"] * n,
            "flow_at": pa.array([datetime(2026, 9, 1, 10)] * n, pa.timestamp("us")), "amount": [100.0] * n,
            "mcc": ["5411"] * n, "counterparty_id": ["X"] * n}
    data.update(cols)
    return pa.table(data)


@dataclass
class Case:
    id: str
    cls: int
    table: str
    name: str  # file name under the table's landing folder
    content: bytes | None  # None: the entry is made by `make`
    landed: int  # hand-counted records of the file
    bronze: int
    status: str = "ingested"
    reason: str | None = None  # substring of the file's quarantine reasons / log note
    line: int | None = None  # a line the reason must be recorded at
    make: str | None = None  # "directory" | "dangling_link"


rows200 = [rp(f"PG{i:03d}") for i in range(200)]
nested = flows(["FN1", "FN2", "FN3"]).set_column(4, "amount", pa.array([{"v": 1.0}] * 3))
not_utf8 = flows(["FU1", "FU2"]).set_column(5, "mcc", pa.array([b"54\xff1", b"5411"], pa.binary()))
tz_flows = flows(["FZ1"]).set_column(3, "flow_at", pa.array([datetime(2026, 9, 1, 2)], pa.timestamp("us", tz="UTC")))
float_schedule = pa.table({"loan_id": ["L1", "L1"], "installment_no": [1.0, 5.5],
                           "due_date": pa.array([datetime(2026, 10, 1).date()] * 2), "principal_due": [100.0, 100.0],
                           "interest_due": [1.0, 1.0]})
nan_flows = flows(["FF1", "FF2"], amount=[float("nan"), 50.0])

CASES = [
    # ---- good files, one per table: they must load whatever else lands next to them
    Case("good_drawdowns", 0, "drawdowns", "drawdowns_20260901.csv", csv_text(D_HEADER, dd("G1"), dd("G2")), 2, 2),
    Case("good_repayments", 0, "repayments", "repayments_20260901.csv", csv_text(R_HEADER, rp("PG_OK")), 1, 1),
    Case("good_customers", 0, "customers", "customers_20260901.csv", csv_text(C_HEADER, cust("CG1", 0)), 1, 1),
    Case("good_fund_flows", 0, "fund_flows", "fund_flows_20260901.parquet", parquet_bytes(flows(["FG1"])), 1, 1),
    Case("good_reports", 0, "credit_reports", "credit_reports_20260901.json",
         json.dumps({"reports": [report("RG1")]}, ensure_ascii=False).encode(), 1, 1),
    Case("good_orders", 0, "orders", "orders_20260901.jsonl", (json.dumps(order("OG1")) + "\n").encode(), 1, 1),
    # ---- 1: unreadable files are rejected whole, named, with their records counted
    Case("bom_header", 1, "drawdowns", "drawdowns_20260902.csv", b"\xef\xbb\xbf" + csv_text(D_HEADER, dd("B1"), dd("B2")), 2, 2,
         reason="byte-order mark"),
    Case("duplicated_column", 1, "drawdowns", "drawdowns_20260903.csv",
         csv_text(D_HEADER + ",amount", dd("DC1") + ",5", dd("DC2") + ",6", dd("DC3") + ",7"), 3, 0, "rejected",
         "duplicated column name(s) ['amount']", 2),
    Case("padded_names", 1, "drawdowns", "drawdowns_20260904.csv",
         csv_text(" " + D_HEADER.replace(",", " , "), dd("P1"), dd("P2")), 2, 2, reason="padded with spaces"),
    Case("directory_named_csv", 1, "drawdowns", "drawdowns_20260905.csv", None, 0, 0, "rejected", "a directory", make="directory"),
    Case("dangling_link", 1, "drawdowns", "drawdowns_20260906.csv", None, 0, 0, "rejected", "dangling link", make="dangling_link"),
    Case("parquet_nested", 1, "fund_flows", "fund_flows_20260902.parquet", parquet_bytes(nested), 3, 0, "rejected",
         "column 'amount' is nested", 3),
    Case("parquet_not_utf8", 1, "fund_flows", "fund_flows_20260903.parquet", parquet_bytes(not_utf8), 2, 0, "rejected",
         "not valid UTF-8", 1),
    Case("parquet_garbage", 1, "fund_flows", "fund_flows_20260904.parquet", b"PAR1 this is not parquet", 1, 0, "rejected",
         "not a readable Parquet file", 0),
    Case("only_file_unreadable", 1, "telco", "telco_20260901.csv",
         csv_text("check_id,customer_id,check_id,checked_at", "T1,C1,T1,2026-09-01 10:00:00"), 1, 0, "rejected",
         "duplicated column name(s) ['check_id']", 2),
    Case("semicolon_separated", 1, "drawdowns", "drawdowns_20260912.csv",
         csv_text(D_HEADER.replace(",", ";"), dd("SC1").replace(",", ";"), dd("SC2").replace(",", ";")), 2, 0, "rejected",
         "separated by ';'", 3),
    Case("bom_jsonl", 1, "orders", "orders_20260902.jsonl", b"\xef\xbb\xbf" + (json.dumps(order("OB1")) + "\n").encode(), 1, 1),
    # ---- 2: valid but unusual files are read correctly
    Case("quoted_newlines", 2, "blacklist", "blacklist_20260901.csv",
         csv_text(B_HEADER, f'BQ1,{NATIONAL_IDS[1]},{PHONES[1]},2026-09-01 10:00:00,internal_fraud,"first line\nsecond line"',
                  f"BQ2,{NATIONAL_IDS[2]},,2026-09-01 11:00:00,court_enforcement,plain",
                  f'BQ3,,{PHONES[2]},2026-09-01 12:00:00,internal_fraud,"a, b and ""c"""',
                  f'BQ4,{NATIONAL_IDS[3]},,2026-09-01 13:00:00,internal_fraud,"x\n\ny"'), 4, 4),
    Case("cr_only", 2, "drawdowns", "drawdowns_20260907.csv", csv_text(D_HEADER, dd("CR1"), dd("CR2"), dd("CR3"), dd("CR4"), end="\r"), 4, 4),
    Case("crlf", 2, "drawdowns", "drawdowns_20260908.csv", csv_text(D_HEADER, dd("CL1"), dd("CL2"), end="\r\n"), 2, 2),
    Case("gzip_named_csv", 2, "repayments", "repayments_20260902.csv", gzip.compress(csv_text(R_HEADER, *rows200)), 200, 200,
         reason="gzip"),
    Case("rejected_counts_records", 2, "repayments", "repayments_20260903.csv",
         csv_text(R_HEADER + ",amount", *[rp(f"PX{i}") + ",1" for i in range(4)]), 4, 0, "rejected", "duplicated column", 5),
    # ---- 3: nothing ignored by name
    Case("upper_case_ext", 3, "repayments", "repayments_20260904.CSV", csv_text(R_HEADER, rp("PU1"), rp("PU2")), 2, 2),
    Case("csv_gz", 3, "repayments", "repayments_20260905.csv.gz", gzip.compress(csv_text(R_HEADER, rp("PZ1"))), 1, 1),
    Case("jsonl_upper", 3, "orders", "orders_20260903.JSONL", (json.dumps(order("OU1")) + "\n").encode(), 1, 1),
    Case("txt_in_csv_folder", 3, "drawdowns", "drawdowns_20260909.txt", csv_text(D_HEADER, dd("TX1")), 0, 0, "unrecognised",
         "not a csv delivery"),
    Case("partial_upload", 3, "repayments", "repayments_20260906.csv.part", csv_text(R_HEADER, rp("PP1")), 0, 0, "unrecognised",
         "not a csv delivery"),
    # ---- 4: no silent loss
    Case("headerless_one_row", 4, "drawdowns", "drawdowns_20260910.csv", (dd("H1") + "\n").encode(), 1, 0, "rejected",
         "no header line", 1),
    Case("headerless_pii", 4, "customers", "customers_20260902.csv",
         ("\n".join(cust(f"CH{i}", i) for i in range(3)) + "\n").encode(), 3, 0, "rejected", "no header line", 3),
    Case("tradelines_object", 4, "credit_reports", "credit_reports_20260902.json",
         json.dumps({"reports": [report("RT1", tradelines={"tradeline_id": "T9"}), report("RT2"),
                                 report("RT3", public_records=3), report("RT4", inquiries="none")]},
                    ensure_ascii=False).encode(), 4, 1, reason="tradelines: expected a JSON array, got object", line=1),
    # ---- 5: PII past the boundary
    Case("pii_in_free_text", 5, "customers", "customers_20260903.csv",
         csv_text(C_HEADER, cust("CP1", 1, city=PHONES[3]), cust("CP2", 2, occupation=NATIONAL_IDS[3]),
                  cust("CP3", 3, city=f"mail {EMAILS[0]}"), cust("CP4", 0, occupation=f"card {CARDS[2]}"),
                  cust("CP5", 1, gender=NAMES[2]), cust("CP6", 2, monthly_income=PHONES[0])),
         6, 0, reason="city: holds what looks like a phone number", line=2),
    Case("pii_in_blacklist_reason", 5, "blacklist", "blacklist_20260902.csv",
         csv_text(B_HEADER, f"BP1,{NATIONAL_IDS[0]},,2026-09-01 10:00:00,internal_fraud,called {PHONES[2]}",
                  f"BP2,,,2026-09-01 10:00:00,{NAMES[3]},fraud"), 2, 0, reason="reason: holds what looks like a phone", line=2),
    Case("pii_in_an_id_column", 5, "orders", "orders_20260904.jsonl",
         "".join(json.dumps(o) + "\n" for o in (order("OP1", merchant_id=PHONES[1]), order("OP2", device_id=PHONES[2]),
                                                 order("OP3", customer_id=NATIONAL_IDS[2]))).encode(), 3, 0,
         reason="merchant_id: holds what looks like a phone number", line=1),
    # ---- 6: values
    Case("non_finite", 6, "repayments", "repayments_20260907.csv",
         csv_text(R_HEADER, rp("PN1", amount="NaN"), rp("PN2", amount="inf"), rp("PN3", amount="1e309"),
                  rp("PN4", amount="1e20"), rp("PN5", amount="-Infinity"), rp("PN6", amount="12.5")), 6, 1,
         reason="amount: nan is not a finite number", line=2),
    Case("offsets", 6, "repayments", "repayments_20260908.csv",
         csv_text(R_HEADER, rp("PO1", paid_at="2026-09-01T02:00:00Z"), rp("PO2", paid_at="2026-09-01 10:00:00+08:00"),
                  rp("PO3", paid_at="2026-09-01 10:00:00 America/New_York"), rp("PO4", paid_at="2026-09-01T03:30:00+01:30")),
         4, 4),
    Case("tz_aware_parquet", 6, "fund_flows", "fund_flows_20260905.parquet", parquet_bytes(tz_flows), 1, 1),
    Case("nan_parquet", 6, "fund_flows", "fund_flows_20260906.parquet", parquet_bytes(nan_flows), 2, 1,
         reason="amount: nan is not a finite number", line=1),
    Case("non_integer", 6, "drawdowns", "drawdowns_20260911.csv",
         csv_text(D_HEADER, dd("NI1", term_months="5.5"), dd("NI2", term_months="6.0"), dd("NI3", term_months="1e1")),
         3, 1, reason="term_months: cannot read 5.5 as integer", line=2),
    Case("float_parquet_integer", 6, "repayment_schedule", "repayment_schedule_20260901.parquet",
         parquet_bytes(float_schedule), 2, 1, reason="installment_no: cannot read 5.5 as integer", line=2),
]
BY_ID = {c.id: c for c in CASES}


def land_all(lake: LakeLayout) -> None:
    for c in CASES:
        path = CONTRACTS[c.table].landing_dir(lake.landing) / c.name
        path.parent.mkdir(parents=True, exist_ok=True)
        if c.make == "directory":
            path.mkdir()
        elif c.make == "dangling_link":
            path.symlink_to(path.parent / "gone.csv")
        else:
            path.write_bytes(c.content)


@pytest.fixture(scope="module")
def direct(tmp_path_factory):
    lake = LakeLayout(root=tmp_path_factory.mktemp("matrix_direct") / "lake")
    land_all(lake)
    messages: list[str] = []
    results = {t: ingest_table(CONTRACTS[t], lake, KEY, now=NOW, progress=messages.append) for t in TABLES}
    return lake, results, messages, None


@pytest.fixture(scope="module")
def dagster_run(tmp_path_factory):
    import dagster as dg

    from orchestration.definitions import build_definitions

    base = tmp_path_factory.mktemp("matrix_dagster")
    lake, home = LakeLayout(root=base / "lake"), base / "dagster_home"
    home.mkdir()
    land_all(lake)
    old = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(home)
    try:
        with dg.DagsterInstance.local_temp(tempdir=str(home)) as instance:
            job = build_definitions(str(lake.root)).resolve_job_def("ingest_landing")  # what the sensor launches
            result = job.execute_in_process(instance=instance, raise_on_error=False)
            messages = [e.user_message or "" for e in instance.all_logs(result.run_id)]  # what the run logged
            metadata = {tuple(e.asset_key.path)[1]: e.materialization.metadata
                        for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"}
    finally:
        if old is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = old
    # Blocking GE checks fail on the rejected deliveries (as they should); every bronze asset materialised.
    assert set(TABLES) <= set(metadata), [e.message for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    return lake, metadata, messages, home


@pytest.fixture(scope="module", params=["direct", "dagster"])
def run(request):
    return request.getfixturevalue("direct" if request.param == "direct" else "dagster_run")


def recount(lake: LakeLayout, folder: Path, file: str) -> list[dict]:
    paths = [str(p) for p in folder.glob("*.parquet")]
    if not paths:
        return []
    return duckdb.sql("SELECT * FROM read_parquet($p, union_by_name = true) WHERE _source_file = $f",
                      params={"p": paths, "f": file}).to_arrow_table().to_pylist()


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"class{c.cls}-{c.id}")
def test_each_file_is_accounted_for(run, case):
    lake = run[0]
    rel = (CONTRACTS[case.table].landing_dir(lake.landing) / case.name).relative_to(lake.landing).as_posix()
    logged = [r for r in ingest_log(lake, case.table) if r["file"] == rel]
    assert len(logged) == 1, f"{rel} must be logged exactly once, got {logged}"
    entry = logged[0]
    assert entry["status"] == case.status, entry
    bronze = recount(lake, lake.bronze_dir(case.table), rel)
    quarantined = recount(lake, lake.quarantine_dir(case.table), rel)
    # Conservation against the hand count, with bronze and quarantine recounted from their files.
    assert entry["landed_rows"] == case.landed
    assert len(bronze) + len(quarantined) == case.landed
    assert (len(bronze), len(quarantined)) == (entry["bronze_rows"], entry["quarantined_rows"])
    assert len(bronze) == case.bronze
    if case.reason:
        reasons = [(q["_source_line"], q["reason"]) for q in quarantined]
        if case.line is not None:
            assert any(case.reason in why and line == case.line for line, why in reasons), reasons
        else:
            assert case.reason in (entry["notes"] or ""), entry
    if case.status != "ingested":
        assert entry["notes"], "a file not ingested says why"


@pytest.mark.parametrize("table", ["drawdowns", "repayments", "customers", "fund_flows", "credit_reports", "orders"])
def test_good_files_load_next_to_bad_ones(run, table):
    lake = run[0]
    good = next(c for c in CASES if c.cls == 0 and c.table == table)
    rel = (CONTRACTS[table].landing_dir(lake.landing) / good.name).relative_to(lake.landing).as_posix()
    assert len(recount(lake, lake.bronze_dir(table), rel)) == good.landed


def test_valid_unusual_values_are_read_exactly(direct):
    lake = direct[0]
    reasons = {r["blacklist_id"] for r in recount(lake, lake.bronze_dir("blacklist"), "bureau/blacklist/blacklist_20260901.csv")}
    assert reasons == {"BQ1", "BQ2", "BQ3", "BQ4"}
    text = duckdb.sql(f"SELECT blacklist_id, reason, _source_line FROM read_parquet('{lake.bronze_dir('blacklist')}/*.parquet') "
                      "WHERE blacklist_id LIKE 'BQ%' ORDER BY 1").fetchall()
    assert text == [("BQ1", "first line\nsecond line", 2), ("BQ2", "plain", 4), ("BQ3", 'a, b and "c"', 5),
                    ("BQ4", "x\n\ny", 6)]
    lines = duckdb.sql(f"SELECT loan_id, _source_line FROM read_parquet('{lake.bronze_dir('drawdowns')}/*.parquet') "
                       "WHERE loan_id LIKE 'CR%' ORDER BY 1").fetchall()
    assert lines == [("CR1", 2), ("CR2", 3), ("CR3", 4), ("CR4", 5)]


def test_time_zones_become_business_wall_clock(direct):
    lake = direct[0]
    paid = dict(duckdb.sql(f"SELECT payment_id, paid_at FROM read_parquet('{lake.bronze_dir('repayments')}/*.parquet') "
                           "WHERE payment_id LIKE 'PO%'").fetchall())
    assert paid == {"PO1": datetime(2026, 9, 1, 10), "PO2": datetime(2026, 9, 1, 10),
                    "PO3": datetime(2026, 9, 1, 22), "PO4": datetime(2026, 9, 1, 10)}
    flow = duckdb.sql(f"SELECT flow_at FROM read_parquet('{lake.bronze_dir('fund_flows')}/*.parquet') "
                      "WHERE flow_id = 'FZ1'").fetchall()
    assert flow == [(datetime(2026, 9, 1, 10),)]  # 02:00 UTC is 10:00 in Asia/Shanghai


def test_every_bad_value_is_named_without_quoting_pii(direct):
    lake = direct[0]
    q = {r["customer_id"]: r["reason"] for r in recount(lake, lake.quarantine_dir("customers"),
                                                          "internal/customers/customers_20260903.csv")}
    assert q["CP1"] == "city: holds what looks like a phone number; value withheld"
    assert q["CP2"] == "occupation: holds what looks like a national id; value withheld"
    assert "e-mail" in q["CP3"] and "bank card" in q["CP4"]
    assert q["CP5"].startswith("gender: value <value withheld> not allowed")
    assert q["CP6"] == "monthly_income: <value withheld> above maximum 5000000"
    amounts = {r["payment_id"]: r["reason"] for r in recount(lake, lake.quarantine_dir("repayments"),
                                                               "internal/repayments/repayments_20260907.csv")}
    assert amounts == {"PN1": "amount: nan is not a finite number", "PN2": "amount: inf is not a finite number",
                       "PN3": "amount: inf is not a finite number", "PN4": "amount: 1e+20 above maximum 1000000",
                       "PN5": "amount: -inf is not a finite number"}
    reports = {r["report_id"]: r["reason"] for r in recount(lake, lake.quarantine_dir("credit_reports"),
                                                              "bureau/credit_reports/credit_reports_20260902.json")}
    assert reports == {"RT1": "tradelines: expected a JSON array, got object",
                       "RT3": "public_records: expected a JSON array, got ubigint",
                       "RT4": "inquiries: expected a JSON array, got varchar"}


def test_dagster_metadata_reports_unrecognised_and_rejected_files(dagster_run):
    _, metadata, messages, _ = dagster_run
    unrecognised = metadata["drawdowns"]["unrecognised_files"].value
    assert "internal/drawdowns/drawdowns_20260909.txt" in unrecognised
    assert set(metadata["drawdowns"]["rejected_files"].value) >= {
        "internal/drawdowns/drawdowns_20260903.csv", "internal/drawdowns/drawdowns_20260905.csv",
        "internal/drawdowns/drawdowns_20260906.csv", "internal/drawdowns/drawdowns_20260910.csv"}
    assert metadata["telco"]["rejected_files"].value.keys() == {"bureau/telco/telco_20260901.csv"}
    assert any("telco_20260901.csv rejected" in m for m in messages)


def _texts_under(root: Path):
    """(path, text) of every file under root, decoded the way a reader would see it."""
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        data = path.read_bytes()
        if data[:4] == b"PAR1":
            yield path, str(pq.read_table(path).to_pylist())
        elif data[:16] == b"SQLite format 3\x00":
            con = sqlite3.connect(path)
            try:
                yield path, "\n".join(con.iterdump())
            finally:
                con.close()
        else:
            yield path, data.decode("utf-8", errors="replace")


@pytest.mark.parametrize("where", ["direct", "dagster"])
def test_no_raw_pii_anywhere_outside_landing(where, direct, dagster_run):
    lake, _, messages, home = direct if where == "direct" else dagster_run
    roots = [p for p in lake.root.iterdir() if p != lake.landing] + ([home] if home else [])
    leaks = []
    for root in roots:
        for path, text in _texts_under(root) if root.is_dir() else []:
            leaks += [(str(path), v) for v in PLANTED if v in text]
    leaks += [("progress message", v) for m in messages for v in PLANTED if v in m]
    assert not leaks
    assert home is None or any(home.rglob("*.db")), "the Dagster run storage was scanned"
