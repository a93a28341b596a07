"""Feature-mart assets beyond the dbt models: per-feature stats (+ the dictionary) and a catalog check.

The mart itself is dbt (dbt_project/models/features/, generated from features/catalog.yaml): Dagster picks
those models up with the other dbt assets as features/feat_* (group `features`). This module adds

* features/feature_stats: missing rate, distinct count, IV against a simple A-card label (optbinning WoE
  binning for the most informative features), PSI between the first and the last observation periods,
  written with the feature dictionary to <LAKE_ROOT>/features/_stats/ (the dashboards' Features page reads them);
* an asset check that the mart's Parquet tables hold exactly the catalog's features and that the committed
  dbt SQL is what the catalog generates.

Register with: ``assets=[..., *feature_assets]``, ``asset_checks=[..., *feature_checks]``.
"""

import dagster as dg

from features.catalog import KEY_COLUMNS, catalog
from features.generate import diff
from features.stats import compute_feature_stats, write_stats
from lake.storage import parquet_metadata
from orchestration.resources import LakeResource

FEATURES_GROUP = "features"
STATS_KEY = dg.AssetKey([FEATURES_GROUP, "feature_stats"])
# the dbt models, as keyed by orchestration.dbt_assets.LayerTranslator (folder / model name)
MART_KEYS = [dg.AssetKey([FEATURES_GROUP, t]) for t in ["feat_spine", *catalog().tables]]


@dg.asset(
    key=STATS_KEY,
    deps=MART_KEYS,
    group_name=FEATURES_GROUP,
    kinds={"python", "parquet"},
    # reads labels from lakehouse.duckdb (read-only): never while dbt holds the writer lock
    pool="lakehouse_duckdb_writer",
    description=("Per-feature stats of the feature mart: missing rate (exact), distinct count and distribution "
                 "(sample), IV against a simple A-card label (30+ DPD within 6 MOB of the loans after an "
                 "application; optbinning WoE binning for the top features by quick decile IV), PSI between the "
                 "first and the last 3 observation months. Writes <LAKE_ROOT>/features/_stats/."),
)
def feature_stats(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    layout = lake.config()
    stats, summary, labels = compute_feature_stats(layout, log=context.log.info)
    paths = write_stats(layout, stats, summary, labels)
    rows = stats.to_pylist()
    top = sorted((r for r in rows if r.get("iv") is not None), key=lambda r: -r["iv"])[:15]
    shifted = sum(1 for r in rows if r.get("psi_class") == "shift")
    return dg.MaterializeResult(metadata={
        **{k: (dg.MetadataValue.json(v) if isinstance(v, list) else v) for k, v in summary.items()},
        "features_shifted_psi_gt_0_25": shifted,
        "top_iv": dg.MetadataValue.md("\n".join(
            ["| feature | IV | method | PSI |", "| --- | ---: | --- | ---: |"]
            + [f"| `{r['name']}` | {r['iv']:.3f} | {r['iv_method']} | "
               f"{'' if r['psi'] is None else format(r['psi'], '.3f')} |" for r in top])),
        "stats_path": dg.MetadataValue.path(str(paths["stats"])),
        "dictionary_path": dg.MetadataValue.path(str(paths["dictionary"])),
    })


@dg.asset_check(asset=STATS_KEY, description="The mart's Parquet tables hold exactly the catalog's features "
                                              "(and the committed dbt SQL is what the catalog generates).")
def mart_matches_catalog(lake: LakeResource) -> dg.AssetCheckResult:
    cat = catalog()
    layout = lake.config()
    problems: dict[str, object] = {}
    stale = diff(cat)
    if stale:
        problems["stale_generated_files"] = stale
    for table, feats in cat.by_table().items():
        path = layout.feature_table(table)
        if not path.exists():
            problems[table] = "missing"
            continue
        names = parquet_metadata(path).schema.names
        expected = [*KEY_COLUMNS, *(f.name for f in feats)]
        if names != expected:
            problems[table] = {"missing": sorted(set(expected) - set(names))[:20],
                               "unexpected": sorted(set(names) - set(expected))[:20]}
    return dg.AssetCheckResult(passed=not problems, metadata={
        "features": len(cat.features), "tables": len(cat.tables),
        "problems": dg.MetadataValue.json(problems)})


feature_assets = [feature_stats]
feature_checks = [mart_matches_catalog]
