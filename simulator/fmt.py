"""Vectorised helpers: segment expansion, time arithmetic and string building.

Everything here works on whole numpy / Arrow arrays. Strings are built as fixed-width byte
matrices and handed to Arrow as raw buffers, so millions of ids cost no Python objects.
"""
from __future__ import annotations

import zlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

DAY = 86_400
HOUR = 3_600


# --------------------------------------------------------------------------- randomness
def stream(seed: int, name: str) -> np.random.Generator:
    """Independent generator per named stage: changing one stage never shifts another's draws.

    crc32 (not hash()) keeps the stream id stable across processes.
    """
    return np.random.default_rng([int(seed), zlib.crc32(name.encode())])


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def choice_p(rng: np.random.Generator, n: int, probs) -> np.ndarray:
    """Categorical draw of n codes with the given (unnormalised) probabilities."""
    p = np.asarray(probs, dtype=float)
    cdf = np.cumsum(p / p.sum())
    return np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(p) - 1)


def choice_rows(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """One categorical draw per row of a (n, k) weight matrix (k small)."""
    cdf = np.cumsum(weights, axis=1)
    u = rng.random(len(weights)) * cdf[:, -1]
    return np.minimum((cdf < u[:, None]).sum(axis=1), weights.shape[1] - 1)


# --------------------------------------------------------------------------- segments
def seg(counts: np.ndarray):
    """Expand parents by counts: returns (parent index, position within parent) per child."""
    counts = np.asarray(counts, dtype=np.int64)
    parent = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    within = np.arange(len(parent)) - starts[parent]
    return parent, within


# --------------------------------------------------------------------------- time
def month_index(seconds: np.ndarray) -> np.ndarray:
    """Months since 1970-01 of each timestamp (epoch seconds)."""
    return (seconds // DAY).astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


def month_start_day(month_idx: np.ndarray) -> np.ndarray:
    return np.asarray(month_idx, dtype=np.int64).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)


def add_months_day(day: np.ndarray, k: np.ndarray, max_dom: int = 28) -> np.ndarray:
    """Same day-of-month k months later (capped at max_dom so every month has it), as epoch days."""
    day = np.asarray(day, dtype=np.int64)
    m = day.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    dom = day - month_start_day(m) + 1
    return month_start_day(m + k) + np.minimum(dom, max_dom) - 1


def month_end_day(month_idx: np.ndarray) -> np.ndarray:
    return month_start_day(np.asarray(month_idx) + 1) - 1


def ts_array(seconds: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    return pa.array(np.asarray(seconds, dtype=np.int64), type=pa.timestamp("s"), mask=mask)


def date_array(days: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    return pa.array(np.asarray(days, dtype=np.int32), type=pa.date32(), mask=mask)


# --------------------------------------------------------------------------- strings
_DIGITS = np.frombuffer(b"0123456789", dtype=np.uint8)
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def digit_matrix(values: np.ndarray, width: int) -> np.ndarray:
    """(n, width) uint8 matrix of zero-padded decimal digits of non-negative ints."""
    v = np.asarray(values, dtype=np.uint64).copy()
    out = np.empty((len(v), width), dtype=np.uint8)
    for j in range(width - 1, -1, -1):  # loop over digit positions, not rows
        out[:, j] = _DIGITS[(v % 10).astype(np.int64)]
        v //= 10
    return out


def hex_matrix(values: np.ndarray, width: int) -> np.ndarray:
    v = np.asarray(values, dtype=np.uint64).copy()
    out = np.empty((len(v), width), dtype=np.uint8)
    for j in range(width - 1, -1, -1):
        out[:, j] = _HEX[(v & np.uint64(15)).astype(np.int64)]
        v >>= np.uint64(4)
    return out


def matrix_to_strings(mat: np.ndarray, valid: np.ndarray | None = None) -> pa.StringArray:
    """Fixed-width ASCII byte matrix -> Arrow string array, built from raw buffers."""
    mat = np.ascontiguousarray(mat, dtype=np.uint8)
    n, w = mat.shape
    offsets = (np.arange(n + 1, dtype=np.int64) * w).astype(np.int32)
    bitmap = None
    null_count = 0
    if valid is not None:
        valid = np.asarray(valid, dtype=bool)
        null_count = int((~valid).sum())
        bitmap = pa.py_buffer(np.packbits(valid, bitorder="little")) if null_count else None
    return pa.StringArray.from_buffers(
        n, pa.py_buffer(offsets), pa.py_buffer(mat.reshape(-1)), bitmap, null_count
    )


def prefixed_ids(prefix: str, values: np.ndarray, width: int) -> pa.StringArray:
    """prefix + zero-padded number, e.g. C000000042."""
    p = np.frombuffer(prefix.encode(), dtype=np.uint8)
    mat = np.empty((len(values), len(p) + width), dtype=np.uint8)
    mat[:, : len(p)] = p
    mat[:, len(p):] = digit_matrix(values, width)
    return matrix_to_strings(mat)


def mix64(values: np.ndarray, salt: int) -> np.ndarray:
    """Bijective 64-bit scramble (odd multiplier + xorshift) so ids look random but never collide."""
    x = np.asarray(values, dtype=np.uint64) + np.uint64(salt & 0xFFFFFFFF)
    with np.errstate(over="ignore"):
        x = x * np.uint64(0x9E3779B97F4A7C15)
        x ^= x >> np.uint64(29)
        x = x * np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(32)
    return x


def hex_ids(values: np.ndarray, width: int, salt: int, prefix: str = "") -> pa.StringArray:
    p = np.frombuffer(prefix.encode(), dtype=np.uint8)
    mat = np.empty((len(values), len(p) + width), dtype=np.uint8)
    mat[:, : len(p)] = p
    mat[:, len(p):] = hex_matrix(mix64(values, salt), width)
    return matrix_to_strings(mat)


def mac_strings(values: np.ndarray, salt: int) -> pa.StringArray:
    """aa:bb:cc:dd:ee:ff from a scrambled int (locally administered bit cleared for realism)."""
    h = hex_matrix(mix64(values, salt), 12)
    mat = np.full((len(values), 17), ord(":"), dtype=np.uint8)
    for k in range(6):
        mat[:, 3 * k: 3 * k + 2] = h[:, 2 * k: 2 * k + 2]
    return matrix_to_strings(mat)


def ip_strings(ip: np.ndarray) -> pa.Array:
    """uint32 -> dotted quad."""
    ip = np.asarray(ip, dtype=np.int64)
    parts = [pc.cast(pa.array((ip >> s) & 255), pa.string()) for s in (24, 16, 8, 0)]
    return pc.binary_join_element_wise(*parts, ".")


def dict_strings(indices: np.ndarray, dictionary, mask: np.ndarray | None = None) -> pa.DictionaryArray:
    """Column that repeats values of a small/known string array (ids, labels) by index."""
    if not isinstance(dictionary, pa.Array):
        dictionary = pa.array(list(dictionary), type=pa.string())
    idx = pa.array(np.asarray(indices, dtype=np.int32), mask=mask)
    return pa.DictionaryArray.from_arrays(idx, dictionary)


def with_nulls(arr: pa.Array, null_mask: np.ndarray) -> pa.Array:
    if not null_mask.any():
        return arr
    return pc.if_else(pa.array(null_mask), pa.scalar(None, arr.type), arr)
