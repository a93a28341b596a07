"""Customers: latent truth, demographics, PII and the device / network footprint.

The latent variables (z, true income, ring, divert intent) are drawn first; every observable
column is a noisy function of them, so no single column reveals them.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import catalog as K
from .fmt import (DAY, HOUR, choice_p, digit_matrix, dict_strings, hex_ids, ip_strings,
                  mac_strings, matrix_to_strings, prefixed_ids, sigmoid, stream, ts_array,
                  date_array, with_nulls)

DMAX = 6  # most devices one customer ever uses
RING_SHARE = 0.015
# population constants (measured once on a large world) so that a customer's standardised
# income and education never depend on who else happens to be in the sample
LOG_INC_MU, LOG_INC_SD = 8.17, 0.525
EDU_CUTS = np.array([-1.26, -0.22, 0.48, 1.77])  # quantiles giving catalog.EDUCATION_SHARES


def _rings(rng, n):
    """Fraud rings of 3-15 members covering ~1.5% of customers (at least one ring if n >= 50)."""
    ring = np.full(n, -1, dtype=np.int32)
    target = int(round(RING_SHARE * n))
    if n < 50:
        return ring, np.zeros(0, dtype=np.int64)
    target = max(target, 3)
    sizes = rng.integers(3, 16, size=target // 3 + 2)
    keep = np.cumsum(sizes) <= target
    keep[0] = True
    sizes = sizes[keep]
    members = rng.choice(n, size=int(sizes.sum()), replace=False)
    ring[members] = np.repeat(np.arange(len(sizes), dtype=np.int32), sizes)
    return ring, sizes


def _time_of_day(rng, n):
    """Seconds into the day following the platform's hourly activity profile."""
    hour = choice_p(rng, n, K.HOUR_WEIGHTS)
    return hour * HOUR + rng.integers(0, HOUR, n)


def _national_ids(rng, area6, birth_day, male):
    """18-digit resident ids with the GB 11643 check character; re-draws sequence on collision."""
    n = len(area6)
    d = birth_day.astype("datetime64[D]")
    y = d.astype("datetime64[Y]").astype(np.int64) + 1970
    m = d.astype("datetime64[M]").astype(np.int64) % 12 + 1
    dd = (d - d.astype("datetime64[M]")).astype(np.int64) + 1
    birth8 = y * 10000 + m * 100 + dd
    seq = rng.integers(0, 100, n)
    parity = rng.integers(0, 5, n) * 2 + male.astype(np.int64)  # odd 17th digit = male
    key17 = (area6 * 10**8 + birth8) * 1000 + seq * 10 + parity
    for _ in range(20):  # vectorised re-draw of the (rare) duplicates
        _, first, counts = np.unique(key17, return_index=True, return_counts=True)
        dup = np.ones(n, dtype=bool)
        dup[first] = False
        if not dup.any():
            break
        seq[dup] = rng.integers(0, 100, dup.sum())
        key17[dup] = (area6[dup] * 10**8 + birth8[dup]) * 1000 + seq[dup] * 10 + parity[dup]
    mat = np.empty((n, 18), dtype=np.uint8)
    mat[:, :17] = digit_matrix(key17, 17)
    weights = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
    s = ((mat[:, :17].astype(np.int64) - 48) * weights).sum(axis=1) % 11
    mat[:, 17] = np.frombuffer(b"10X98765432", dtype=np.uint8)[s]
    return key17, matrix_to_strings(mat)


def _bank_cards(rng, n):
    """16-19 digit card numbers: real-looking BIN + random body + Luhn check digit."""
    bins = np.array([b for b, _ in K.CARD_BINS])
    lens = np.array([ln for _, ln in K.CARD_BINS])
    pick = rng.integers(0, len(bins), n)
    length = lens[pick]
    mat = np.zeros((n, 19), dtype=np.uint8)
    body = rng.integers(0, 10, (n, 19))
    mat[:, :6] = digit_matrix(bins[pick], 6) - 48
    mat[:, 6:] = body[:, 6:]
    # Luhn: from the digit left of the check digit, double every second digit
    pos = np.arange(19)[None, :]
    from_right = (length[:, None] - 2) - pos  # 0 for the digit left of the check digit
    inside = from_right >= 0
    dbl = inside & (from_right % 2 == 0)
    v = np.where(dbl, mat * 2, mat).astype(np.int64)
    v = np.where(v > 9, v - 9, v)
    total = np.where(inside, v, 0).sum(axis=1)
    check = (10 - total % 10) % 10
    mat[np.arange(n), length - 1] = check
    ascii_ = mat + 48
    # variable width: build per length (3 groups) and put back in customer order
    parts, order = [], []
    for ln in np.unique(length):
        idx = np.flatnonzero(length == ln)
        parts.append(matrix_to_strings(ascii_[idx, :ln]))
        order.append(idx)
    order = np.concatenate(order)
    inv = np.empty(n, dtype=np.int64)
    inv[order] = np.arange(n)
    return pa.concat_arrays(parts).take(pa.array(inv))


def build_customers(p) -> dict:
    rng = stream(p.seed, "customers")
    n = p.customers
    c: dict = {"n": n}

    # ---- latent truth
    z = rng.standard_normal(n)
    ring, ring_sizes = _rings(rng, n)
    is_ring = ring >= 0
    z[is_ring] = 0.8 * z[is_ring] - 0.3  # synthetic / borrowed identities skew weaker
    divert = rng.random(n) < sigmoid(-3.45 - 0.7 * z)
    divert[is_ring] = False  # rings just take the money; diversion is a borrower behaviour

    age = np.clip(18 + rng.gamma(2.2, 6.5, n), 18, 65)
    tier_code = choice_p(rng, n, K.TIER_SHARES)
    tiers = np.array([t for _, t, *_ in K.CITIES])
    by_tier = [np.flatnonzero(tiers == t + 1) for t in range(5)]
    tier_n = np.array([len(b) for b in by_tier])
    tier_start = np.array([b[0] for b in by_tier])
    city = tier_start[tier_code] + (rng.random(n) * tier_n[tier_code]).astype(np.int64)
    n_rings = len(ring_sizes)
    if n_rings:  # a gang operates from one city
        ring_city = rng.integers(0, len(K.CITIES), n_rings)
        city[is_ring] = ring_city[ring[is_ring]]
    tier = tiers[city]

    log_inc = (8.25 + 0.22 * z - 0.16 * (tier - 1) + 0.035 * (age - 18)
               - 0.0008 * (age - 18) ** 2 + rng.normal(0, 0.42, n))
    true_income = np.round(np.exp(log_inc), -1)
    inc_std = (log_inc - LOG_INC_MU) / LOG_INC_SD

    # ---- observable demographics (noisy functions of the latent)
    edu_score = 0.85 * inc_std + 0.15 * z + rng.normal(0, 0.55, n)
    edu = np.searchsorted(EDU_CUTS, edu_score)
    occ = np.zeros(n, dtype=np.int64)
    for e in range(len(K.EDUCATION)):  # loop over 5 levels, not customers
        idx = np.flatnonzero(edu == e)
        occ[idx] = choice_p(rng, len(idx), K.OCCUPATION_BY_EDU[e])
    occ[(age < 23) & (rng.random(n) < 0.5)] = K.OCCUPATIONS.index("student")
    male = rng.random(n) < 0.56
    overstate = rng.normal(0.08, 0.25, n) + 0.10 * (z < -1) + 0.35 * is_ring
    declared = np.round(true_income * np.exp(overstate), -2)
    declared_missing = rng.random(n) < 0.10 + 0.06 * (z < -1)
    channel = choice_p(rng, n, K.CHANNEL_SHARES)
    channel[is_ring] = np.where(rng.random(is_ring.sum()) < 0.5, 3, 0)

    # ---- registration time: some before the window, growth inside it, rings in bursts
    span = p.end_s - p.start_s
    u = rng.random(n)
    reg_day = np.where(
        rng.random(n) < 0.12,
        p.start_day - 1 - (u * 365).astype(np.int64),
        p.start_day + (u ** 0.8 * (span // DAY - 1)).astype(np.int64),
    )
    reg = reg_day * DAY + _time_of_day(rng, n)
    ring_start = np.zeros(n_rings, dtype=np.int64)
    if n_rings:
        ring_start = p.start_s + (rng.random(n_rings) * (span - 75 * DAY)).astype(np.int64)
        lag = np.minimum(rng.exponential(1.5 * DAY, is_ring.sum()), 10 * DAY).astype(np.int64)
        reg[is_ring] = ring_start[ring[is_ring]] + lag
    reg = np.minimum(reg, p.end_s - 2 * HOUR)

    # customers are numbered in registration order, as a core system would
    order = np.argsort(reg, kind="stable")
    z, ring, is_ring, divert, age, city, tier = (a[order] for a in (z, ring, is_ring, divert, age, city, tier))
    true_income, inc_std, log_inc, edu, occ, male = (a[order] for a in (true_income, inc_std, log_inc, edu, occ, male))
    declared, declared_missing, channel, reg = (a[order] for a in (declared, declared_missing, channel, reg))

    birth_day = reg // DAY - (age * 365.25).astype(np.int64) - rng.integers(0, 365, n)
    birth_day = np.maximum(birth_day, int(np.datetime64("1941-01-01").astype(np.int64)))

    # ---- PII
    city_area = np.array([a for *_, a in K.CITIES])
    area6 = city_area[city] * 100 + rng.integers(1, 19, n)
    nid_key, nid = _national_ids(rng, area6, birth_day, male)
    sw = 1.0 / (np.arange(len(K.SURNAMES)) + 4.0)
    sur = choice_p(rng, n, sw)
    g1 = rng.integers(0, len(K.GIVEN_CHARS), n)
    g2 = rng.integers(0, len(K.GIVEN_CHARS) + 1, n)  # last index = one-character given name
    given = pa.array(K.GIVEN_CHARS + [""])
    name = pc.binary_join_element_wise(pa.array(K.SURNAMES).take(pa.array(sur)),
                                       given.take(pa.array(g1)), given.take(pa.array(g2)), "")
    carriers = list(K.PHONE_PREFIXES)
    carrier = choice_p(rng, n, [0.6, 0.25, 0.15])
    prefix = np.zeros(n, dtype=np.int64)
    for ci, cname in enumerate(carriers):
        idx = np.flatnonzero(carrier == ci)
        lst = np.array(K.PHONE_PREFIXES[cname])
        prefix[idx] = lst[rng.integers(0, len(lst), len(idx))]
    phone = prefix * 10**8 + rng.integers(0, 10**8, n)
    cards = _bank_cards(rng, n)
    card_idx = np.arange(n)
    leader = np.arange(n)
    if n_rings:
        # ring members use SIMs from one batch (same first 7 digits); some reuse the leader's
        # phone or bank card outright, which the association graph can pick up
        members = np.flatnonzero(is_ring)
        first_of_ring = np.full(n_rings, n, dtype=np.int64)
        np.minimum.at(first_of_ring, ring[members], members)
        leader[members] = first_of_ring[ring[members]]
        lead_phone = phone[leader[members]]
        phone[members] = (lead_phone // 10**4) * 10**4 + rng.integers(0, 10**4, len(members))
        carrier[members] = carrier[leader[members]]
        follower = members[leader[members] != members]
        same_phone = follower[rng.random(len(follower)) < 0.25]
        phone[same_phone] = phone[leader[same_phone]]
        same_card = follower[rng.random(len(follower)) < 0.30]
        card_idx[same_card] = leader[same_card]
    bank_card = with_nulls(cards.take(pa.array(card_idx)), rng.random(n) < 0.08)

    c.update(z=z, ring=ring, is_ring=is_ring, n_rings=n_rings, ring_sizes=ring_sizes,
             ring_start=ring_start, divert=divert, age=age, city=city, tier=tier,
             true_income=true_income, log_inc=log_inc, inc_std=inc_std, edu=edu, occ=occ,
             male=male, declared=declared, declared_missing=declared_missing, channel=channel,
             reg=reg, birth_day=birth_day, nid_key=nid_key, nid=nid, name=name, phone=phone,
             carrier=carrier, bank_card=bank_card, leader=leader)
    c["customer_id"] = prefixed_ids("C", np.arange(1, n + 1), 9)
    _network(rng, p, c)
    return c


def _network(rng, p, c):
    """Devices (with change times), home IP, home Wi-Fi and home location per customer."""
    n, z, ring, is_ring = c["n"], c["z"], c["ring"], c["is_ring"]
    n_rings = c["n_rings"]
    ndev = 1 + np.minimum(rng.poisson(0.15 + 0.9 * sigmoid(-1.5 - 1.2 * z)), DMAX - 1)
    ndev[is_ring] = 1 + np.minimum(rng.poisson(1.2, is_ring.sum()), DMAX - 1)
    base = np.cumsum(ndev) - ndev
    j = np.arange(DMAX)[None, :]
    dev = base[:, None] + np.minimum(j, ndev[:, None] - 1)  # pad with the last device
    n_dev_total = int(ndev.sum())
    wifi = np.where(rng.random(n) < 0.7, np.arange(n), -1).astype(np.int64)
    city = c["city"]
    lat = np.array([x[2] for x in K.CITIES])[city] + rng.normal(0, 0.06, n)
    lon = np.array([x[3] for x in K.CITIES])[city] + rng.normal(0, 0.06, n)
    first_octets = np.array([36, 39, 42, 58, 59, 60, 61, 101, 106, 110, 111, 112, 113, 114, 115,
                             116, 117, 118, 119, 120, 121, 122, 123, 124, 125, 180, 182, 183,
                             202, 210, 211, 218, 219, 220, 221, 222, 223])
    prefix24 = (first_octets[rng.integers(0, len(first_octets), n)] << 16) | (rng.integers(0, 256, n) << 8) | rng.integers(0, 256, n)
    home_ip = (prefix24 << 8) | rng.integers(2, 255, n)

    if n_rings:
        # each ring runs a small pool of shared phones (device ids), one or two Wi-Fi routers
        # and one NAT address, and works from one spot
        sizes = c["ring_sizes"]
        pool = np.maximum(1, sizes // 3)
        pool_start = n_dev_total + np.cumsum(pool) - pool
        n_dev_total += int(pool.sum())
        members = np.flatnonzero(is_ring)
        r = ring[members]
        pick = pool_start[r][:, None] + (rng.random((len(members), DMAX)) * pool[r][:, None]).astype(np.int64)
        own = rng.random(len(members)) < 0.35  # some keep their own phone as first device
        pick[own, 0] = dev[members[own], 0]
        nd = ndev[members][:, None]
        dev[members] = np.where(j < nd, pick, np.take_along_axis(pick, nd - 1, axis=1))
        ring_wifi = n + 2 * np.arange(n_rings)
        wifi[members] = ring_wifi[r] + (rng.random(len(members)) < 0.3)
        first = np.full(n_rings, n, dtype=np.int64)
        np.minimum.at(first, r, members)
        share_ip = rng.random(len(members)) < 0.6
        home_ip[members] = np.where(share_ip, home_ip[first[r]], (home_ip[first[r]] & ~255) | rng.integers(2, 255, len(members)))
        lat[members] = lat[first[r]] + rng.normal(0, 0.004, len(members))
        lon[members] = lon[first[r]] + rng.normal(0, 0.004, len(members))
    # a few households share a tablet / phone: innocent links that make the graph noisy
    fam = np.flatnonzero((~is_ring) & (rng.random(n) < 0.01))
    other = rng.integers(0, n, len(fam))
    dev[fam, 0] = dev[other, 0]

    # device switch times, sorted, between registration and the end of the window
    u = np.sort(rng.random((n, DMAX - 1)), axis=1)
    change = c["reg"][:, None] + (u * (p.end_s - c["reg"])[:, None]).astype(np.int64)
    change[np.arange(DMAX - 1)[None, :] >= (ndev - 1)[:, None]] = np.iinfo(np.int64).max
    c.update(dev=dev, ndev=ndev, dev_change=change, n_dev_total=n_dev_total, wifi=wifi,
             home_ip=home_ip, home_lat=lat, home_lon=lon)
    c["device_ids"] = hex_ids(np.arange(n_dev_total), 16, p.seed)
    n_wifi = n + 2 * max(n_rings, 1) + 2
    c["n_wifi"] = n_wifi


def device_at(c, cust: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Global device index a customer used at time t (one pass per possible switch)."""
    k = np.zeros(len(cust), dtype=np.int64)
    for j in range(DMAX - 1):
        k += c["dev_change"][cust, j] <= t
    return c["dev"][cust, k]


def wifi_strings(p, ids: np.ndarray, valid: np.ndarray) -> pa.Array:
    return with_nulls(mac_strings(np.where(valid, ids, 0), p.seed + 7), ~valid)


def customers_table(p, c) -> pa.Table:
    rng = stream(p.seed, "customers_table")
    n = c["n"]
    miss = lambda rate: rng.random(n) < rate  # noqa: E731
    city_names = pa.array([x[0] for x in K.CITIES])
    return pa.table({
        "customer_id": c["customer_id"],
        "name": with_nulls(c["name"], miss(0.015)),
        "national_id": c["nid"],
        "phone": matrix_to_strings(digit_matrix(c["phone"], 11)),
        "bank_card": c["bank_card"],
        "gender": dict_strings(np.where(c["male"], 0, 1), ["M", "F"], mask=miss(0.02)),
        "birth_date": date_array(c["birth_day"]),
        "city": dict_strings(c["city"], city_names, mask=miss(0.02)),
        "city_tier": pa.array(c["tier"].astype(np.int32), mask=miss(0.01)),
        "education": dict_strings(c["edu"], K.EDUCATION, mask=miss(0.05)),
        "occupation": dict_strings(c["occ"], K.OCCUPATIONS, mask=miss(0.08)),
        "monthly_income": pa.array(c["declared"], mask=c["declared_missing"]),
        "channel": dict_strings(c["channel"], K.CHANNELS, mask=miss(0.01)),
        "registered_at": ts_array(c["reg"]),
    })


def ip_col(ips: np.ndarray, valid: np.ndarray) -> pa.Array:
    return with_nulls(ip_strings(ips), ~valid)
