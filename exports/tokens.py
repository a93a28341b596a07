"""Pseudonymous partner-facing customer tokens.

A partner never sees the internal ``customer_id``. Each export row carries
``customer_token = "pt_" + hex(HMAC-SHA256(partner_key, customer_id))[:32]`` where
``partner_key = HMAC-SHA256(EXPORT_TOKEN_KEY, "risk-lakehouse/partner-token/v1/" + partner_id)``.

* Per-partner keys: two partners get different tokens for the same customer, so their files cannot
  be joined with each other (nor with the internal id, nor with the ingest PII tokens, which use
  another key).
* Stable: the same partner sees the same token for a customer on every day, as long as
  ``EXPORT_TOKEN_KEY`` is unchanged. Each manifest carries a ``token_key_id`` (a fingerprint of the
  partner key) so a partner can tell when the key was rotated and tokens changed.
* How partners map tokens to their borrowers: the platform hands the same token to the partner at
  origination (the loan/funding file the partner receives when it funds a loan carries
  ``customer_token`` next to the partner's own loan reference). ``partner_token`` below is the one
  function to call for that; the partner keeps the mapping on its side.

The DuckDB expression (``token_sql``) and the Python function give identical tokens (tested).
"""
from __future__ import annotations

import hashlib
import hmac
import os
import warnings

from lake.tokens import token_sql as lake_token_sql

DEV_EXPORT_TOKEN_KEY = "dev-only-insecure-export-token-key"
TOKEN_PREFIX = "pt_"
TOKEN_HEX_CHARS = 32  # 128 bits: collision-free at any portfolio size, shorter than a full digest
_DOMAIN = b"risk-lakehouse/partner-token/v1/"


def export_token_key() -> str:
    """Master key from EXPORT_TOKEN_KEY; a development default with a warning when unset."""
    key = os.environ.get("EXPORT_TOKEN_KEY")
    if not key:
        warnings.warn(
            "EXPORT_TOKEN_KEY is not set: partner customer tokens use the insecure development key. "
            "Set EXPORT_TOKEN_KEY to a secret before sending files to partners.",
            stacklevel=2,
        )
        return DEV_EXPORT_TOKEN_KEY
    return key


def partner_key(partner_id: str, master_key: str | None = None) -> bytes:
    master = (master_key if master_key is not None else export_token_key()).encode()
    return hmac.new(master, _DOMAIN + partner_id.encode(), hashlib.sha256).digest()


def partner_token(customer_id: str, partner_id: str, master_key: str | None = None) -> str:
    """The token partner `partner_id` sees for `customer_id` (use this in origination files too)."""
    key = partner_key(partner_id, master_key)
    return TOKEN_PREFIX + hmac.new(key, customer_id.encode(), hashlib.sha256).hexdigest()[:TOKEN_HEX_CHARS]


def token_key_id(key: bytes) -> str:
    """A short public fingerprint of a partner key (reveals nothing usable about the key)."""
    return hmac.new(key, b"key-id", hashlib.sha256).hexdigest()[:12]


def token_sql(expr: str, key: bytes) -> str:
    """DuckDB SQL for the same token over a VARCHAR expression (lake.tokens: RFC 2104 HMAC with DuckDB's
    sha256), so tokenising a million rows stays vectorised and multi-threaded."""
    return lake_token_sql(expr, key, TOKEN_PREFIX, TOKEN_HEX_CHARS)
