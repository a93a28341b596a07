"""HMAC-SHA256 inside DuckDB SQL, the one implementation the lake's tokens are built on.

Tokenising millions of identifiers stays set-based and multi-threaded: the key is expanded to its RFC 2104
inner and outer pads here, in Python, and DuckDB computes ``sha256(opad || sha256(ipad || message))``.

* bronze PII tokens (ingest): ``tk_`` + 32 hex chars of HMAC(LAKE_PII_TOKEN_KEY, upper(trim(value)))
* partner customer tokens (exports/tokens.py): ``pt_`` + 32 hex chars of HMAC(partner key, customer_id)
"""
from __future__ import annotations

import hashlib

HMAC_BLOCK = 64  # SHA-256's block size in bytes
BRONZE_TOKEN_PREFIX = "tk_"
TOKEN_HEX_CHARS = 32  # 128 bits: collision-free at any portfolio size


def hmac_sql(expr: str, key: bytes | str) -> str:
    """SQL for the lower-case hex HMAC-SHA256 of a VARCHAR expression under ``key`` (RFC 2104)."""
    k = key.encode() if isinstance(key, str) else key
    if len(k) > HMAC_BLOCK:
        k = hashlib.sha256(k).digest()
    k = k.ljust(HMAC_BLOCK, b"\0")
    ipad = bytes(b ^ 0x36 for b in k).hex()
    opad = bytes(b ^ 0x5C for b in k).hex()
    return f"sha256(unhex('{opad}') || unhex(sha256(unhex('{ipad}') || encode({expr}))))"


def token_sql(expr: str, key: bytes | str, prefix: str, hex_chars: int = TOKEN_HEX_CHARS) -> str:
    """SQL for ``prefix`` + the first ``hex_chars`` hex characters of HMAC-SHA256(key, expr)."""
    return f"'{prefix}' || left({hmac_sql(expr, key)}, {int(hex_chars)})"


def bronze_token_sql(expr: str, key: str) -> str:
    """The bronze PII token of a text expression: trimmed and upper-cased first, so the same person
    tokenises alike in every source."""
    return token_sql(f"upper(trim({expr}))", key, BRONZE_TOKEN_PREFIX)
