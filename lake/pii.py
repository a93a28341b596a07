"""Shapes of personal data (mainland China): the one place ingestion and exports learn what PII looks like.

The patterns are RE2-compatible, so the same text serves Python (`re`) and DuckDB (`regexp_matches`).
They are bounded by non-digits so internal ids such as `PY00000000115` are not mistaken for a phone.
Names cannot be told from other Chinese text by shape; messages therefore never quote Chinese text at all.
"""
from __future__ import annotations

import re

_NO_DIGIT_BEFORE, _NO_DIGIT_AFTER = "(?:^|[^0-9])", "(?:[^0-9Xx]|$)"

PII_PATTERNS: dict[str, str] = {
    "national id": _NO_DIGIT_BEFORE + "[1-9][0-9]{16}[0-9Xx]" + _NO_DIGIT_AFTER,
    "phone number": _NO_DIGIT_BEFORE + "(?:\\+?86[ -]?)?1[3-9][0-9][ -]?[0-9]{4}[ -]?[0-9]{4}" + _NO_DIGIT_AFTER,
    "bank card": _NO_DIGIT_BEFORE + "[1-9][0-9]{3}(?:[ -]?[0-9]{4}){2}[ -]?[0-9]{4,7}" + _NO_DIGIT_AFTER,
    "e-mail address": "[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+\\.[A-Za-z0-9.-]+",
}
PII_RE = re.compile("|".join(f"(?:{p})" for p in PII_PATTERNS.values()))
# One SQL regex for "looks like personal data" (DuckDB regexp_matches, RE2 syntax).
PII_SQL_REGEX = "|".join(f"(?:{p})" for p in PII_PATTERNS.values())

_HAN_RE = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
HAN_SQL_REGEX = "\\p{Han}"  # Chinese characters (names among them), RE2 syntax
_LONG_DIGITS_RE = re.compile(r"[0-9]{7,}[Xx]?")


def pii_kind(text: str) -> str | None:
    """The kind of personal data `text` contains, or None."""
    for kind, pattern in PII_PATTERNS.items():
        if re.search(pattern, text):
            return kind
    return None


def redact(text: str) -> str:
    """A message safe to log: PII-shaped values, long digit runs and Chinese text (names) are replaced by a
    description of what was there. Used on every note, reason and error text that may quote data."""
    text = PII_RE.sub(lambda m: _keep_edges(m.group(0), "<personal data withheld>"), str(text))
    text = _LONG_DIGITS_RE.sub("<number withheld>", text)
    return _HAN_RE.sub("<text withheld>", text)


def _keep_edges(match: str, replacement: str) -> str:
    """Patterns include the non-digit character around the value; keep it."""
    head = match[0] if match and not match[0].isdigit() and match[0] not in "+" else ""
    tail = match[-1] if len(match) > 1 and not match[-1].isdigit() and match[-1] not in "Xx" else ""
    if "@" in match:
        head = tail = ""
    return head + replacement + tail
