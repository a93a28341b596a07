"""Partner exports in Dagster: one partitioned asset per spec downstream of scores/batch_scores, daily
schedules of the previous business date, and a materialisation through the real local S3 server."""

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg

from lake.scores import scores_path
from exports.fake import fake_scores, write_scores
from exports.spec import load_specs
from orchestration.partitions import BUSINESS_DATE_PARTITIONS, SCORES_ASSET_KEY
from orchestration.export_assets import (ExportStorageResource, export_assets,
                                         export_jobs, export_resources, export_schedules)
from orchestration.resources import LakeResource
from tests.lakehelpers import failures
from tests.s3server import all_keys


@dg.asset(key=SCORES_ASSET_KEY, partitions_def=BUSINESS_DATE_PARTITIONS, group_name="scores")
def stand_in_batch_scores(context: dg.AssetExecutionContext, lake: LakeResource) -> None:
    """Stands in for the models developer's batch-scoring asset: writes a contract-shaped scores table."""
    write_scores(fake_scores(2000, context.partition_key, seed=3), scores_path(context.partition_key, lake.config().root))


def definitions(lake_root) -> dg.Definitions:
    return dg.Definitions(assets=[stand_in_batch_scores, *export_assets], schedules=export_schedules, jobs=export_jobs,
                          resources={**export_resources, "lake": LakeResource(root=str(lake_root))})


def test_one_export_asset_per_spec_downstream_of_scores(tmp_path):
    defs = definitions(tmp_path)
    dg.Definitions.validate_loadable(defs)
    specs = {s.key: s for s in defs.resolve_all_asset_specs()}
    names = [s.name for s in load_specs()]
    assert {k for k in specs if k.path[0] == "exports"} == {dg.AssetKey(["exports", n]) for n in names}
    for n in names:
        spec = specs[dg.AssetKey(["exports", n])]
        assert {d.asset_key for d in spec.deps} == {SCORES_ASSET_KEY}
        assert spec.partitions_def == BUSINESS_DATE_PARTITIONS and spec.group_name == "exports"
    assert BUSINESS_DATE_PARTITIONS.timezone == "Asia/Shanghai" and BUSINESS_DATE_PARTITIONS.start.date().isoformat() == "2026-01-01"


def test_schedules_export_the_previous_business_date(tmp_path):
    defs = definitions(tmp_path)
    sched = defs.resolve_schedule_def("pb01_a_card_daily_schedule")
    assert (sched.cron_schedule, sched.execution_timezone) == ("30 7 * * *", "Asia/Shanghai")
    tick = datetime(2026, 3, 2, 7, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    data = sched.evaluate_tick(dg.build_schedule_context(scheduled_execution_time=tick))
    assert [r.partition_key for r in data.run_requests] == ["2026-03-01"]
    assert {s.name for s in export_schedules} == {f"{n}_schedule" for n in [s.name for s in load_specs()]}


def test_materialise_scores_then_export_to_s3(tmp_path, s3_server, s3_client, s3_bucket, monkeypatch):
    monkeypatch.setenv("EXPORT_BUCKET", s3_bucket)
    monkeypatch.setenv("EXPORT_TOKEN_KEY", "dagster-test-key")
    export = next(a for a in export_assets if a.key.path[-1] == "pb02_b_card_daily")
    result = dg.materialize(
        [stand_in_batch_scores, export], partition_key="2026-03-01",
        resources={"lake": LakeResource(root=str(tmp_path)),
                   "export_storage": ExportStorageResource(backend="s3", endpoint_url=s3_server.endpoint_url)},
    )
    assert result.success, failures(result)
    mat = result.asset_materializations_for_node(export.op.name)[0]
    prefix = "partners/PB02/b_card_scores/business_date=2026-03-01/"
    keys = all_keys(s3_client, s3_bucket)
    manifest = json.loads(s3_client.get_object(Bucket=s3_bucket, Key=prefix + "manifest.json")["Body"].read())
    assert keys == sorted([prefix + "manifest.json"] + [prefix + f["name"] for f in manifest["files"]])
    assert mat.metadata["dagster/row_count"].value == manifest["row_count"] > 0
    assert mat.metadata["model_version"].value == manifest["model"]["version"] == "v0001"
    assert mat.metadata["manifest"].value == f"s3://{s3_bucket}/{prefix}manifest.json"


def test_export_without_scores_fails_clearly(tmp_path, s3_server, s3_client, s3_bucket, monkeypatch):
    monkeypatch.setenv("EXPORT_BUCKET", s3_bucket)
    export = export_assets[0]
    result = dg.materialize([export], partition_key="2026-03-03", raise_on_error=False,
                            resources={"lake": LakeResource(root=str(tmp_path)),
                                       "export_storage": ExportStorageResource(endpoint_url=s3_server.endpoint_url)})
    assert not result.success
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert len(failures) == 1 and "no scores for business date 2026-03-03" in failures[0].event_specific_data.error.message
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]  # not retried
    assert all_keys(s3_client, s3_bucket) == []
