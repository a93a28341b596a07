"""The ingest protocol around the data: one ingest per table at a time (lake lock), no reader ever sees an
uncommitted batch (staged files, log as commit point, roll forward / back), the correction policy for a
changed re-delivery (named conflict, sensor fires), naive-only timestamps, GE on every bronze batch not yet passed."""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow.parquet as pq
import pytest
from filelock import FileLock

from lake.contracts import load_contracts
from lake.layout import REPO_ROOT, LakeLayout
from orchestration.automation import landing_sensor, pending_files
from orchestration.ingest import pipeline
from orchestration.ingest.pipeline import IngestBusy, ingest_log, ingest_table
from orchestration.resources import LakeResource
from tests.test_ingest_matrix import D_HEADER, KEY, NOW, R_HEADER, csv_text, dd, rp

CONTRACTS = load_contracts()


def land(lake: LakeLayout, table: str, name: str, content: bytes) -> Path:
    path = CONTRACTS[table].landing_dir(lake.landing) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def ingest(lake: LakeLayout, table: str, **kw):
    return ingest_table(CONTRACTS[table], lake, KEY, now=NOW, progress=lambda _: None, **kw)


def visible(lake: LakeLayout, folder: Path) -> list[dict]:
    """What a reader of the lake sees: the `<folder>/*.parquet` glob the dbt views and dashboards use."""
    files = sorted(folder.glob("*.parquet"))
    return pq.read_table(files).to_pylist() if files else []


def test_two_ingests_at_once_duplicate_no_key(tmp_path):
    lake = LakeLayout(root=tmp_path / "lake")
    for day in range(1, 7):
        land(lake, "drawdowns", f"drawdowns_2026090{day}.csv", csv_text(D_HEADER, *[dd(f"L{day}_{i}") for i in range(50)]))
        land(lake, "repayments", f"repayments_2026090{day}.csv", csv_text(R_HEADER, *[rp(f"P{day}_{i}") for i in range(50)]))
    go = tmp_path / "go"
    code = (
        "import sys, time, pathlib\n"
        "from lake.contracts import load_contracts\nfrom lake.layout import LakeLayout\n"
        "from orchestration.ingest.pipeline import ingest_table\n"
        f"go = pathlib.Path({str(go)!r})\n"
        "while not go.exists(): time.sleep(0.01)\n"
        f"lake = LakeLayout(root=pathlib.Path({str(lake.root)!r}))\n"
        "for t in ('drawdowns', 'repayments'):\n"
        f"    r = ingest_table(load_contracts()[t], lake, {KEY!r}, progress=lambda m: print(m, flush=True))\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    time.sleep(0.5)
    go.touch()
    outputs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    for table, key in (("drawdowns", "loan_id"), ("repayments", "payment_id")):
        rows = visible(lake, lake.bronze_dir(table))
        keys = [r[key] for r in rows]
        assert len(keys) == len(set(keys)) == 300
        files = [r["file"] for r in ingest_log(lake, table)]
        assert len(files) == len(set(files)) == 6  # every file logged once, by whichever run came first


def test_a_second_ingest_waits_then_fails_with_a_clear_message(tmp_path):
    lake = LakeLayout(root=tmp_path / "lake")
    land(lake, "drawdowns", "drawdowns_20260901.csv", csv_text(D_HEADER, dd("L1")))
    lake.ingest_lock("drawdowns").parent.mkdir(parents=True)
    with FileLock(str(lake.ingest_lock("drawdowns"))):  # another run holds the table
        with pytest.raises(IngestBusy, match=r"drawdowns: another ingest of this table is running .* Retry"):
            ingest(lake, "drawdowns", lock_timeout_s=0.2)
    assert ingest(lake, "drawdowns").bronze == 1


def test_a_crash_before_the_log_is_never_visible_and_is_rolled_back(tmp_path):
    lake = LakeLayout(root=tmp_path / "lake")
    land(lake, "drawdowns", "drawdowns_20260901.csv", csv_text(D_HEADER, dd("L1"), dd("L2"), dd("L2")))
    with pytest.raises(RuntimeError, match="simulated crash"):
        ingest(lake, "drawdowns", _crash_before_log=True)
    assert any(lake.bronze_dir("drawdowns").iterdir())  # the data was written ...
    assert visible(lake, lake.bronze_dir("drawdowns")) == []  # ... but no reader sees it
    assert visible(lake, lake.quarantine_dir("drawdowns")) == []
    result = ingest(lake, "drawdowns")
    assert (result.bronze, result.quarantined) == (2, 1)
    assert sorted(r["loan_id"] for r in visible(lake, lake.bronze_dir("drawdowns"))) == ["L1", "L2"]


def test_a_crash_after_the_log_is_rolled_forward_without_reingesting(tmp_path, monkeypatch):
    lake = LakeLayout(root=tmp_path / "lake")
    land(lake, "drawdowns", "drawdowns_20260901.csv", csv_text(D_HEADER, dd("L1"), dd("L2")))
    real_replace = os.replace

    def crash_on_publish(src, dst):
        if str(src).endswith(".parquet.staged"):
            raise OSError("simulated crash while publishing")
        real_replace(src, dst)

    monkeypatch.setattr(pipeline.os, "replace", crash_on_publish)
    with pytest.raises(OSError, match="simulated crash"):
        ingest(lake, "drawdowns")
    assert visible(lake, lake.bronze_dir("drawdowns")) == []
    monkeypatch.setattr(pipeline.os, "replace", real_replace)
    again = ingest(lake, "drawdowns")  # the log committed the batch: publish it, ingest nothing twice
    assert again.files == [] and again.skipped_files == 1
    assert sorted(r["loan_id"] for r in visible(lake, lake.bronze_dir("drawdowns"))) == ["L1", "L2"]


def test_a_changed_redelivery_is_a_named_conflict_and_the_sensor_fires(tmp_path):
    lake = LakeLayout(root=tmp_path / "lake")
    path = land(lake, "drawdowns", "drawdowns_20260901.csv", csv_text(D_HEADER, dd("L1"), dd("L2")))
    ingest(lake, "drawdowns")
    context = dg.build_sensor_context(resources={"lake": LakeResource(root=str(lake.root))})
    assert isinstance(landing_sensor(context), dg.SkipReason)
    path.write_bytes(path.read_bytes())  # same content, touched: not pending
    assert pending_files(lake) == {}
    path.write_bytes(csv_text(D_HEADER, dd("L1", amount="1500"), dd("L2"), dd("L3")))  # changed under its name
    assert pending_files(lake) == {"drawdowns": ["internal/drawdowns/drawdowns_20260901.csv"]}
    request = landing_sensor(context)
    assert isinstance(request, dg.RunRequest) and request.asset_selection == [dg.AssetKey(["bronze", "drawdowns"])]
    result = ingest(lake, "drawdowns")
    (conflict,) = result.files
    assert (conflict.status, conflict.landed, conflict.bronze, conflict.quarantined) == ("conflict", 3, 0, 3)
    assert "deliver corrections under a new file name" in conflict.notes[0]
    q = [r for r in visible(lake, lake.quarantine_dir("drawdowns")) if r["reason"].startswith("conflict")]
    assert sorted(r["_source_line"] for r in q) == [2, 3, 4]
    assert sorted(r["loan_id"] for r in visible(lake, lake.bronze_dir("drawdowns"))) == ["L1", "L2"]
    assert pending_files(lake) == {}
    # The correction under a new name: the new loan ingests, the repeated ones are named duplicates.
    land(lake, "drawdowns", "drawdowns_20260901_correction.csv", csv_text(D_HEADER, dd("L2"), dd("L3")))
    fix = ingest(lake, "drawdowns")
    assert (fix.bronze, fix.quarantined) == (1, 1)


def test_a_naive_contract_rejects_offsets(tmp_path):
    lake = LakeLayout(root=tmp_path / "lake")
    base = CONTRACTS["repayments"]
    naive = dataclasses.replace(base, columns=tuple(dataclasses.replace(c, naive=True) if c.name == "paid_at" else c
                                                    for c in base.columns))
    land(lake, "repayments", "repayments_20260901.csv",
         csv_text(R_HEADER, rp("P1"), rp("P2", paid_at="2026-09-01T02:00:00Z"), rp("P3", paid_at="2026-09-01 10:00 Asia/Tokyo")))
    result = ingest_table(naive, lake, KEY, now=NOW, progress=lambda _: None)
    assert (result.bronze, result.quarantined) == (1, 2)
    reasons = {r["payment_id"]: r["reason"] for r in visible(lake, lake.quarantine_dir("repayments"))}
    assert reasons["P2"] == reasons["P3"] == "paid_at: time zone offsets are not allowed (the contract says local time)"


def test_ge_bronze_check_reads_every_batch_not_yet_passed_and_recounts_keys_across_bronze(tmp_path):
    """The row suite judges the batches that have not passed it yet (a daily check reads the new day, not the
    history; a batch whose check failed, or that passed other rules, is judged again), the delivery suite the
    latest run's files, and the primary key is recounted over all of bronze."""
    from orchestration.quality_checks import bronze_to_validate, duplicate_keys, record_validated

    lake, suite = LakeLayout(root=tmp_path / "lake"), "rules-v1"
    land(lake, "drawdowns", "drawdowns_20260901.csv", csv_text(D_HEADER, dd("L1"), dd("L2")))
    ingest(lake, "drawdowns")
    first = bronze_to_validate(lake, "drawdowns", suite)
    assert sorted(first.rows["loan_id"]) == ["L1", "L2"] and len(first.batch_ids) == 1
    record_validated(lake, "drawdowns", suite, first.batch_ids)        # what a passing check does
    land(lake, "drawdowns", "drawdowns_20260902.csv", csv_text(D_HEADER, dd("L3")))
    ingest(lake, "drawdowns")
    second = bronze_to_validate(lake, "drawdowns", suite)
    assert list(second.log["file"]) == ["internal/drawdowns/drawdowns_20260902.csv"]  # the delivery judged
    assert sorted(second.rows["loan_id"]) == ["L3"]                     # not the day already passed
    # the rules changed (a tightened contract): everything is judged again under them
    assert sorted(bronze_to_validate(lake, "drawdowns", "rules-v2").rows["loan_id"]) == ["L1", "L2", "L3"]
    land(lake, "drawdowns", "drawdowns_20260903.csv", csv_text(D_HEADER, dd("L4")))   # day 2 never passed
    ingest(lake, "drawdowns")
    third = bronze_to_validate(lake, "drawdowns", suite)
    assert list(third.log["file"]) == ["internal/drawdowns/drawdowns_20260903.csv"]
    assert sorted(third.rows["loan_id"]) == ["L3", "L4"] and third.batch_ids == sorted(third.batch_ids)
    record_validated(lake, "drawdowns", suite, third.batch_ids)
    assert bronze_to_validate(lake, "drawdowns", suite).batch_ids == []
    assert lake.ge_validated_batches("drawdowns").read_text().split() == ["suite", suite, *sorted(first.batch_ids + third.batch_ids)]
    assert duplicate_keys(lake, CONTRACTS["drawdowns"]).success
    # a key twice in bronze behind the ingest's back (the ingest quarantines a repeat): recounted by DuckDB
    (oldest, *_) = sorted(lake.bronze_dir("drawdowns").glob("batch_*.parquet"))
    pq.write_table(pq.read_table(oldest).slice(0, 1), oldest.with_name("batch_99999999T000000_000000zzzz.parquet"))
    dup = duplicate_keys(lake, CONTRACTS["drawdowns"])
    assert not dup.success and dup.failed[0]["unexpected_count"] == 1 and dup.failed[0]["sample"] == ["L1"]
    assert bronze_to_validate(lake, "drawdowns", suite).batch_ids == ["batch_99999999T000000_000000zzzz"]
    assert duckdb.sql(f"SELECT count(*) FROM read_parquet('{lake.bronze_dir('drawdowns')}/*.parquet')").fetchall() == [(5,)]


def test_bronze_check_passes_an_empty_delivery_and_judges_table_rules_on_the_whole_table(tmp_path):
    """A header-only file the day after a good one: no rows to judge and the table-level rule (mean annual_rate
    between 0.05 and 0.36, orchestration/expectations/bronze.yaml) is about all of bronze, so the check passes;
    a day of zero rates pulls the whole table's mean below 0.05 and fails it."""
    from tests.lakehelpers import run_graph

    def check(lake):
        result = run_graph(lake, dg.AssetSelection.assets(["bronze", "drawdowns"]))
        (evaluation,) = [e.asset_check_evaluation_data for e in result.all_events
                         if e.event_type_value == "ASSET_CHECK_EVALUATION"]
        return evaluation

    lake = LakeLayout(root=tmp_path / "lake")
    land(lake, "drawdowns", "drawdowns_20260901.csv", csv_text(D_HEADER, dd("L1"), dd("L2")))
    assert check(lake).passed
    land(lake, "drawdowns", "drawdowns_20260902.csv", csv_text(D_HEADER))
    empty_day = check(lake)
    assert empty_day.passed, empty_day.description
    assert empty_day.metadata["rows_validated"].value == 0
    land(lake, "drawdowns", "drawdowns_20260903.csv", csv_text(D_HEADER, *[dd(f"Z{i}", annual_rate="0") for i in range(6)]))
    low = check(lake)
    assert not low.passed and "expect_column_mean_to_be_between(annual_rate)" in low.description


def test_conservation_view_recounts_the_files_not_the_log(tmp_path, monkeypatch):
    from dashboards.page_modules import data_quality as dq

    lake = LakeLayout(root=tmp_path / "lake")
    monkeypatch.setenv("LAKE_ROOT", str(lake.root))
    land(lake, "drawdowns", "drawdowns_20260901.csv", csv_text(D_HEADER, dd("L1"), dd("L2"), dd("L2")))
    land(lake, "drawdowns", "drawdowns_20260902.csv", csv_text(D_HEADER + ",amount", dd("L3") + ",1"))  # rejected whole
    ingest(lake, "drawdowns")

    def view():
        groups = [dq._files(folder, "*.parquet") for folder in (lake.ingest_log, lake.bronze, lake.quarantine)]
        return dq.conservation(*groups, (tmp_path.stat().st_mtime_ns, time.time())).set_index("table").loc["drawdowns"]

    ok = view()
    assert (ok["landed"], ok["bronze"], ok["quarantined"], ok["files_not_recounted"], ok["conserved"]) == (4, 2, 2, 0, True)
    # Rows vanish from bronze behind the log's back: the log alone would still balance, the recount does not.
    (batch,) = lake.bronze_dir("drawdowns").glob("batch_*.parquet")
    table = pq.read_table(batch)
    pq.write_table(table.slice(0, 1), batch)
    off = view()
    assert (off["landed"], off["bronze"], off["bronze_in_log"], off["files_not_recounted"], off["conserved"]) == (4, 1, 2, 1, False)


def test_the_sensor_sees_every_name_and_the_ingest_accounts_for_each(tmp_path):
    import gzip

    lake = LakeLayout(root=tmp_path / "lake")
    land(lake, "repayments", "repayments_20260901.CSV", csv_text(R_HEADER, rp("P1")))
    land(lake, "repayments", "repayments_20260902.csv.gz", gzip.compress(csv_text(R_HEADER, rp("P2"))))
    land(lake, "repayments", "repayments_20260903.xlsx", b"PK\x03\x04 not a csv")
    assert pending_files(lake) == {"repayments": ["internal/repayments/repayments_20260901.CSV",
                                                  "internal/repayments/repayments_20260902.csv.gz",
                                                  "internal/repayments/repayments_20260903.xlsx"]}
    result = ingest(lake, "repayments")
    assert {f.file.rsplit("/", 1)[1]: (f.status, f.bronze) for f in result.files} == {
        "repayments_20260901.CSV": ("ingested", 1), "repayments_20260902.csv.gz": ("ingested", 1),
        "repayments_20260903.xlsx": ("unrecognised", 0)}
    assert pending_files(lake) == {}  # the unrecognised file is logged once, not re-reported every tick


def test_a_large_backlog_is_ingested_in_bounded_batches_with_the_same_result(tmp_path, monkeypatch):
    """With INGEST_BATCH_BYTES below the backlog, files are committed in several batches of at most that many
    landed bytes, in arrival order; bronze and quarantine hold exactly the rows of one big batch (a key
    repeated in a later delivery is quarantined as a duplicate either way), and the quality check judges the
    run's batches together."""
    from orchestration.quality_checks import bronze_to_validate

    def deliver(lake):
        for day in range(1, 9):
            path = land(lake, "drawdowns", f"drawdowns_2026090{day}.csv",
                        csv_text(D_HEADER, *[dd(f"L{day}_{i}") for i in range(40)], dd("L1_0"), dd("bad", amount="x")))
            os.utime(path, ns=(day * 10**9, day * 10**9))  # arrival order = day order
        return sum(p.stat().st_size for p in CONTRACTS["drawdowns"].landing_dir(lake.landing).iterdir())

    one, many = LakeLayout(root=tmp_path / "one"), LakeLayout(root=tmp_path / "many")
    total = deliver(one)
    assert deliver(many) == total
    single = ingest(one, "drawdowns")
    monkeypatch.setenv(pipeline.BATCH_BYTES_ENV, str(total // 3))
    several = ingest(many, "drawdowns")

    assert single.batch_ids == [single.batch_id] and len(several.batch_ids) >= 3
    logs = sorted(many.ingest_log_dir("drawdowns").glob("batch_*.parquet"))
    assert [f.stem for f in logs] == several.batch_ids
    sizes = [sum(r["size_bytes"] for r in pq.read_table(f).to_pylist()) for f in logs]
    assert all(s <= total // 3 for s in sizes) and sum(sizes) == total
    first_files = [pq.read_table(f).column("file").to_pylist() for f in logs]
    assert sorted(sum(first_files, [])) == sum(first_files, [])  # committed in arrival order
    assert (several.landed, several.bronze, several.quarantined) == (single.landed, single.bronze, single.quarantined)
    assert single.bronze == 8 * 40 and single.quarantined == 8 + 8  # a bad amount a day; L1_0 again every day

    def rows(lake, folder, cols):
        return sorted(tuple(r[c] for c in cols) for r in visible(lake, folder(lake)))

    assert rows(many, lambda l: l.bronze_dir("drawdowns"), ["loan_id", "_source_file", "_source_line"]) == \
        rows(one, lambda l: l.bronze_dir("drawdowns"), ["loan_id", "_source_file", "_source_line"])
    # the same rows quarantined for the same rule; a repeat of a key from an earlier batch of the run reads
    # "already in bronze" where one batch says "repeated within this delivery"
    def quarantined(lake):
        return [(f, n, reason.split(":")[0]) for f, n, reason in
                rows(lake, lambda l: l.quarantine_dir("drawdowns"), ["_source_file", "_source_line", "reason"])]

    assert quarantined(many) == quarantined(one)
    todo = bronze_to_validate(many, "drawdowns", "any-rules")
    assert len(todo.log) == 8 and len(todo.rows) == single.bronze  # the run's delivery, all of its batches
    assert todo.batch_ids == several.batch_ids
    monkeypatch.setenv(pipeline.BATCH_BYTES_ENV, "lots")
    with pytest.raises(ValueError, match="INGEST_BATCH_BYTES='lots' is not a number of bytes"):
        ingest(many, "drawdowns")
