"""Blocking Great Expectations asset checks on bronze: a failed check stops that table's downstream
assets for the run, and the Dagster UI shows which expectation failed, on how many rows, with samples."""
import re

import dagster as dg
import pandas as pd

from features.docs import DICTIONARY_CSV
from lake.layout import LakeLayout
from lake.contracts import Contract, load_contracts
from lake.storage import parquet_metadata, read_parquet
from orchestration.ingest.pipeline import RUN_PART
from orchestration.quality import contract_expectations, load_suite_file, validate
from orchestration.resources import LakeResource


def latest_batch(lake: LakeLayout, table: str) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """The ingest-log rows of the table's most recent ingest run (the delivery being judged; its batches) and every
    bronze row (the contract suite covers all of bronze, so a bad row can never hide in an older batch)."""
    logs = sorted(lake.ingest_log_dir(table).glob("batch_*.parquet"), key=str)
    if not logs:
        return None
    run, part, _ = logs[-1].name.partition(RUN_PART)  # a run over a large backlog commits numbered batches
    run_logs = [f for f in logs if f.name.startswith(run + RUN_PART)] if part else logs[-1:]
    log = pd.concat([read_parquet(f).to_pandas() for f in run_logs], ignore_index=True)
    log["quarantined_share"] = (log["quarantined_rows"] / log["landed_rows"].where(log["landed_rows"] > 0)).fillna(0.0)
    batches = sorted(lake.bronze_dir(table).glob("batch_*.parquet"), key=str)
    bronze = pd.concat([read_parquet(b).to_pandas() for b in batches], ignore_index=True) if batches else pd.DataFrame()
    return log, bronze


def bronze_check(contract: Contract, suites: dict) -> dg.AssetChecksDefinition:
    extra = suites.get("tables", {}).get(contract.table, [])

    @dg.asset_check(
        asset=dg.AssetKey(["bronze", contract.table]),
        name="great_expectations",
        blocking=True,
        description=f"Contract suite ({len(contract_expectations(contract)) + len(extra)} expectations) on the "
                    f"whole bronze table and delivery suite on the latest batch's files (orchestration/expectations/bronze.yaml).",
    )
    def _check(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
        cfg = lake.config()
        batch = latest_batch(cfg, contract.table)
        if batch is None:
            return dg.AssetCheckResult(passed=True, metadata={"note": "no batch ingested yet"})
        log, bronze = batch
        reports = cfg.ge_results_dir("bronze") / contract.table
        outcomes = [
            validate(f"bronze_{contract.table}", bronze, contract_expectations(contract) + extra, reports),
            validate(f"delivery_{contract.table}", log, suites["delivery"], reports),
        ]
        passed = all(o.success for o in outcomes)
        for o in outcomes:
            (context.log.info if o.success else context.log.error)(o.summary())
        return dg.AssetCheckResult(
            passed=passed,
            severity=dg.AssetCheckSeverity.ERROR,
            description=" | ".join(o.summary() for o in outcomes),
            metadata={
                "rows_validated": len(bronze),
                "files_in_batch": len(log),
                "expectations": sum(o.evaluated for o in outcomes),
                "failed": dg.MetadataValue.json([f for o in outcomes for f in o.failed]),
                "reports": dg.MetadataValue.json([str(o.report_path) for o in outcomes]),
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
