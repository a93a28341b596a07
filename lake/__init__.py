"""The lake's bottom layer: its layout (every path), its storage (a local folder or S3), the source
contracts, the scores contract and the HMAC token SQL.

Everything above imports downward from here: simulator -> lake <- orchestration, models, features,
exports, dashboards. Nothing here imports any of them. Modules: ``lake.layout`` (LakeLayout),
``lake.storage``, ``lake.contracts``, ``lake.scores``, ``lake.tokens``; ``python -m lake.locate`` and
``python -m lake.storage put`` are the Makefile's helpers.
"""
