"""Partner exports in Dagster: one asset per spec in ``exports/specs/``, downstream of the batch scores.

Asset graph: models -> scores/batch_scores (daily, by business date) -> exports/<spec name> (one per
partner export spec, same partitions). Each export asset writes its partner's files and manifest to
the object store chosen by the ``export_storage`` resource (a local folder under
``<LAKE_ROOT>/exports`` by default, any S3-compatible store with EXPORT_STORAGE=s3 / S3_ENDPOINT_URL).
Each spec's ``schedule.cron`` becomes a schedule that exports the previous business date.

Register with: ``assets=[..., *export_assets]``, ``schedules=[..., *export_schedules]``,
``jobs=[..., *export_jobs]``, ``resources={..., **export_resources}``.
"""

import os

import dagster as dg

from lake.layout import LakeLayout
from lake.scores import ScoresContractError
from exports.exporter import ExportError, check_published, export_partition
from exports.spec import ExportSpec, SpecError, load_specs
from exports.storage import ObjectStore, store_from_env
from orchestration.partitions import BUSINESS_DATE_PARTITIONS, SCORES_ASSET_KEY
from orchestration.resources import LakeResource

EXPORTS_GROUP = "exports"


class ExportStorageResource(dg.ConfigurableResource):
    """Where partner exports go. Empty fields fall back to the environment: EXPORT_STORAGE (local|s3;
    s3 when S3_ENDPOINT_URL is set), S3_ENDPOINT_URL, EXPORT_LOCAL_ROOT (default <lake root>/exports).
    Credentials come from the standard AWS chain (env, profile, instance role), never from config."""

    backend: str = ""
    endpoint_url: str = ""
    local_root: str = ""

    def store(self, lake: LakeLayout) -> ObjectStore:
        local = self.local_root or os.environ.get("EXPORT_LOCAL_ROOT") or str(lake.exports)
        return store_from_env(backend=self.backend or None, endpoint_url=self.endpoint_url or None, local_root=local)


def _column_schema(spec: ExportSpec) -> dg.TableSchema:
    schema = spec.output_schema()
    return dg.TableSchema(columns=[dg.TableColumn(f.name, str(f.type), description=c.source if c.source != f.name else None)
                                   for c, f in zip(spec.columns, schema)])


def export_asset(spec: ExportSpec) -> dg.AssetsDefinition:
    @dg.asset(
        key=["exports", spec.name],
        deps=[SCORES_ASSET_KEY],
        partitions_def=BUSINESS_DATE_PARTITIONS,
        group_name=EXPORTS_GROUP,
        kinds={"s3", spec.format},
        description=(f"{spec.description or 'Partner export'} Partner {spec.partner_id}; model {spec.model_name} "
                     f"({spec.label}, {spec.version}); {spec.format}/{spec.compression}; "
                     f"destination {spec.bucket_template}/{spec.prefix}/business_date=<date>/ with manifest.json last. "
                     f"Spec: exports/specs/{spec.path.name}."),
        metadata={
            "spec": spec.path.name,
            "partner_id": spec.partner_id,
            "model": f"{spec.model_name} ({spec.label}, {spec.version})",
            "destination": f"{spec.bucket_template}/{spec.prefix}/",
            "dagster/column_schema": _column_schema(spec),
        },
        tags={"partner": spec.partner_id},
        retry_policy=dg.RetryPolicy(max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL),
    )
    def _export(context: dg.AssetExecutionContext, lake: LakeResource,
                export_storage: ExportStorageResource) -> dg.MaterializeResult:
        layout = lake.config()
        store = export_storage.store(layout)
        try:
            result = export_partition(spec, context.partition_key, store, lake_root=layout.root, log=context.log.info)
        except (SpecError, ExportError, ScoresContractError) as exc:
            # wrong spec or missing/bad scores: retrying cannot help (storage/network errors are retried)
            raise dg.Failure(description=str(exc), allow_retries=False) from exc
        problems = check_published(store, result)
        if problems:
            raise dg.Failure(f"{spec.name}: published partition does not match its manifest: {'; '.join(problems)}")
        m = result.manifest
        return dg.MaterializeResult(metadata={
            "dagster/row_count": m["row_count"],
            "partner_id": spec.partner_id,
            "business_date": m["business_date"],
            "model_name": m["model"]["name"],
            "model_version": m["model"]["version"],
            "files": len(m["files"]),
            "bytes": sum(f["bytes"] for f in m["files"]),
            "manifest": store.describe(result.bucket, result.manifest_key),
            "file_checksums": dg.MetadataValue.json({f["name"]: f["sha256"] for f in m["files"]}),
            "stale_objects_removed": len(result.removed_keys),
            "seconds": round(result.timings["total_s"], 3),
        })

    return _export


def export_job(spec: ExportSpec):
    return dg.define_asset_job(f"export_{spec.name}", selection=[dg.AssetKey(["exports", spec.name])],
                               partitions_def=BUSINESS_DATE_PARTITIONS,
                               description=f"Export {spec.partner_id}'s files for one business date ({spec.path.name}).")


def export_schedule(spec: ExportSpec) -> dg.ScheduleDefinition:
    hour, minute = spec.hour_minute  # the partitions' time zone (Asia/Shanghai) applies
    return dg.build_schedule_from_partitioned_job(
        export_job(spec), name=f"{spec.name}_schedule", hour_of_day=hour, minute_of_hour=minute,
        description=f"Daily {spec.partner_id} export at '{spec.cron}' ({spec.timezone}) of the previous business date.",
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )


export_specs = load_specs()
export_assets = [export_asset(s) for s in export_specs]
export_schedules = [export_schedule(s) for s in export_specs]
partner_exports_job = dg.define_asset_job(
    "partner_exports", selection=dg.AssetSelection.groups(EXPORTS_GROUP), partitions_def=BUSINESS_DATE_PARTITIONS,
    description="All partner exports of one business date (for backfills and re-runs).")
export_jobs = [partner_exports_job]
export_resources = {"export_storage": ExportStorageResource()}
