"""The lake's bottom layer: its layout (every path), the source contracts and the scores contract.

Everything above imports downward from here: simulator -> lake <- orchestration, models, features,
exports, dashboards. Nothing here imports any of them.
"""
from lake.layout import LakeLayout, lake_root

__all__ = ["LakeLayout", "lake_root"]
