"""Partitions shared by scoring and exports: business dates are Asia/Shanghai days."""
import dagster as dg

BUSINESS_DATE_PARTITIONS = dg.DailyPartitionsDefinition(start_date="2026-01-01", timezone="Asia/Shanghai")
SCORES_ASSET_KEY = dg.AssetKey(["scores", "batch_scores"])
