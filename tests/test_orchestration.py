"""The Dagster code location: it loads, shows landing -> bronze -> staging lineage, and a blocking
Great Expectations check on a bad delivery stops everything downstream of bronze in that run."""
from __future__ import annotations

import dagster as dg
import pytest

from lake.contracts import load_contracts
from lake.layout import LakeLayout
from orchestration.definitions import defs
from orchestration.resources import LakeResource
from tests.lakehelpers import failures, land_rows, query, run_graph


def specs_by_key():
    return {s.key: s for s in defs.resolve_all_asset_specs()}


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)
    assert defs.resolve_job_def("materialize_everything") is not None


def test_lineage_landing_to_bronze_to_staging_grouped_by_layer():
    specs = specs_by_key()
    bronze = specs[dg.AssetKey(["bronze", "customers"])]
    assert dg.AssetKey(["landing", "customers"]) in {d.asset_key for d in bronze.deps}
    staging = specs[dg.AssetKey(["staging", "stg_customers"])]
    assert dg.AssetKey(["bronze", "customers"]) in {d.asset_key for d in staging.deps}
    tradelines = specs[dg.AssetKey(["staging", "stg_bureau_tradelines"])]
    assert dg.AssetKey(["staging", "stg_credit_reports"]) in {d.asset_key for d in tradelines.deps}
    assert {s.group_name for k, s in specs.items() if k.path[0] in ("landing", "bronze", "staging")} == {
        "landing", "bronze", "staging"}


def customer(i: int, **extra) -> dict:
    row = {"customer_id": f"C{i}", "national_id": f"11010119900101{i:04d}", "phone": f"1380000{i:04d}",
           "birth_date": "1990-01-01", "registered_at": "2026-01-01 10:00:00", "monthly_income": 5000}
    row.update(extra)
    return row


def run_everything(lake: LakeLayout) -> dg.ExecuteInProcessResult:
    """Ingest and staging: a customers-only lake has no loans for marts, features or models."""
    return run_graph(lake, dg.AssetSelection.groups("bronze", "staging"))


@pytest.mark.parametrize("bad_share", [0.0, 0.5])
def test_bad_delivery_blocks_downstream(tmp_path, bad_share):
    lake = LakeLayout(root=tmp_path / "lake")
    n_bad = int(10 * bad_share)
    rows = [customer(i) for i in range(10 - n_bad)] + [customer(100 + i, birth_date="not a date") for i in range(n_bad)]
    land_rows(lake, "customers", rows)
    result = run_everything(lake)
    checks = {e.asset_check_evaluation_data.asset_check_key.asset_key.path[-1]: e.asset_check_evaluation_data
              for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}
    materialized = {tuple(e.asset_key.path) for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"}
    if bad_share == 0:
        assert result.success, failures(result)
        assert checks["customers"].passed
        assert ("staging", "stg_customers") in materialized
        assert query(lake, "SELECT count(*) FROM staging.stg_customers") == [(10,)]
        # the batch that passed is recorded: the next run's check judges only newer batches
        (batch,) = lake.bronze_dir("customers").glob("batch_*.parquet")
        from orchestration.quality import contract_expectations
        from orchestration.quality_checks import suite_fingerprint, validated_batches

        suite = suite_fingerprint(contract_expectations(load_contracts()["customers"]))
        assert validated_batches(lake, "customers", suite) == {batch.stem}
        assert checks["customers"].metadata["batches_validated"].value == 1
    else:
        assert not checks["customers"].passed
        failed = checks["customers"].metadata["failed"].value
        assert any(f["column"] == "quarantined_share" for f in failed)
        assert ("bronze", "customers") in materialized  # good rows still reach bronze ...
        assert not any(k[0] == "staging" for k in materialized)  # ... but nothing downstream runs
        assert not lake.ge_validated_batches("customers").exists()  # judged again by the next run's check


def test_feature_range_check_fails_on_an_impossible_share(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from orchestration.quality_checks import feature_table_check

    lake = LakeLayout(root=tmp_path / "lake")
    (lake.root / "features").mkdir(parents=True)
    good = {"obs_id": [1, 2], "ecom_cnt_7d": [0, 3], "ecom_cat_groceries_shr_cnt_7d": [0.0, 0.5]}
    check = feature_table_check("feat_ecom")
    for share, expected in ((0.5, True), (1.7, False)):
        table = dict(good, ecom_cat_groceries_shr_cnt_7d=[0.0, share])
        pq.write_table(pa.table(table), lake.root / "features" / "feat_ecom.parquet")
        context = dg.build_asset_check_context(resources={"lake": LakeResource(root=str(lake.root))})
        result = check(context)
        assert result.passed is expected
        if not expected:
            assert result.severity == dg.AssetCheckSeverity.ERROR and "max_share_count" in result.description


def test_make_materialize_runs_both_jobs_in_order_and_stops_at_a_failure(tmp_path, monkeypatch):
    """`python -m orchestration.materialize` (make materialize): materialize_everything, then score_and_export for
    the business date, both recorded in DAGSTER_HOME; a failed first job names its step and the second never runs.
    Two small stand-in jobs with the real job names keep this fast (the real graph runs in test_world_pipeline)."""
    from orchestration import definitions, materialize

    ran: list[tuple[str, str | None]] = []

    @dg.asset
    def everything() -> None:
        ran.append(("everything", None))
        if fail_first:
            raise RuntimeError("a broken step")

    @dg.asset(partitions_def=definitions.BUSINESS_DATE_PARTITIONS)
    def scores(context) -> None:
        ran.append(("scores", context.partition_key))

    fake = dg.Definitions(assets=[everything, scores], jobs=[
        dg.define_asset_job("materialize_everything", selection=[everything], executor_def=dg.in_process_executor),
        dg.define_asset_job("score_and_export", selection=[scores], partitions_def=definitions.BUSINESS_DATE_PARTITIONS,
                            executor_def=dg.in_process_executor)])
    monkeypatch.setattr(definitions, "defs", fake)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")

    fail_first = False
    assert materialize.main(["--business-date", "2026-09-30"]) == 0
    assert ran == [("everything", None), ("scores", "2026-09-30")]
    with dg.DagsterInstance.get() as instance:
        assert sorted(r.job_name for r in instance.get_runs()) == ["materialize_everything", "score_and_export"]

    ran.clear()
    fail_first = True
    said: list[str] = []
    assert materialize.run_jobs("2026-09-30", log=said.append) is False
    assert ran == [("everything", None)]
    assert len(said) == 1 and said[0].startswith("materialize_everything (run ") and said[0].endswith("failed in step(s): everything")
    with pytest.raises(SystemExit, match="BUSINESS_DATE='2026-13-01' is not a business-date partition"):
        materialize.run_jobs("2026-13-01")
