"""Secrets of the ingestion boundary, read from the environment. The lake's layout is ``lake.layout``."""
from __future__ import annotations

import os
import warnings

DEV_TOKEN_KEY = "dev-only-insecure-tokenisation-key"


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
