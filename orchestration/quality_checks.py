"""Blocking Great Expectations asset checks on bronze: a failed check stops that table's downstream
assets for the run, and the Dagster UI shows which expectation failed, on how many rows, with samples."""
import hashlib
import json
import re
from dataclasses import dataclass

import dagster as dg
import pandas as pd

from features.docs import DICTIONARY_CSV
from lake.layout import LakeLayout
from lake.contracts import Contract, load_contracts
from lake import storage
from lake.storage import parquet_metadata, read_parquet
from orchestration.ingest.pipeline import RUN_PART
from orchestration.quality import SuiteOutcome, contract_expectations, load_suite_file, validate
from orchestration.resources import LakeResource


@dataclass
class BronzeToValidate:
    """What a table's bronze check judges: the latest ingest run's log (its delivery suite), the bronze rows of
    every batch that has not passed the contract suite yet, and those batches' ids."""
    log: pd.DataFrame
    rows: pd.DataFrame
    batch_ids: list[str]
    files: list        # every bronze batch file of the table, listed once for the check


def bronze_files(lake: LakeLayout, table: str) -> list:
    return sorted(lake.bronze_dir(table).glob("batch_*.parquet"), key=str)


def suite_fingerprint(expectations: list[dict]) -> str:
    """A short hash of a suite's expectations: batches passed under other rules are judged again."""
    return hashlib.sha256(json.dumps(expectations, sort_keys=True, default=str).encode()).hexdigest()[:16]


def validated_batches(lake: LakeLayout, table: str, suite: str) -> set[str]:
    """The batches recorded as passing the row suite with fingerprint ``suite`` (none when the rules changed)."""
    path = lake.ge_validated_batches(table)
    if not path.exists():
        return set()
    header, *ids = path.read_text().split("\n")
    return set(i for i in ids if i) if header == f"suite {suite}" else set()


def record_validated(lake: LakeLayout, table: str, suite: str, batch_ids: list[str]) -> None:
    """Add batches that passed the row suite ``suite`` to the table's list (rewritten whole, atomically; a list
    of other rules is replaced)."""
    ids = sorted(validated_batches(lake, table, suite) | set(batch_ids))
    storage.write_text(lake.ge_validated_batches(table), f"suite {suite}\n" + "".join(f"{b}\n" for b in ids))


def bronze_to_validate(lake: LakeLayout, table: str, suite: str) -> BronzeToValidate | None:
    """The latest ingest run's log rows (the delivery being judged; a run over a large backlog commits numbered
    batches) and the rows of every bronze batch not yet recorded as passing the row suite ``suite``: the latest
    run's, and any earlier batch whose check failed or never ran (or passed other rules), so a bad row cannot
    hide in an older batch, while a daily check reads only the new day and not the whole history. None before
    the first ingest."""
    logs = sorted(lake.ingest_log_dir(table).glob("batch_*.parquet"), key=str)
    if not logs:
        return None
    run, part, _ = logs[-1].name.partition(RUN_PART)
    run_logs = [f for f in logs if f.name.startswith(run + RUN_PART)] if part else logs[-1:]
    log = pd.concat([read_parquet(f).to_pandas() for f in run_logs], ignore_index=True)
    log["quarantined_share"] = (log["quarantined_rows"] / log["landed_rows"].where(log["landed_rows"] > 0)).fillna(0.0)
    done = validated_batches(lake, table, suite)
    files = bronze_files(lake, table)
    pending = [b for b in files if b.stem not in done]
    rows = pd.concat([read_parquet(b).to_pandas() for b in pending], ignore_index=True) if pending else pd.DataFrame()
    return BronzeToValidate(log, rows, [b.stem for b in pending], files)


def table_columns(files: list, columns: list[str]) -> pd.DataFrame:
    """These columns of every bronze batch file: the table-level rules (a mean, a share of missing values) are
    about the whole table, not the day, and read only the columns they name."""
    if not files:
        return pd.DataFrame(columns=columns)
    return pd.concat([read_parquet(f, columns=columns).to_pandas() for f in files], ignore_index=True)


def duplicate_keys(lake: LakeLayout, contract: Contract, files: list | None = None) -> SuiteOutcome:
    """The primary key unique across all of bronze, recounted by DuckDB over the key columns of every batch file
    (default: listed here; the contract suite checks the new rows among themselves; the ingest quarantines a key
    already in bronze)."""
    keys = [c.bronze_name for c in contract.columns if c.name in contract.primary_key]
    files = bronze_files(lake, contract.table) if files is None else files
    name = f"bronze_{contract.table}_keys"
    if not files:
        return SuiteOutcome(name, True, 1, [])
    con = storage.connect(lake.root)
    source = "read_parquet([" + ", ".join(storage.sql_string(f) for f in files) + "])"
    key = ", ".join(f'"{k}"' for k in keys)
    repeated = f"SELECT {key}, count(*) AS n FROM {source} GROUP BY ALL HAVING count(*) > 1"
    (extra,) = con.execute(f"SELECT coalesce(sum(n - 1), 0) FROM ({repeated})").fetchall()[0]
    if not extra:
        return SuiteOutcome(name, True, 1, [])
    sample = con.execute(f"SELECT {key} FROM ({repeated}) ORDER BY ALL LIMIT 5").fetchall()
    return SuiteOutcome(name, False, 1, [{
        "expectation": "primary_key_unique_across_bronze", "column": keys, "unexpected_count": int(extra),
        "observed_value": None, "sample": ["/".join(map(str, k)) for k in sample], "error": None}])


def bronze_check(contract: Contract, suites: dict) -> dg.AssetChecksDefinition:
    extra = suites.get("tables", {}).get(contract.table, [])

    @dg.asset_check(
        asset=dg.AssetKey(["bronze", contract.table]),
        name="great_expectations",
        blocking=True,
        description=f"Contract row rules ({len(contract_expectations(contract))} expectations) on every bronze batch "
                    f"not yet passed, table rules ({len(extra)}) on the whole table, the primary key across all of "
                    "bronze, and the delivery suite on the latest batch's files (orchestration/expectations/bronze.yaml).",
    )
    def _check(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
        cfg = lake.config()
        row_suite = contract_expectations(contract)
        suite = suite_fingerprint(row_suite)
        todo = bronze_to_validate(cfg, contract.table, suite)
        if todo is None:
            return dg.AssetCheckResult(passed=True, metadata={"note": "no batch ingested yet"})
        reports = cfg.ge_results_dir("bronze") / contract.table
        outcomes = []
        if len(todo.rows):  # the row rules on the batches not yet passed (an empty delivery has no rows to judge)
            outcomes.append(validate(f"bronze_{contract.table}", todo.rows, row_suite, reports))
        if extra:           # the table-level rules on the whole table, only the columns they name
            named = sorted({c for e in extra for c in ([e["column"]] if "column" in e else e.get("column_list", []))})
            outcomes.append(validate(f"bronze_{contract.table}_table", table_columns(todo.files, named), extra, reports))
        outcomes += [validate(f"delivery_{contract.table}", todo.log, suites["delivery"], reports),
                     duplicate_keys(cfg, contract, todo.files)]
        passed = all(o.success for o in outcomes)
        for o in outcomes:
            (context.log.info if o.success else context.log.error)(o.summary())
        if passed:
            record_validated(cfg, contract.table, suite, todo.batch_ids)
        return dg.AssetCheckResult(
            passed=passed,
            severity=dg.AssetCheckSeverity.ERROR,
            description=" | ".join(o.summary() for o in outcomes),
            metadata={
                "rows_validated": len(todo.rows),
                "batches_validated": len(todo.batch_ids),
                "files_in_batch": len(todo.log),
                "expectations": sum(o.evaluated for o in outcomes),
                "failed": dg.MetadataValue.json([f for o in outcomes for f in o.failed]),
                "reports": dg.MetadataValue.json([str(o.report_path) for o in outcomes if o.report_path]),
            },
        )

    return _check


def layer_check(spec: dict) -> dg.AssetChecksDefinition:
    """A blocking GE suite on a dbt-built Parquet table (declared in orchestration/expectations/layers.yaml)."""
    key = dg.AssetKey(spec["asset"])
    name = "_".join(spec["asset"])

    @dg.asset_check(asset=key, name="great_expectations", blocking=True,
                    description=f"{len(spec['expectations'])} expectations on {spec['dataset']} "
                                f"(orchestration/expectations/layers.yaml)")
    def _check(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
        cfg = lake.config()
        frame = read_parquet(cfg.dataset(spec["dataset"])).to_pandas()
        expectations = list(spec["expectations"])
        if "row_count_equals" in spec:
            expected = parquet_metadata(cfg.dataset(spec["row_count_equals"])).num_rows
            expectations.append({"type": "expect_table_row_count_to_equal", "value": expected})
        outcome = validate(name, frame, expectations, cfg.ge_results_dir(name))
        (context.log.info if outcome.success else context.log.error)(outcome.summary())
        return dg.AssetCheckResult(
            passed=outcome.success, severity=dg.AssetCheckSeverity.ERROR, description=outcome.summary(),
            metadata={"rows_validated": len(frame), "expectations": outcome.evaluated,
                      "failed": dg.MetadataValue.json(outcome.failed), "report": str(outcome.report_path)},
        )

    return _check


@dg.asset_check(asset=dg.AssetKey(["scores", "batch_scores"]), name="great_expectations", blocking=True,
                description="Scores suite (orchestration/expectations/scores.yaml) on the run's business date, plus "
                            "score PSI per label against the previous scored date.")
def scores_check(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
    from lake.scores import scores_path
    from models.metrics import psi

    cfg, suite = lake.config(), load_suite_file("scores")
    date = context.run.tags.get("dagster/partition")
    path = scores_path(date, cfg.root) if date is not None else None
    if path is None or not path.exists():
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.ERROR,
                                   description=f"no scores file for business date {date!r} at {path}")
    frame = read_parquet(path).to_pandas()
    outcome = validate(f"scores_{date}", frame, suite["expectations"], cfg.ge_results_dir("scores"))
    earlier = [p for p in cfg.scores_files() if p.parent.name < path.parent.name]
    shifts = {}
    if earlier:
        previous = read_parquet(earlier[-1], columns=["label", "score"]).to_pandas()
        for label, group in frame.groupby("label"):
            before = previous.loc[previous["label"] == label, "score"]
            if len(before) and len(group):
                shifts[label] = round(psi(before.to_numpy(float), group["score"].to_numpy(float)), 4)
    shifted = {k: v for k, v in shifts.items() if v > float(suite["max_psi"])}
    passed = outcome.success and not shifted
    description = outcome.summary() + (f" | score shift (PSI > {suite['max_psi']}): {shifted}" if shifted else "")
    (context.log.info if passed else context.log.error)(description)
    return dg.AssetCheckResult(
        passed=passed, severity=dg.AssetCheckSeverity.ERROR, description=description,
        metadata={"business_date": date, "rows_validated": len(frame), "expectations": outcome.evaluated,
                  "failed": dg.MetadataValue.json(outcome.failed), "psi_vs_previous_date": dg.MetadataValue.json(shifts),
                  "report": str(outcome.report_path)},
    )


def _feature_tables() -> list[str]:
    from features.catalog import catalog

    return list(catalog().tables)


def feature_profile(path, dictionary: pd.DataFrame) -> pd.DataFrame:
    """One row per feature column: rows, nulls, min, max from the Parquet footer (no data scan)."""
    from features.shards import parquet_files

    metas = [parquet_metadata(f) for f in parquet_files(path)]  # a family table is a folder of shard files
    meta = metas[0]
    num_rows = sum(m.num_rows for m in metas)
    rows = []
    for i in range(meta.num_columns):
        stats = [m.row_group(g).column(i).statistics for m in metas for g in range(m.num_row_groups)]
        name = meta.schema.column(i).name
        with_minmax = [s for s in stats if s is not None and s.has_min_max]
        numeric = with_minmax and isinstance(with_minmax[0].min, (int, float))
        rows.append({
            "feature": name,
            "nulls": sum(s.null_count for s in stats if s is not None),
            "min": min(s.min for s in with_minmax) if numeric else None,
            "max": max(s.max for s in with_minmax) if numeric else None,
        })
    profile = pd.DataFrame(rows).merge(dictionary, left_on="feature", right_on="name", how="inner")
    profile["all_null"] = profile["nulls"] >= num_rows
    return profile


def feature_table_check(table: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=dg.AssetKey(["features", table]), name="great_expectations", blocking=True,
                    description="Feature profile from Parquet statistics: catalog value ranges per aggregation and a "
                                "cap on all-null features (orchestration/expectations/layers.yaml).")
    def _check(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
        cfg, spec = lake.config(), load_suite_file("layers")["feature_profile"]
        dictionary = pd.read_csv(DICTIONARY_CSV, usecols=["name", "aggregation"])
        profile = feature_profile(cfg.feature_table(table), dictionary)
        ranges = []
        for aggregation, (low, high) in spec["ranges"].items():
            name = re.sub(r"[^a-z]+", "_", aggregation).strip("_")
            profile[f"min_{name}"] = profile["min"].where(profile["aggregation"] == aggregation)
            profile[f"max_{name}"] = profile["max"].where(profile["aggregation"] == aggregation)
            if low is not None:
                ranges.append({"type": "expect_column_values_to_be_between", "column": f"min_{name}", "min_value": low})
            if high is not None:
                ranges.append({"type": "expect_column_values_to_be_between", "column": f"max_{name}", "max_value": high})
        reports = cfg.ge_results_dir("features") / table
        # Out-of-range values are wrong (ERROR, blocks models); many all-null features on a young or small
        # lake are a warning, not an error.
        in_range = validate(f"features_{table}_ranges", profile, ranges, reports)
        filled = validate(f"features_{table}_filled", profile, [
            {"type": "expect_column_values_to_be_in_set", "column": "all_null", "value_set": [False],
             "mostly": 1 - float(spec["max_all_null_share"])}], reports)
        summary = f"{in_range.summary()} | {filled.summary()}"
        (context.log.info if in_range.success and filled.success else context.log.error)(summary)
        return dg.AssetCheckResult(
            passed=in_range.success and filled.success,
            severity=dg.AssetCheckSeverity.ERROR if not in_range.success else dg.AssetCheckSeverity.WARN,
            description=summary,
            metadata={"features_profiled": len(profile), "all_null_features": int(profile["all_null"].sum()),
                      "expectations": in_range.evaluated + filled.evaluated,
                      "failed": dg.MetadataValue.json(in_range.failed + filled.failed)},
        )

    return _check


bronze_checks = [bronze_check(c, load_suite_file("bronze")) for c in load_contracts().values()]
layer_checks = [layer_check(spec) for spec in load_suite_file("layers")["checks"]]
feature_table_checks = [feature_table_check(t) for t in _feature_tables()]
