"""Where the lake lives and which secrets it uses, read from the environment once.

Embedded default: everything under ./data (git-ignored). Override with LAKE_ROOT.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEV_TOKEN_KEY = "dev-only-insecure-tokenisation-key"


@dataclass(frozen=True)
class LakeConfig:
    root: Path

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    @property
    def truth(self) -> Path:
        # Simulator truth: evaluation code only, never an ingestion or model input.
        return self.root / "truth"

    @property
    def bronze(self) -> Path:
        return self.root / "bronze"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def meta(self) -> Path:
        return self.root / "_meta"

    @property
    def database(self) -> Path:
        return self.root / "lakehouse.duckdb"

    @classmethod
    def from_env(cls) -> "LakeConfig":
        root = Path(os.environ.get("LAKE_ROOT", REPO_ROOT / "data")).resolve()
        return cls(root=root)


def tokenisation_key() -> str:
    """Key of the PII keyed hash. A stable key keeps tokens joinable across sources and runs."""
    key = os.environ.get("PII_TOKEN_KEY")
    if not key:
        warnings.warn(
            "PII_TOKEN_KEY is not set: using the insecure development key. "
            "Set PII_TOKEN_KEY to a secret before ingesting real data.",
            stacklevel=2,
        )
        return DEV_TOKEN_KEY
    return key
