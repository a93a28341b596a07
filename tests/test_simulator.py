"""Tests of the source-system simulator: determinism, contract conformance (checked with
DuckDB / pyarrow / json directly, independent of any ingestion code), world sanity, mess."""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest

from simulator import generate_world
from simulator.contracts import load_contracts
from simulator.mess import KINDS, inject_mess

ROOT = Path(__file__).resolve().parents[1]
CONTRACTS = load_contracts(ROOT / "lake" / "contracts")
END = "2026-09-30"
TS_RE = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"
DATE_RE = r"^\d{4}-\d{2}-\d{2}$"
FILE_RE = re.compile(r"^(?P<table>[a-z_]+)_(?P<day>\d{8})\.(?P<ext>csv|jsonl|json|parquet)$")
EXT = {"csv": "csv", "jsonl": "jsonl", "json": "json", "parquet": "parquet"}


def _world(root: Path, customers: int, months: int, seed: int):
    return generate_world(root / "landing", root / "truth", customers=customers, months=months,
                          seed=seed, end_date=END, log=None)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    summary = _world(root, 600, 4, seed=7)
    return root, summary


@pytest.fixture(scope="module")
def medium(tmp_path_factory):
    """3000 customers over 24 months: enough loans for rates to mean something."""
    root = tmp_path_factory.mktemp("medium")
    summary = _world(root, 3000, 24, seed=11)
    return root, summary


def _hashes(landing: Path) -> dict[str, str]:
    return {str(p.relative_to(landing)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(landing.rglob("*")) if p.is_file()}


def _files(landing: Path, table: str) -> list[Path]:
    spec = CONTRACTS[table]
    return sorted((landing / spec["system"] / table).glob(f"{table}_*.{EXT[spec['format']]}"))


def _relation(con, landing: Path, table: str) -> str:
    """A DuckDB view of all of a table's files with every column as text (nulls kept)."""
    spec = CONTRACTS[table]
    files = [str(f) for f in _files(landing, table)]
    cols = {c["name"]: "VARCHAR" for c in spec["columns"]}
    if spec["format"] == "csv":
        src = f"read_csv({files}, header=true, columns={cols}, quote='\"', escape='\"')"
    elif spec["format"] == "jsonl":
        src = f"read_json({files}, format='newline_delimited', columns={cols})"
    elif spec["format"] == "parquet":
        casts = ", ".join(f'CAST("{c}" AS VARCHAR) AS "{c}"' for c in cols)
        src = f"(SELECT {casts} FROM read_parquet({files}))"
    else:
        return ""
    name = f"v_{table}"
    con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM {src}")
    return name


# --------------------------------------------------------------------------- determinism
def test_same_seed_gives_identical_files(tiny, tmp_path):
    root, _ = tiny
    _world(tmp_path, 600, 4, seed=7)
    a, b = _hashes(root / "landing"), _hashes(tmp_path / "landing")
    assert a.keys() == b.keys()
    assert a == b


def test_different_seed_gives_different_files(tiny, tmp_path):
    root, _ = tiny
    _world(tmp_path, 600, 4, seed=8)
    a, b = _hashes(root / "landing"), _hashes(tmp_path / "landing")
    common = a.keys() & b.keys()
    assert sum(a[k] != b[k] for k in common) > 0.9 * len(common)


# --------------------------------------------------------------------------- layout / contract
def test_every_table_lands_in_daily_files(tiny):
    root, summary = tiny
    landing = root / "landing"
    for table, spec in CONTRACTS.items():
        files = _files(landing, table)
        assert files, table
        assert summary["tables"][table]["files"] == len(files)
        for f in files:
            m = FILE_RE.match(f.name)
            assert m and m["table"] == table and m["ext"] == EXT[spec["format"]], f
            assert f.parent == landing / spec["system"] / table
    others = [p for p in landing.rglob("*") if p.is_file() and not FILE_RE.match(p.name)]
    assert not others


def test_columns_equal_contract_in_order(tiny):
    root, _ = tiny
    for table, spec in CONTRACTS.items():
        names = [c["name"] for c in spec["columns"]]
        for f in _files(root / "landing", table):
            if spec["format"] == "csv":
                assert f.read_text(encoding="utf-8").split("\n", 1)[0] == ",".join(names), f
            elif spec["format"] == "jsonl":
                for line in f.read_text(encoding="utf-8").splitlines():
                    assert list(json.loads(line)) == names, f
            elif spec["format"] == "json":
                doc = json.loads(f.read_text(encoding="utf-8"))
                assert list(doc) == [spec["records_path"]]
                for rec in doc[spec["records_path"]]:
                    assert list(rec) == names, f
            else:
                schema = pq.read_schema(f)
                assert schema.names == names, f
                types = {c["name"]: c["type"] for c in spec["columns"]}
                expect = {"varchar": "string", "double": "double", "integer": "int32",
                          "date": "date32[day]", "timestamp": "timestamp[us]"}
                assert [str(t) for t in schema.types] == [expect[types[n]] for n in names], f


@pytest.mark.parametrize("table", [t for t in CONTRACTS if CONTRACTS[t]["format"] != "json"])
def test_values_obey_contract(tiny, table):
    root, _ = tiny
    spec = CONTRACTS[table]
    con = duckdb.connect()
    v = _relation(con, root / "landing", table)
    q = lambda sql: con.execute(sql).fetchone()[0]  # noqa: E731
    n = q(f"SELECT count(*) FROM {v}")
    assert n > 0
    pk = ", ".join(spec["primary_key"])
    assert q(f"SELECT count(*) FROM (SELECT DISTINCT {pk} FROM {v})") == n, "primary key not unique"
    for col in spec["columns"]:
        c = f'"{col["name"]}"'
        if col.get("required"):
            assert q(f"SELECT count(*) FROM {v} WHERE {c} IS NULL") == 0, col
        if "allowed" in col:
            allowed = [str(a) for a in col["allowed"]]
            assert q(f"SELECT count(*) FROM {v} WHERE {c} IS NOT NULL AND {c} NOT IN {tuple(allowed)}") == 0, col
        t = col["type"]
        if t == "timestamp":
            assert q(f"SELECT count(*) FROM {v} WHERE {c} IS NOT NULL AND NOT regexp_matches({c}, '{TS_RE}')") == 0, col
            if col.get("not_future"):
                assert q(f"SELECT max(CAST({c} AS TIMESTAMP)) FROM {v}") <= np.datetime64(f"{END}T23:59:59").astype(object)
        elif t == "date":
            assert q(f"SELECT count(*) FROM {v} WHERE {c} IS NOT NULL AND NOT regexp_matches({c}, '{DATE_RE}')") == 0, col
        elif t in ("double", "integer"):
            cast = "DOUBLE" if t == "double" else "INTEGER"
            assert q(f"SELECT count(*) FROM {v} WHERE {c} IS NOT NULL AND TRY_CAST({c} AS {cast}) IS NULL") == 0, col
            if "min" in col:
                assert q(f"SELECT count(*) FROM {v} WHERE CAST({c} AS DOUBLE) < {col['min']}") == 0, col
            if "max" in col:
                assert q(f"SELECT count(*) FROM {v} WHERE CAST({c} AS DOUBLE) > {col['max']}") == 0, col
        elif t == "boolean":
            assert q(f"SELECT count(*) FROM {v} WHERE {c} IS NOT NULL AND {c} NOT IN ('true', 'false')") == 0, col
        if t == "date" and "min" in col:
            assert q(f"SELECT count(*) FROM {v} WHERE {c} < '{col['min']}'") == 0, col


@pytest.mark.parametrize("table", list(CONTRACTS))
def test_file_day_is_event_day(tiny, table):
    """Each file holds the records of its day (the schedule: of the loan's disbursement day)."""
    root, _ = tiny
    landing = root / "landing"
    spec = CONTRACTS[table]
    et = spec["event_time"]
    files = [str(f) for f in _files(landing, table)]
    day_of_file = r"regexp_extract(filename, '_(\d{8})\.[a-z]+$', 1)"
    con = duckdb.connect()
    if spec["format"] == "csv":
        sql = f"SELECT count(*) FROM read_csv({files}, all_varchar=true, filename=true) WHERE strftime(CAST({et} AS TIMESTAMP), '%Y%m%d') <> {day_of_file}"
    elif spec["format"] == "jsonl":
        sql = f"SELECT count(*) FROM read_json({files}, format='newline_delimited', filename=true) WHERE strftime(CAST({et} AS TIMESTAMP), '%Y%m%d') <> {day_of_file}"
    elif table == "repayment_schedule":
        sql = f"""SELECT count(*) FROM read_parquet({files}, filename=true) s
                  JOIN read_csv('{landing}/internal/drawdowns/*.csv') d USING (loan_id)
                  WHERE strftime(d.drawdown_at, '%Y%m%d') <> {day_of_file.replace('filename', 's.filename')}"""
    elif spec["format"] == "parquet":
        sql = f"SELECT count(*) FROM read_parquet({files}, filename=true) WHERE strftime({et}, '%Y%m%d') <> {day_of_file}"
    else:
        bad = 0
        for f in files:
            day = FILE_RE.match(Path(f).name)["day"]
            recs = json.loads(Path(f).read_text(encoding="utf-8"))[spec["records_path"]]
            bad += sum(r[et][:10].replace("-", "") != day for r in recs)
        assert bad == 0
        return
    assert con.execute(sql).fetchone()[0] == 0


def test_credit_reports_nested_structure(tiny):
    root, _ = tiny
    spec = CONTRACTS["credit_reports"]
    inst = {"bank", "consumer_finance", "microloan", "credit_card_issuer", "p2p"}
    n_reports = n_tl = n_inq = 0
    ids = set()
    for f in _files(root / "landing", "credit_reports"):
        for r in json.loads(f.read_text(encoding="utf-8"))[spec["records_path"]]:
            n_reports += 1
            assert r["report_id"] not in ids
            ids.add(r["report_id"])
            assert r["customer_id"] and re.fullmatch(r"\d{17}[\dX]", r["national_id"])
            assert re.fullmatch(TS_RE[1:-1], r["reported_at"])
            if r["tradelines"] is None:
                continue
            for t in r["tradelines"]:
                n_tl += 1
                assert t["institution_type"] in inst
                assert t["product"] in {"credit_card", "mortgage", "auto_loan", "consumer_loan", "microloan"}
                assert t["status"] in {"normal", "closed", "overdue", "written_off"}
                assert re.fullmatch(r"[N1-7C*]{24}", t["monthly_status"]), t
                assert t["opened_on"] <= r["reported_at"][:10]
                assert isinstance(t["credit_limit"], (int, float)) and isinstance(t["balance"], (int, float))
            for q in r["inquiries"]:
                n_inq += 1
                assert q["institution_type"] in inst and q["institution_id"]
                assert q["reason"] in {"loan_approval", "credit_card_approval", "post_loan_management", "guarantee_check"}
                assert q["inquired_at"] < r["reported_at"]
            for pr in r["public_records"]:
                assert pr["record_type"] in {"court_enforcement", "tax_arrears", "civil_judgment"}
                assert pr["filed_on"] <= r["reported_at"][:10]
    assert n_reports > 0 and n_tl > 0 and n_inq > 0


def test_pii_formats(tiny):
    root, _ = tiny
    con = duckdb.connect()
    v = _relation(con, root / "landing", "customers")
    bad = con.execute(f"""SELECT
        count(*) FILTER (WHERE NOT regexp_matches(national_id, '^\\d{{17}}[\\dX]$')),
        count(*) FILTER (WHERE NOT regexp_matches(phone, '^1(3|5|8)\\d{{9}}$')),
        count(*) FILTER (WHERE bank_card IS NOT NULL AND NOT regexp_matches(bank_card, '^\\d{{16,19}}$'))
        FROM {v}""").fetchone()
    assert bad == (0, 0, 0)


# --------------------------------------------------------------------------- truth
def test_truth_is_outside_landing(tiny):
    root, summary = tiny
    landing, truth = root / "landing", root / "truth"
    assert not any("truth" in p.name for p in landing.rglob("*"))
    for name in ("customers_truth.parquet", "loans_truth.parquet", "world.json"):
        assert (truth / name).exists()
    ct = pq.read_table(truth / "customers_truth.parquet")
    assert ct.column_names == ["customer_id", "z", "true_income", "ring_id", "divert_intent"]
    lt = pq.read_table(truth / "loans_truth.parquet")
    assert lt.column_names[:7] == ["loan_id", "customer_id", "true_pd", "defaulted",
                                   "default_installment", "is_ring", "diverted"]
    assert json.loads((truth / "world.json").read_text())["params"]["customers"] == 600
    with pytest.raises(ValueError):
        generate_world(landing, landing / "truth", customers=60, months=1, log=None)


# --------------------------------------------------------------------------- world sanity
def test_rates_are_sane(medium):
    root, summary = medium
    con = duckdb.connect()
    lt = root / "truth" / "loans_truth.parquet"
    rate, n = con.execute(f"SELECT avg(defaulted::INT), count(*) FROM '{lt}' WHERE mob6_observed").fetchone()
    assert n > 1000
    assert 0.02 <= rate <= 0.12
    apps = _relation(con, root / "landing", "applications")
    approval = con.execute(f"SELECT avg((decision = 'approved')::INT) FROM {apps}").fetchone()[0]
    assert 0.5 <= approval <= 0.8
    ring_rate = con.execute(f"SELECT avg(defaulted::INT) FROM '{lt}' WHERE mob6_observed AND is_ring").fetchone()[0]
    assert ring_rate is None or ring_rate > 0.5


def test_truth_default_matches_landing_events(medium):
    """Allocating payments oldest-installment-first must reproduce the truth label exactly."""
    root, _ = medium
    landing, truth = root / "landing", root / "truth"
    con = duckdb.connect()
    rows = con.execute(f"""
        WITH s AS (SELECT loan_id, installment_no, due_date, principal_due + interest_due AS due,
                          sum(principal_due + interest_due) OVER (PARTITION BY loan_id ORDER BY installment_no) AS cum_due
                   FROM read_parquet('{landing}/internal/repayment_schedule/*.parquet')),
             p AS (SELECT loan_id, paid_at, sum(amount) OVER (PARTITION BY loan_id ORDER BY paid_at, payment_id) AS cum_paid
                   FROM read_csv('{landing}/internal/repayments/*.csv')),
             d AS (SELECT loan_id, drawdown_at FROM read_csv('{landing}/internal/drawdowns/*.csv')),
             paid AS (SELECT s.loan_id, s.due_date, min(p.paid_at)::DATE AS paid_day
                      FROM s LEFT JOIN p ON p.loan_id = s.loan_id AND p.cum_paid >= s.cum_due - 0.005
                      GROUP BY ALL),
             lab AS (SELECT loan_id, bool_or(due_date + 30 <= least(last_day(drawdown_at::DATE + INTERVAL 6 MONTH)::DATE, DATE '{END}')
                                             AND coalesce(paid_day, DATE '2100-01-01') - due_date >= 30) AS bad
                     FROM paid JOIN d USING (loan_id) GROUP BY 1)
        SELECT count(*) FILTER (WHERE t.defaulted <> lab.bad), count(*), sum(t.defaulted::INT)
        FROM read_parquet('{truth}/loans_truth.parquet') t JOIN lab USING (loan_id)""").fetchone()
    mismatches, n, bad = rows
    assert n > 1000 and bad > 0
    assert mismatches == 0


def test_ring_members_share_devices(medium):
    root, _ = medium
    con = duckdb.connect()
    ev = _relation(con, root / "landing", "app_events")
    shared = con.execute(f"""
        WITH r AS (SELECT customer_id, ring_id FROM '{root}/truth/customers_truth.parquet' WHERE ring_id IS NOT NULL),
             d AS (SELECT DISTINCT e.device_id, r.ring_id, e.customer_id FROM {ev} e JOIN r USING (customer_id))
        SELECT count(*) FROM (SELECT device_id FROM d GROUP BY device_id HAVING count(DISTINCT customer_id) > 1)""").fetchone()[0]
    assert shared > 0
    # and sharing is rare outside rings
    normal = con.execute(f"""
        WITH r AS (SELECT customer_id FROM '{root}/truth/customers_truth.parquet' WHERE ring_id IS NULL),
             d AS (SELECT DISTINCT e.device_id, e.customer_id FROM {ev} e JOIN r USING (customer_id)),
             s AS (SELECT device_id FROM d GROUP BY 1 HAVING count(*) > 1)
        SELECT (SELECT count(*) FROM s) / (SELECT count(DISTINCT device_id) FROM d)""").fetchone()[0]
    assert normal < 0.05


def test_schedule_principal_sums_to_amount(medium):
    root, _ = medium
    con = duckdb.connect()
    bad, n = con.execute(f"""
        WITH s AS (SELECT loan_id, sum(principal_due) AS principal, count(*) AS k, min(installment_no) AS first,
                          max(installment_no) AS last
                   FROM read_parquet('{root}/landing/internal/repayment_schedule/*.parquet') GROUP BY 1)
        SELECT count(*) FILTER (WHERE abs(s.principal - d.amount) > 0.005 OR s.k <> d.term_months
                                 OR s.first <> 1 OR s.last <> d.term_months), count(*)
        FROM read_csv('{root}/landing/internal/drawdowns/*.csv') d LEFT JOIN s USING (loan_id)""").fetchone()
    assert n > 1000 and bad == 0


def test_prohibited_fund_flows_concentrate_on_diverters(medium):
    root, _ = medium
    con = duckdb.connect()
    share_div, share_other = con.execute(f"""
        WITH f AS (SELECT loan_id, sum(amount) FILTER (WHERE mcc IN ('6211','7995','6513','6051')) / sum(amount) AS bad
                   FROM read_parquet('{root}/landing/payments/fund_flows/*.parquet') GROUP BY 1)
        SELECT avg(coalesce(bad, 0)) FILTER (WHERE c.divert_intent), avg(coalesce(bad, 0)) FILTER (WHERE NOT c.divert_intent)
        FROM f JOIN '{root}/truth/loans_truth.parquet' l USING (loan_id)
               JOIN '{root}/truth/customers_truth.parquet' c ON c.customer_id = l.customer_id""").fetchone()
    assert share_div > 0.4 and share_other < 0.05


# --------------------------------------------------------------------------- mess
@pytest.fixture()
def messy(tiny, tmp_path):
    root, _ = tiny
    landing = tmp_path / "landing"
    shutil.copytree(root / "landing", landing)
    return landing


def _data_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()[1:]


def test_mess_kinds_do_what_they_say(messy):
    import csv

    before = _hashes(messy)
    done = inject_mess(messy, list(KINDS), seed=3)
    assert [d["kind"] for d in done] == list(KINDS)
    assert len({d["file"] for d in done}) == len(done)  # one file each
    by = {d["kind"]: d for d in done}
    path = {k: Path(d["file"]) for k, d in by.items()}
    for d in done:
        assert d["description"] and d["table"] == KINDS[d["kind"]]

    header = lambda p: next(csv.reader([p.read_text(encoding="utf-8").splitlines()[0]]))  # noqa: E731
    rows = lambda p: list(csv.reader(_data_lines(p)))  # noqa: E731

    p = path["malformed_rows"]
    assert sum(len(r) != len(header(p)) for r in rows(p)) == by["malformed_rows"]["rows_affected"] == 3

    p = path["wrong_types"]
    h = header(p)
    assert sum(r[h.index("amount")] == "12k" for r in rows(p)) == 1
    assert sum(r[h.index("drawdown_at")] == "2025-02-30 25:61:00" for r in rows(p)) == 1

    p = path["duplicates"]
    assert str(p.relative_to(messy)) not in before
    dup_ids = {r[0] for r in rows(p)}
    others = {r[0] for f in _files(messy, "repayments") if f != p for r in rows(f)}
    assert len(dup_ids) == by["duplicates"]["rows_affected"] and dup_ids <= others

    p = path["late_file"]
    assert str(p.relative_to(messy)) not in before
    recs = [json.loads(x) for x in p.read_text(encoding="utf-8").splitlines()]
    assert len(recs) == by["late_file"]["rows_affected"]
    first_day = min(FILE_RE.match(f.name)["day"] for f in _files(messy, "orders") if f != p)
    assert FILE_RE.match(p.name)["day"] < first_day
    assert all(r["order_id"].startswith("LATE") for r in recs)

    p = path["schema_drift"]
    assert header(p) == [c["name"] for c in CONTRACTS["app_events"]["columns"]] + ["app_version_code"]

    p = path["bad_encoding"]
    raw = p.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    bad_lines = 0
    for line in raw.splitlines():
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            line.decode("gbk")
            bad_lines += 1
    assert bad_lines == by["bad_encoding"]["rows_affected"]

    p = path["truncated_file"]
    assert not p.read_bytes().endswith(b"\n")
    assert len(rows(p)[-1]) < len(header(p)) or p.read_text().splitlines()[-1].count('"') % 2 == 1

    assert path["empty_file"].stat().st_size == 0
    assert str(path["empty_file"].relative_to(messy)) not in before

    p = path["broken_json"]
    broken = 0
    for line in p.read_text(encoding="utf-8").splitlines():
        try:
            json.loads(line)
        except json.JSONDecodeError:
            broken += 1
    assert broken == 1

    p = path["nulls_in_required"]
    h = header(p)
    empties = sum(r[h.index("customer_id")] == "" or r[h.index("initial_limit")] == "" for r in rows(p))
    assert empties == by["nulls_in_required"]["rows_affected"] == 3

    p = path["negative_amounts"]
    h = header(p)
    assert sum(float(r[h.index("amount")]) < 0 for r in rows(p)) == 3

    p = path["future_dates"]
    recs = [json.loads(x) for x in p.read_text(encoding="utf-8").splitlines()]
    assert sum(r["ordered_at"].startswith("2099") for r in recs) == 3

    # nothing else changed
    after = _hashes(messy)
    touched = {str(Path(d["file"]).relative_to(messy)) for d in done}
    assert {k for k in before if before[k] != after.get(k)} <= touched


def test_cli_runs_and_injects_mess(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "simulator", "--customers", "200", "--months", "2", "--seed", "5",
         "--landing", str(tmp_path / "landing"), "--truth", str(tmp_path / "truth"), "--mess", "empty_file"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "customers_per_s" in out.stdout and "mess empty_file" in out.stdout
    assert (tmp_path / "truth" / "world.json").exists()
