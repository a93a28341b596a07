"""Data quality page: latest Great Expectations results per bronze table, quarantined rows by table and failed
check over time, freshness of each source and ingest conservation (landed = bronze + quarantined).

Reads, through `dashboards.data` (paths from the lake layout, local or S3), the Great Expectations results
(`_meta/ge_results/bronze/<table>/*.json`), quarantine, ingest log and bronze Parquet files; file lists are
bound parameters. Only aggregates are shown: never quarantined rows, and unexpected-value samples of
identifier columns are hidden.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import PurePosixPath

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import data

TABLE_RE = re.compile(r"^[a-z][a-z0-9_]*$")
# the kinds of failed check the ingest writes into `reason` (orchestration/ingest/validate.py, pipeline.py)
REASON_KINDS = ("required value missing|cannot read|not allowed|below minimum|above maximum|in the future|"
                "duplicate key|malformed row|bad encoding|broken JSON|unreadable file|not a finite number|"
                "expected a JSON|holds what looks like a [a-z -]+|time zone offsets are not allowed|"
                "file rejected whole|conflict")
# samples of unexpected values are hidden for identifier / personal columns
SENSITIVE = re.compile(r"(customer_id|counterparty_id|_token$|name|phone|national|email|address|device_id|^ip$|wifi_mac)")
FRESH_H, STALE_H = 24.0, 72.0


def _files(base, pattern: str) -> dict[str, list[str]]:
    """{table: [files]} for base/<table>/<pattern>, tables with at least one file."""
    return data.files(base, pattern, folder_pattern=TABLE_RE.pattern)


def _fingerprint(groups: dict[str, list[str]]) -> tuple:
    return data.fingerprint(data.path(f) for fs in groups.values() for f in fs)


def _name(path: str) -> str:
    return PurePosixPath(path).name


# ----------------------------------------------------------------------------------------- Great Expectations


def _sample(column: str | None, values: list) -> str:
    if not values:
        return ""
    if column and SENSITIVE.search(column):
        return "(hidden: identifier column)"
    text = ", ".join(str(v) for v in values[:5])
    return text if len(text) <= 200 else text[:197] + "..."


@st.cache_data(ttl=60, show_spinner=False)
def ge_results(files: dict[str, list[str]], fingerprint: tuple) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The latest run of each (table, suite): a summary row, and one row per failed expectation."""
    latest: dict[tuple[str, str], tuple[str, dict]] = {}
    for table, paths in files.items():
        for path in paths:  # file names are run timestamps: sorted oldest first, later runs win
            doc = data.read_json(data.path(path))
            if not doc:
                continue
            latest[(table, doc.get("suite_name") or "?")] = (path, doc)
    summary, failed = [], []
    for (table, suite), (path, doc) in sorted(latest.items()):
        results = doc.get("results") or []
        stats = doc.get("statistics") or {}
        stem = PurePosixPath(path).stem
        run_at = pd.to_datetime(stem[:15], format="%Y%m%dT%H%M%S", errors="coerce")
        n_failed = sum(1 for r in results if not r.get("success"))
        summary.append({"table": table, "suite": suite, "status": "passed" if doc.get("success") else "FAILED",
                        "success": bool(doc.get("success")),
                        "expectations": stats.get("evaluated_expectations", len(results)), "failed": n_failed,
                        "run_at": run_at, "result_file": _name(path)})
        for r in results:
            if r.get("success"):
                continue
            cfg = r.get("expectation_config") or {}
            kw = cfg.get("kwargs") or {}
            res = r.get("result") or {}
            column = kw.get("column") or ", ".join(kw.get("column_list") or [])
            args = {k: v for k, v in kw.items() if k not in ("batch_id", "column", "column_list")}
            exc = (r.get("exception_info") or {}).get("exception_message")
            failed.append({"table": table, "suite": suite, "expectation": cfg.get("type") or cfg.get("expectation_type"),
                           "column": column or None, "arguments": json.dumps(args, default=str) if args else "",
                           "unexpected_count": res.get("unexpected_count"),
                           "unexpected_percent": res.get("unexpected_percent"),
                           "observed_value": None if res.get("observed_value") is None else str(res.get("observed_value")),
                           "sample": _sample(column, res.get("partial_unexpected_list") or []),
                           "error": exc or ""})
    return pd.DataFrame(summary), pd.DataFrame(failed, columns=[
        "table", "suite", "expectation", "column", "arguments", "unexpected_count", "unexpected_percent",
        "observed_value", "sample", "error"])


# ------------------------------------------------------------------------------------- parquet aggregates


def _union(con, files: dict[str, list[str]], select: str, name: str) -> None:
    """A temp table `name` with `select` over every table's files plus a `tbl` column (files are bound)."""
    con.execute(f"CREATE TEMP TABLE {name} (tbl VARCHAR, batch VARCHAR, {select.split('|')[1]})")
    cols = select.split("|")[0]
    for table, paths in files.items():
        con.execute(f"INSERT INTO {name} SELECT $t, regexp_extract(filename, '(batch_[0-9]{{8}}T[0-9]{{6}})', 1), {cols} "
                    "FROM read_parquet($files, union_by_name = true, filename = true)",
                    {"t": table, "files": paths})


@st.cache_data(ttl=60, show_spinner=False)
def quarantine(files: dict[str, list[str]], fingerprint: tuple) -> pd.DataFrame:
    """Quarantined rows by table, ingest day and failed check (first reason of a row: '<column>: <kind>')."""
    con = data.connect()
    try:
        _union(con, files, "reason|reason VARCHAR", "q")
        return con.execute(f"""
            SELECT tbl AS "table",
                   coalesce(try_strptime(regexp_extract(batch, '([0-9]{{8}})', 1), '%Y%m%d')::DATE,
                            NULL) AS ingest_day,
                   CASE WHEN regexp_extract(split_part(reason, ';', 1), $kinds) = ''
                        THEN trim(split_part(split_part(reason, ';', 1), ':', 1))
                        ELSE regexp_replace(split_part(reason, ';', 1), ':.*', '') || ': ' ||
                             regexp_extract(split_part(reason, ';', 1), $kinds) END AS check_failed,
                   count(*) AS rows
            FROM q GROUP BY ALL ORDER BY 1, 2, 4 DESC""", {"kinds": f"({REASON_KINDS})"}).df()
    finally:
        con.close()


@st.cache_data(ttl=60, show_spinner=False)
def ingest_log(files: dict[str, list[str]], fingerprint: tuple) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Conservation per table and the latest landed file / ingest per table."""
    con = data.connect()
    try:
        _union(con, files, "file, landed_rows, bronze_rows, quarantined_rows, status, ingested_at|"
                           "file VARCHAR, landed_rows BIGINT, bronze_rows BIGINT, quarantined_rows BIGINT, "
                           "status VARCHAR, ingested_at TIMESTAMP", "l")
        cons = con.execute("""
            SELECT tbl AS "table", count(*) AS files, count(*) FILTER (WHERE status = 'ingested') AS ingested_files,
                   count(*) FILTER (WHERE status <> 'ingested') AS other_files,
                   coalesce(sum(landed_rows), 0) AS landed, coalesce(sum(bronze_rows), 0) AS bronze,
                   coalesce(sum(quarantined_rows), 0) AS quarantined,
                   count(*) FILTER (WHERE coalesce(landed_rows, 0) <> coalesce(bronze_rows, 0) + coalesce(quarantined_rows, 0))
                     AS unbalanced_files
            FROM l GROUP BY 1 ORDER BY 1""").df()
        cons["conserved"] = (cons["landed"] == cons["bronze"] + cons["quarantined"]) & (cons["unbalanced_files"] == 0)
        fresh = con.execute("""
            SELECT tbl AS "table", max(ingested_at) AS last_ingest_run,
                   max(try_strptime(regexp_extract(file, '([0-9]{8})[^/]*$', 1), '%Y%m%d')::DATE) AS latest_file_date,
                   arg_max(file, coalesce(try_strptime(regexp_extract(file, '([0-9]{8})[^/]*$', 1), '%Y%m%d'), ingested_at))
                     AS latest_file
            FROM l GROUP BY 1 ORDER BY 1""").df()
        return cons, fresh
    finally:
        con.close()


@st.cache_data(ttl=60, show_spinner=False)
def conservation(log_files: dict[str, list[str]], bronze_files: dict[str, list[str]], q_files: dict[str, list[str]],
                 fingerprint: tuple) -> pd.DataFrame:
    """Conservation per table, recounted from the files rather than taken from the log: landed rows are the
    log's count made at landing (per file, by the reader), bronze and quarantined rows are counted in the
    bronze and quarantine Parquet files themselves, per source file. A table is conserved when every landed
    file's records are all found again (landed = bronze + quarantined, file by file) and the log agrees."""
    con = data.connect()
    try:
        _union(con, log_files, "file, landed_rows, bronze_rows, quarantined_rows, status|file VARCHAR, "
                               "landed_rows BIGINT, bronze_rows BIGINT, quarantined_rows BIGINT, status VARCHAR", "l")
        for name, files in (("b", bronze_files), ("q", q_files)):
            con.execute(f"CREATE TEMP TABLE {name} (tbl VARCHAR, file VARCHAR, n BIGINT)")
            for table, paths in files.items():
                try:
                    con.execute(f"INSERT INTO {name} SELECT $t, _source_file, count(*) "
                                "FROM read_parquet($files, union_by_name = true) GROUP BY 2", {"t": table, "files": paths})
                except data.ColumnMissing:  # files without `_source_file`: count the table as a whole
                    con.execute(f"INSERT INTO {name} SELECT $t, NULL, count(*) FROM read_parquet($files, union_by_name = true)",
                                {"t": table, "files": paths})
        cons = con.execute("""
            WITH per_file AS (
                SELECT l.tbl, l.file, l.landed_rows, l.bronze_rows, l.quarantined_rows, l.status,
                       coalesce(b.n, 0) AS bronze_found, coalesce(q.n, 0) AS quarantined_found
                FROM l LEFT JOIN b ON b.tbl = l.tbl AND b.file = l.file LEFT JOIN q ON q.tbl = l.tbl AND q.file = l.file
            ), totals AS (
                SELECT tbl, sum(n) FILTER (WHERE name = 'b') AS bronze_recounted,
                       sum(n) FILTER (WHERE name = 'q') AS quarantined_recounted,
                       count(*) FILTER (WHERE file IS NULL AND n > 0) AS unattributed
                FROM (SELECT 'b' AS name, * FROM b UNION ALL SELECT 'q', * FROM q) GROUP BY 1
            )
            SELECT p.tbl AS "table", count(*) AS files, count(*) FILTER (WHERE status = 'ingested') AS ingested_files,
                   count(*) FILTER (WHERE status <> 'ingested') AS other_files,
                   coalesce(sum(landed_rows), 0) AS landed,
                   coalesce(any_value(t.bronze_recounted), 0) AS bronze,
                   coalesce(any_value(t.quarantined_recounted), 0) AS quarantined,
                   coalesce(sum(bronze_rows), 0) AS bronze_in_log, coalesce(sum(quarantined_rows), 0) AS quarantined_in_log,
                   count(*) FILTER (WHERE coalesce(landed_rows, 0) <> bronze_found + quarantined_found) AS files_not_recounted,
                   coalesce(any_value(t.unattributed), 0) > 0 AS rows_without_source_file
            FROM per_file p LEFT JOIN totals t ON t.tbl = p.tbl GROUP BY 1 ORDER BY 1""").df()
        cons["conserved"] = ((cons["landed"] == cons["bronze"] + cons["quarantined"])
                             & (cons["bronze"] == cons["bronze_in_log"]) & (cons["quarantined"] == cons["quarantined_in_log"])
                             & ((cons["files_not_recounted"] == 0) | cons["rows_without_source_file"]))
        return cons.drop(columns=["rows_without_source_file"])
    finally:
        con.close()


@st.cache_data(ttl=60, show_spinner=False)
def bronze_latest(files: dict[str, list[str]], fingerprint: tuple) -> pd.DataFrame:
    con = data.connect()
    try:
        rows = []
        for table, paths in files.items():
            try:
                n, last = con.execute("SELECT count(*), max(_ingested_at) FROM read_parquet($files, union_by_name = true)",
                                      {"files": paths}).fetchall()[0]
            except data.ColumnMissing:  # no _ingested_at column
                n, last = con.execute("SELECT count(*), NULL FROM read_parquet($files, union_by_name = true)",
                                      {"files": paths}).fetchall()[0]
            rows.append({"table": table, "bronze_rows_now": n, "last_ingested_at": last})
        return pd.DataFrame(rows, columns=["table", "bronze_rows_now", "last_ingested_at"])
    finally:
        con.close()


def _status(age_h) -> str:
    if age_h is None or age_h != age_h:
        return "unknown"
    return "fresh" if age_h <= FRESH_H else ("late" if age_h <= STALE_H else "STALE")


# ------------------------------------------------------------------------------------------------ page


def render() -> None:
    st.title("Data quality")
    lake = data.layout()
    ge_files = _files(lake.ge_results_dir("bronze"), "*.json")
    q_files = _files(lake.quarantine, "*.parquet")
    log_files = _files(lake.ingest_log, "*.parquet")
    bronze_files = _files(lake.bronze, "*.parquet")
    st.caption(f"Lake `{lake.root}`: ingest log `_meta/ingest_log/`, quarantine `quarantine/`, Great Expectations "
               "results `_meta/ge_results/bronze/`, bronze `bronze/`.")
    if not (ge_files or q_files or log_files or bronze_files):
        st.info("Nothing ingested yet: no ingest log, bronze, quarantine or Great Expectations results in this lake. "
                "Run the ingest (materialise the bronze assets in Dagster, or `make demo`).")
        return

    summary, failed = ge_results(ge_files, _fingerprint(ge_files))
    _, fresh = (ingest_log(log_files, _fingerprint(log_files)) if log_files
                else (pd.DataFrame(), pd.DataFrame()))
    cons = (conservation(log_files, bronze_files, q_files, (_fingerprint(log_files), _fingerprint(bronze_files), _fingerprint(q_files)))
            if log_files else pd.DataFrame())
    q = quarantine(q_files, _fingerprint(q_files)) if q_files else pd.DataFrame(
        columns=["table", "ingest_day", "check_failed", "rows"])

    c = st.columns(4)
    c[0].metric("GE suites passing", f"{int(summary['success'].sum())} / {len(summary)}" if len(summary) else "n/a")
    c[1].metric("Failed expectations", f"{len(failed):,}" if len(summary) else "n/a")
    c[2].metric("Quarantined rows", f"{int(q['rows'].sum()):,}")
    c[3].metric("Conservation", ("all tables" if cons["conserved"].all() else
                                 f"{int((~cons['conserved']).sum())} table(s) off") if len(cons) else "n/a")

    # -- Great Expectations
    st.subheader("Great Expectations: latest result per bronze table")
    if summary.empty:
        st.info("No Great Expectations results yet (`_meta/ge_results/bronze/`).")
    else:
        st.dataframe(summary.drop(columns=["success"]), hide_index=True, width="stretch")
        if failed.empty:
            st.success("Every expectation of the latest runs passed.")
        else:
            st.markdown(f"**Failed expectations ({len(failed)})**")
            st.dataframe(failed, hide_index=True, width="stretch",
                         column_config={"unexpected_percent": st.column_config.NumberColumn(format="%.2f%%")})

    # -- quarantine
    st.subheader("Quarantine: rows by source table and failed check")
    if q.empty:
        st.info("No quarantined rows: every landed row passed the ingest checks.")
    else:
        by_check = q.groupby(["table", "check_failed"], as_index=False)["rows"].sum().sort_values(
            ["table", "rows"], ascending=[True, False])
        days = q.groupby(["ingest_day", "table"], as_index=False, dropna=False)["rows"].sum()
        st.altair_chart(alt.Chart(days).mark_bar().encode(
            x=alt.X("ingest_day:T", title="Ingest day"), y=alt.Y("rows:Q", title="Quarantined rows"),
            color=alt.Color("table:N", title="Table"), tooltip=["ingest_day:T", "table", "rows"])
                        .properties(height=260), width="stretch")
        st.dataframe(by_check, hide_index=True, width="stretch")
        with st.expander("By ingest day, table and check"):
            st.dataframe(q, hide_index=True, width="stretch")

    # -- freshness
    st.subheader("Freshness")
    b = bronze_latest(bronze_files, _fingerprint(bronze_files)) if bronze_files else pd.DataFrame(
        columns=["table", "bronze_rows_now", "last_ingested_at"])
    fr = b.merge(fresh, on="table", how="outer") if len(fresh) else b.assign(
        last_ingest_run=pd.NaT, latest_file_date=pd.NaT, latest_file=None)
    if fr.empty:
        st.info("No bronze tables yet.")
    else:
        now = pd.Timestamp(datetime.now(timezone.utc)).tz_localize(None)
        last = pd.to_datetime(fr["last_ingested_at"]).dt.tz_localize(None) if len(fr) else fr["last_ingested_at"]
        last = last.fillna(pd.to_datetime(fr["last_ingest_run"]))
        fr["age_hours"] = ((now - last).dt.total_seconds() / 3600).round(1)
        fr["status"] = fr["age_hours"].map(_status)
        fr["latest_file"] = fr["latest_file"].map(lambda f: _name(f) if isinstance(f, str) else f)
        st.caption(f"Age = now (UTC) − latest `_ingested_at` in bronze. fresh ≤ {FRESH_H:.0f} h, late ≤ {STALE_H:.0f} h, "
                   "STALE older. Latest file date = the date in the newest landed file's name.")
        st.dataframe(fr[["table", "status", "age_hours", "last_ingested_at", "latest_file_date", "latest_file",
                         "bronze_rows_now"]].sort_values("age_hours", ascending=False),
                     hide_index=True, width="stretch",
                     column_config={"latest_file_date": st.column_config.DateColumn(format="YYYY-MM-DD")})

    # -- conservation
    st.subheader("Ingest conservation: landed = bronze + quarantined")
    st.caption("Landed = records each file held, counted when it was read at landing; bronze and quarantined = rows "
               "recounted in the bronze and quarantine Parquet files, per source file (not taken from the ingest log). "
               "files_not_recounted: landed files whose records are not all found again.")
    if cons.empty:
        st.info("No ingest log yet (`_meta/ingest_log/`).")
    else:
        if cons["conserved"].all():
            st.success(f"All {len(cons)} tables conserve their rows: every landed row is in bronze or quarantine.")
        else:
            st.error("Rows lost or duplicated at ingest in: " + ", ".join(cons.loc[~cons["conserved"], "table"]))
        st.dataframe(cons, hide_index=True, width="stretch")
