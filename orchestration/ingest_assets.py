"""Landing (external) and bronze (ingest) assets, one pair per source contract."""

import dagster as dg

from orchestration.config import tokenisation_key
from lake.contracts import Contract, load_contracts
from lake.pii import redact
from orchestration.ingest.pipeline import IngestBusy, ingest_table
from orchestration.resources import LakeResource


def landing_spec(contract: Contract) -> dg.AssetSpec:
    return dg.AssetSpec(
        key=["landing", contract.table],
        group_name="landing",
        description=f"Files delivered by the {contract.system} system: {contract.description}",
        kinds={contract.format},
        metadata={"contract": str(contract.path.name), "system": contract.system},
    )


def bronze_asset(contract: Contract) -> dg.AssetsDefinition:
    @dg.asset(
        key=["bronze", contract.table],
        deps=[landing_spec(contract).key],
        group_name="bronze",
        kinds={"parquet"},
        description=f"Contract-validated, typed, PII-tokenised {contract.table}. {contract.description}",
        retry_policy=dg.RetryPolicy(max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL),
        # One ingest per table at a time: the lake lock in ingest_table enforces it for any caller; the pool
        # lets a Dagster instance queue the second run instead of holding a worker while it waits.
        pool=f"ingest_{contract.table}",
    )
    def _ingest(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
        try:
            result = ingest_table(contract, lake.config(), tokenisation_key(), progress=context.log.info)
        except IngestBusy as exc:
            raise dg.Failure(str(exc)) from None
        except Exception as exc:  # an unforeseen failure: its text may quote data, so it leaves redacted
            raise dg.Failure(f"{contract.table}: ingest failed ({type(exc).__name__}: {redact(str(exc))})") from None
        problems = {status: {f.file: "; ".join(f.notes) for f in result.by_status(status)}
                    for status in ("rejected", "conflict", "unrecognised")}
        for status, files in problems.items():
            for file, why in files.items():
                (context.log.warning if status == "unrecognised" else context.log.error)(f"{file} {status}: {why}")
        if not result.conserved:  # cannot happen unless the ingest code is wrong; never hide it
            raise dg.Failure(f"{contract.table}: landed rows != bronze + quarantined rows in batch {result.batch_id}")
        return dg.MaterializeResult(metadata={
            "batch_id": result.batch_id or "none (no new files)",
            "batches": len(result.batch_ids),  # a large backlog is committed in several (INGEST_BATCH_BYTES)
            "new_files": len(result.files),
            "files_already_ingested": result.skipped_files,
            "landed_rows": result.landed,
            "bronze_rows": result.bronze,
            "quarantined_rows": result.quarantined,
            "conserved": result.conserved,
            "rejected_files": dg.MetadataValue.json(problems["rejected"]),
            "conflicting_files": dg.MetadataValue.json(problems["conflict"]),
            "unrecognised_files": dg.MetadataValue.json(problems["unrecognised"]),
            "file_notes": dg.MetadataValue.json({f.file: f.notes for f in result.files if f.notes}),
        })

    return _ingest


contracts = load_contracts()
landing_specs = [landing_spec(c) for c in contracts.values()]
bronze_assets = [bronze_asset(c) for c in contracts.values()]
