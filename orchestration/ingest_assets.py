"""Landing (external) and bronze (ingest) assets, one pair per source contract."""

import dagster as dg

from orchestration.config import tokenisation_key
from lake.contracts import Contract, load_contracts
from orchestration.ingest.pipeline import ingest_table
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
    )
    def _ingest(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
        result = ingest_table(contract, lake.config(), tokenisation_key(), progress=context.log.info)
        rejected = [f.file for f in result.files if f.status == "rejected"]
        for f in result.files:
            if f.status == "rejected":
                context.log.error(f"{f.file}: {'; '.join(f.notes)}")
        if not result.conserved:  # cannot happen unless the ingest code is wrong; never hide it
            raise dg.Failure(f"{contract.table}: landed rows != bronze + quarantined rows in batch {result.batch_id}")
        return dg.MaterializeResult(metadata={
            "batch_id": result.batch_id or "none (no new files)",
            "new_files": len(result.files),
            "files_already_ingested": result.skipped_files,
            "landed_rows": result.landed,
            "bronze_rows": result.bronze,
            "quarantined_rows": result.quarantined,
            "conserved": result.conserved,
            "rejected_files": dg.MetadataValue.json(rejected),
            "file_notes": dg.MetadataValue.json({f.file: f.notes for f in result.files if f.notes}),
        })

    return _ingest


contracts = load_contracts()
landing_specs = [landing_spec(c) for c in contracts.values()]
bronze_assets = [bronze_asset(c) for c in contracts.values()]
