"""Bureau-style external data: credit-report profiles, inquiries, public records, telco, blacklist.

A customer's bureau history (tradelines with a delinquency episode, inquiry events, public
records) is drawn once over a long time axis; each credit report renders the state as of its
pull time, so a customer who applies twice gets two consistent reports.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import catalog as K
from .fmt import (DAY, choice_p, choice_rows, date_array, digit_matrix, dict_strings,
                  matrix_to_strings, month_index, month_start_day, prefixed_ids, seg, sigmoid,
                  stream, ts_array, with_nulls)
from .people import _national_ids

KEY_BASE = 10**10  # customer * KEY_BASE + seconds-from-origin orders events per customer
MAX_INQ = 300


# --------------------------------------------------------------------------- profile
def build_profile(p, c) -> dict:
    rng = stream(p.seed, "bureau")
    n, z = c["n"], c["z"]
    b: dict = {"origin": p.start_s - 800 * DAY}

    # inquiries by other institutions: steady background + a burst around the time the
    # customer is shopping for credit (multi-lending), heavier for riskier people and rings
    lo, hi = p.start_s - 730 * DAY, p.end_s
    months = (hi - lo) / (30.44 * DAY)
    lam = np.exp(-1.7 + 0.55 * -z + rng.normal(0, 0.7, n))
    n_base = np.minimum(rng.poisson(lam * months), MAX_INQ // 2)
    n_burst = np.minimum(rng.poisson(np.exp(-0.5 - 0.8 * z + rng.normal(0, 0.6, n))), MAX_INQ // 4)
    n_burst[c["is_ring"]] += rng.poisson(6, c["is_ring"].sum())
    cb, _ = seg(n_base)
    cu, _ = seg(n_burst)
    t_base = lo + (rng.random(len(cb)) * (hi - lo)).astype(np.int64)
    anchor = c["reg"].copy()
    if c["n_rings"]:
        anchor[c["is_ring"]] = c["ring_start"][c["ring"][c["is_ring"]]]
    t_burst = anchor[cu] - 60 * DAY + (rng.random(len(cu)) * 90 * DAY).astype(np.int64)
    cust = np.concatenate([cb, cu])
    t = np.concatenate([t_base, t_burst])
    burst = np.concatenate([np.zeros(len(cb), bool), np.ones(len(cu), bool)])
    keep = t <= hi
    cust, t, burst = cust[keep], t[keep], burst[keep]
    key = cust * KEY_BASE + (t - b["origin"])
    o = np.argsort(key, kind="stable")
    cust, t, burst, key = cust[o], t[o], burst[o], key[o]
    p_sub = sigmoid(-0.8 - 0.9 * z)[cust]
    sub = (rng.random(len(cust)) < p_sub) | (burst & (rng.random(len(cust)) < 0.6))
    prime_w = [0.50, 0.15, 0.05, 0.28, 0.02]
    sub_w = [0.15, 0.30, 0.35, 0.10, 0.10]
    itype = np.where(sub, choice_p(rng, len(cust), sub_w), choice_p(rng, len(cust), prime_w))
    pool_size = np.array([200, 70, 1000, 60, 500])
    pool_start = np.cumsum(pool_size) - pool_size
    inst = 1 + pool_start[itype] + np.minimum(rng.zipf(1.15, len(cust)) - 1, pool_size[itype] - 1)
    cc_issuer = itype == 3
    reason = np.where(cc_issuer, np.where(rng.random(len(cust)) < 0.75, 1, 2),
                      choice_p(rng, len(cust), [0.65, 0.0, 0.30, 0.05]))
    b["inq"] = dict(cust=cust, t=t, key=key, itype=itype, inst=inst, reason=reason)

    # tradelines (other lenders' accounts)
    lam_t = np.exp(1.05 + 0.3 * c["inc_std"] + 0.12 * -z + 0.02 * (c["age"] - 30))
    thin = rng.random(n) < 0.13 + 0.15 * (c["age"] < 23)
    n_t = np.where(thin, 0, np.minimum(rng.poisson(lam_t), 20))
    tc, _ = seg(n_t)
    m = len(tc)
    zt, inc_t, age_t = z[tc], c["inc_std"][tc], c["age"][tc]
    w = np.tile(np.array([0.42, 0.06, 0.07, 0.25, 0.20]), (m, 1))
    w[:, 1] *= np.exp(0.6 * inc_t + 0.04 * (age_t - 30))
    w[:, 2] *= np.exp(0.4 * inc_t)
    w[:, 4] *= np.exp(0.5 * -zt)
    prod = choice_rows(rng, w)
    itype_t = np.zeros(m, dtype=np.int64)
    for k in range(5):
        idx = np.flatnonzero(prod == k)
        itype_t[idx] = choice_p(rng, len(idx), K.PRODUCT_ISSUERS[k])
    end_m = int(month_index(np.array([p.end_s]))[0])
    adult_m = month_index((c["birth_day"][tc] + int(18 * 365.25)) * DAY)
    first_m = np.maximum(adult_m, end_m - 120)
    span = np.maximum(end_m - first_m, 1)
    recency = np.exp(0.35 * -zt)  # riskier files have more recently opened accounts
    open_m = end_m - (span * rng.random(m) ** recency).astype(np.int64)
    open_day = month_start_day(open_m) + rng.integers(0, 28, m)
    term = np.select([prod == 1, prod == 2, prod == 3, prod == 4],
                     [rng.integers(240, 361, m), rng.integers(36, 61, m),
                      rng.integers(12, 37, m), rng.integers(3, 13, m)], 10**6)
    cc_close = (prod == 0) & (rng.random(m) < 0.12)
    term = np.where(cc_close, 1 + (rng.random(m) * 60).astype(np.int64), term)
    close_m = open_m + term
    inc = c["true_income"][tc]
    mult = np.select([prod == 0, prod == 1, prod == 2, prod == 3],
                     [rng.uniform(1, 5, m), rng.uniform(80, 250, m), rng.uniform(15, 40, m),
                      rng.uniform(2, 10, m)], rng.uniform(0.2, 1.5, m))
    limit = np.maximum(np.round(inc * mult, -2), 500.0)
    util = sigmoid(-1.0 + 0.8 * -zt + rng.normal(0, 0.5, m))
    has_del = rng.random(m) < sigmoid(-2.8 - 0.9 * zt + rng.normal(0, 0.5, m))
    del_start = open_m + (rng.random(m) * np.maximum(np.minimum(close_m, end_m) - open_m, 1)).astype(np.int64)
    del_len = 1 + choice_p(rng, m, [0.5, 0.2, 0.1, 0.07, 0.05, 0.04, 0.04])
    writeoff = has_del & (del_len >= 4) & (rng.random(m) < 0.7)
    close_m = np.where(writeoff, 10**6, close_m)
    del_start = np.where(has_del, del_start, 10**6)
    b["tl"] = dict(n=n_t, start=np.cumsum(n_t) - n_t, prod=prod, itype=itype_t, open_m=open_m,
                   open_day=open_day, close_m=close_m, term=term, limit=limit, util=util,
                   del_start=del_start, del_len=del_len, writeoff=writeoff,
                   ids=prefixed_ids("TL", np.arange(1, m + 1), 10))

    # public records: rare, more for risky people
    n_pr = np.where(rng.random(n) < sigmoid(-4.3 - 0.8 * z), 1 + (rng.random(n) < 0.3), 0)
    pc_, _ = seg(n_pr)
    b["pr"] = dict(n=n_pr, start=np.cumsum(n_pr) - n_pr,
                   rtype=choice_p(rng, len(pc_), [0.5, 0.2, 0.3]),
                   day=p.end_day - rng.integers(0, 5 * 365, len(pc_)),
                   amount=np.round(rng.lognormal(9, 1.2, len(pc_)), 2))
    return b


def recent_inquiries(b, cust: np.ndarray, t: np.ndarray, window_days: int) -> np.ndarray:
    """Inquiries of each (customer, time) in [t - window, t): binary search on sorted keys."""
    key = b["inq"]["key"]
    hi = cust * KEY_BASE + (t - b["origin"])
    lo = hi - window_days * DAY
    return np.searchsorted(key, hi, side="left") - np.searchsorted(key, lo, side="left")


# --------------------------------------------------------------------------- telco
def telco_checks(rng, p, c, cust, checked_at):
    """One telco verification per application; returns columns (numpy) for the decision too.

    Phone activation date and real-name registration are facts about the customer, drawn from
    their own stream so every check of the same person agrees (tenure just grows)."""
    crng = stream(p.seed, "telco_customer")
    n, z = c["n"], c["z"]
    age_m_reg = (c["reg"] // DAY - c["birth_day"]) / 30.44
    tenure_reg = np.minimum(np.exp(crng.normal(3.5 + 0.35 * z, 0.75)), np.maximum(age_m_reg - 16 * 12, 0))
    tenure_reg = np.where(c["is_ring"], crng.uniform(0, 4, n), tenure_reg)  # fresh SIMs
    activated = c["reg"] - (tenure_reg * 30.44 * DAY).astype(np.int64)
    mismatch = crng.random(n) < np.where(c["is_ring"], 0.30, 0.02 + 0.02 * (z < -1.5))
    m = len(cust)
    tenure = np.clip((checked_at - activated[cust]) // int(30.44 * DAY), 0, 600)
    status = choice_p(rng, m, [0.97, 0.02, 0.01])
    status = np.where((z[cust] < -1.5) & (rng.random(m) < 0.04), 1, status)
    return dict(tenure=tenure, name_match=~mismatch[cust], status=status,
                tenure_null=rng.random(m) < 0.03, match_null=rng.random(m) < 0.03,
                carrier_null=rng.random(m) < 0.02)


def telco_table(p, c, apps) -> pa.Table:
    tc = apps["telco"]
    cust = apps["cust"]
    o = np.argsort(apps["checked_at"], kind="stable")
    m = len(cust)
    phone = matrix_to_strings(digit_matrix(c["phone"][cust], 11))
    tbl = pa.table({
        "check_id": prefixed_ids("TC", np.arange(1, m + 1), 10),
        "customer_id": c["customer_id"].take(pa.array(cust[o])),
        "phone": phone.take(pa.array(o)),
        "checked_at": ts_array(apps["checked_at"][o]),
        "carrier": dict_strings(c["carrier"][cust][o], list(K.PHONE_PREFIXES), mask=tc["carrier_null"][o]),
        "tenure_months": pa.array(tc["tenure"][o].astype(np.int32), mask=tc["tenure_null"][o]),
        "name_match": pa.array(tc["name_match"][o], mask=tc["match_null"][o]),
        "status": dict_strings(tc["status"][o], ["active", "suspended", "closed"]),
    })
    return tbl


# --------------------------------------------------------------------------- identity (four-factor)
# Bureau-style four-factor verification (name, national id, phone, bank card) requested with every
# application. A genuine applicant's factors almost always match (a phone registered to a relative or an
# old card is the usual miss); synthetic and stolen identities used by fraud rings fail far more often.
# A "no hit" (the bureau does not know the person, or one factor is not covered) is NULL, never a pass.
IDENTITY_FACTORS = ("name", "id", "phone", "card")
_GENUINE_MISMATCH = np.array([0.004, 0.003, 0.03, 0.02])
_RING_MISMATCH = np.array([0.20, 0.25, 0.45, 0.40])


def identity_checks_table(p, c, apps) -> pa.Table:
    rng = stream(p.seed, "identity_checks")
    cust = apps["cust"]
    m = len(cust)
    ring = c["is_ring"][cust]
    # identity facts belong to the person: every check of the same customer agrees (own stream per customer)
    crng = stream(p.seed, "identity_customer")
    person_u = crng.random((c["n"], len(IDENTITY_FACTORS)))
    p_mismatch = np.where(c["is_ring"][:, None], _RING_MISMATCH, _GENUINE_MISMATCH * np.where(c["z"] < -1.5, 2.0, 1.0)[:, None])
    mismatch = (person_u < p_mismatch)[cust]
    age = (apps["t"] // DAY - c["birth_day"][cust]) / 365.25
    no_hit = rng.random(m) < np.where(age < 23, 0.05, 0.015)  # thin files: the bureau does not know them
    factor_null = rng.random((m, len(IDENTITY_FACTORS))) < np.array([0.0, 0.0, 0.02, 0.04])  # not covered
    checked_at = apps["checked_at"] - rng.integers(0, 60, m)
    o = np.argsort(checked_at, kind="stable")
    cols = {
        "check_id": prefixed_ids("IV", np.arange(1, m + 1), 10),
        "customer_id": c["customer_id"].take(pa.array(cust[o])),
        "checked_at": ts_array(checked_at[o]),
        "bureau_hit": pa.array(~no_hit[o]),
    }
    for k, f in enumerate(IDENTITY_FACTORS):
        cols[f"{f}_match"] = pa.array(~mismatch[o, k], mask=(no_hit | factor_null[:, k])[o])
    return pa.table(cols)


# --------------------------------------------------------------------------- blacklist
SOURCES = ["court_enforcement", "industry_fraud_list", "internal_fraud"]
REASONS = ["dishonest_debtor", "gang_fraud", "identity_fraud", "first_payment_default",
           "overdue_90_plus", "loan_fraud"]


def pre_blacklist(p, c) -> dict:
    """Entries known before anyone applies: some ring members, some people with a court
    record, and unrelated ids (the list is mostly about people we never see)."""
    rng = stream(p.seed, "blacklist_pre")
    n, z = c["n"], c["z"]
    ring_m = np.flatnonzero(c["is_ring"] & (rng.random(n) < 0.15))
    t_ring = c["ring_start"][c["ring"][ring_m]] - rng.integers(1, 180, len(ring_m)) * DAY
    court = np.flatnonzero((~c["is_ring"]) & (rng.random(n) < 0.25 * sigmoid(-3.3 - 1.3 * z)))
    t_court = c["reg"][court] - rng.integers(30, 1500, len(court)) * DAY
    cust = np.concatenate([ring_m, court])
    t = np.concatenate([t_ring, t_court]) + rng.integers(9 * 3600, 18 * 3600, len(cust))
    src = np.concatenate([np.full(len(ring_m), 1), np.full(len(court), 0)])
    reason = np.concatenate([np.where(rng.random(len(ring_m)) < 0.5, 1, 2), np.zeros(len(court), int)])
    return dict(cust=cust, t=t, src=src, reason=reason)


def post_blacklist(p, c, loans) -> dict:
    """Entries that follow from what happened on our book: ring first-payment defaults and
    seriously delinquent borrowers who never cured."""
    rng = stream(p.seed, "blacklist_post")
    L = loans
    fpd_ring = L["is_ring"] & L["d6"] & (L["k"] == 1)
    due = np.where(L["default_any"], L["due_k_day"], 0)  # NEVER * DAY would overflow
    t_ring = (due + rng.integers(35, 90, len(due))) * DAY
    serious = (~L["is_ring"]) & L["default_any"] & ~L["cured"]
    t_serious = (due + rng.integers(90, 300, len(due))) * DAY
    pick_r = fpd_ring & (rng.random(len(L["cust"])) < 0.5)
    pick_s = serious & (rng.random(len(L["cust"])) < 0.25)
    cust = np.concatenate([L["cust"][pick_r], L["cust"][pick_s]])
    t = np.concatenate([t_ring[pick_r], t_serious[pick_s]]) + rng.integers(9 * 3600, 18 * 3600, pick_r.sum() + pick_s.sum())
    src = np.concatenate([np.full(pick_r.sum(), 2), np.where(rng.random(pick_s.sum()) < 0.6, 0, 2)])
    reason = np.concatenate([np.full(pick_r.sum(), 3), np.where(src[pick_r.sum():] == 0, 0, 4)])
    # one entry per customer and source is enough
    _, first = np.unique(cust * 10 + src, return_index=True)
    return dict(cust=cust[first], t=t[first], src=src[first], reason=reason[first])


class BlacklistIndex:
    """Earliest listing time per national id and per phone, for the application rules."""

    def __init__(self, c, pre):
        self.nid = self._earliest(c["nid_key"][pre["cust"]], pre["t"])
        self.phone = self._earliest(c["phone"][pre["cust"]], pre["t"])

    @staticmethod
    def _earliest(keys, t):
        o = np.lexsort((t, keys))
        keys, t = keys[o], t[o]
        first = np.r_[True, keys[1:] != keys[:-1]] if len(keys) else np.zeros(0, bool)
        return keys[first], t[first]

    @staticmethod
    def _lookup(idx, keys, t):
        k, tt = idx
        if len(k) == 0:
            return np.zeros(len(keys), dtype=bool)
        pos = np.minimum(np.searchsorted(k, keys), len(k) - 1)
        return (k[pos] == keys) & (tt[pos] < t)

    def hit(self, c, cust, t):
        return self._lookup(self.nid, c["nid_key"][cust], t) | self._lookup(self.phone, c["phone"][cust], t)


def blacklist_table(p, c, pre, post) -> pa.Table:
    rng = stream(p.seed, "blacklist_table")
    n_rand = max(10, int(0.01 * c["n"]))
    cust = np.concatenate([pre["cust"], post["cust"]])
    t = np.concatenate([pre["t"], post["t"]])
    src = np.concatenate([pre["src"], post["src"], choice_p(rng, n_rand, [0.6, 0.3, 0.1])])
    reason = np.concatenate([pre["reason"], post["reason"], np.zeros(n_rand, int)])
    reason[len(cust):][src[len(cust):] == 1] = 5
    t_rand = p.start_s - 365 * DAY + (rng.random(n_rand) * (p.end_s - p.start_s + 365 * DAY)).astype(np.int64)
    # unrelated people: ids and phones that match no customer
    area6 = rng.integers(110101, 659999, n_rand)
    bday = rng.integers(int(np.datetime64("1960-01-01").astype(int)), int(np.datetime64("2004-01-01").astype(int)), n_rand)
    _, rand_nid = _national_ids(rng, area6, bday, rng.random(n_rand) < 0.5)
    rand_phone = np.array([135, 138, 150, 186, 189])[rng.integers(0, 5, n_rand)] * 10**8 + rng.integers(0, 10**8, n_rand)
    nid = pa.concat_arrays([c["nid"].take(pa.array(cust)), rand_nid])
    phone = matrix_to_strings(digit_matrix(np.concatenate([c["phone"][cust], rand_phone]), 11))
    t = np.concatenate([t, t_rand])
    m = len(t)
    has_nid = rng.random(m) < 0.85
    has_phone = (rng.random(m) < 0.6) | ~has_nid
    keep = t <= p.end_s
    o = np.flatnonzero(keep)[np.argsort(t[keep], kind="stable")]
    return pa.table({
        "blacklist_id": prefixed_ids("BL", np.arange(1, len(o) + 1), 8),
        "national_id": with_nulls(nid.take(pa.array(o)), ~has_nid[o]),
        "phone": with_nulls(phone.take(pa.array(o)), ~has_phone[o]),
        "listed_at": ts_array(t[o]),
        "source": dict_strings(src[o], SOURCES, mask=rng.random(len(o)) < 0.02),
        "reason": dict_strings(reason[o], REASONS, mask=rng.random(len(o)) < 0.05),
    })


# --------------------------------------------------------------------------- credit reports
def _json_list(parent: np.ndarray, n_parent: int, objects: pa.Array) -> pa.Array:
    """Join per-parent JSON object strings (parent sorted ascending) into '[...]' arrays."""
    counts = np.bincount(parent, minlength=n_parent)
    offsets = np.r_[0, np.cumsum(counts)].astype(np.int32)
    lists = pa.ListArray.from_arrays(pa.array(offsets), objects)
    return pc.binary_join_element_wise("[", pc.binary_join(lists, ","), "]", "")


def _s(col):  # quoted JSON string of an ASCII-safe column
    return pc.binary_join_element_wise('"', col, '"', "")


def _num(x: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(x), pa.string())


def _tradelines_json(b, rng, rcust, rday, rmonth):
    tl = b["tl"]
    n_r = len(rcust)
    parent, within = seg(tl["n"][rcust])
    idx = tl["start"][rcust][parent] + within
    vis = tl["open_day"][idx] <= rday[parent]
    parent, idx = parent[vis], idx[vis]
    m = len(idx)
    rm = rmonth[parent]
    months = rm[:, None] - np.arange(23, -1, -1)[None, :]  # oldest first, last = report month
    open_m, close_m = tl["open_m"][idx][:, None], tl["close_m"][idx][:, None]
    ds, dl = tl["del_start"][idx][:, None], tl["del_len"][idx][:, None]
    wo = tl["writeoff"][idx][:, None]
    since = months - ds + 1
    in_del = (since >= 1) & ((since <= dl) | wo)
    chars = np.full(months.shape, ord("N"), dtype=np.uint8)
    chars = np.where(in_del, (48 + np.minimum(since, 7)).astype(np.uint8), chars)
    chars = np.where(months >= close_m, ord("C"), chars)
    chars = np.where(months < open_m, ord("*"), chars).astype(np.uint8)
    status_str = matrix_to_strings(chars)
    last = chars[:, -1]
    closed = last == ord("C")
    overdue = (last >= ord("1")) & (last <= ord("7"))
    written = wo[:, 0] & (last == ord("7"))
    status = np.select([closed, written, overdue], [1, 3, 2], 0)
    age_m = rm - tl["open_m"][idx]
    prod = tl["prod"][idx]
    lim = tl["limit"][idx]
    bal = np.where(prod == 0, lim * np.clip(tl["util"][idx] + rng.normal(0, 0.12, m), 0, 1.05),
                   lim * np.clip(1 - age_m / tl["term"][idx], 0, 1))
    bal = np.where(closed, 0.0, np.round(bal, 2))
    obj = pc.binary_join_element_wise(
        '{"tradeline_id":"', tl["ids"].take(pa.array(idx)),
        '","institution_type":"', pa.array(K.INSTITUTION_TYPES).take(pa.array(tl["itype"][idx])),
        '","product":"', pa.array(K.TRADELINE_PRODUCTS).take(pa.array(prod)),
        '","opened_on":"', pc.cast(date_array(tl["open_day"][idx]), pa.string()),
        '","credit_limit":', _num(lim), ',"balance":', _num(bal),
        ',"status":"', pa.array(["normal", "closed", "overdue", "written_off"]).take(pa.array(status)),
        '","monthly_status":"', status_str, '"}', "")
    return _json_list(parent, n_r, obj)


def _inquiries_json(b, rcust, rt):
    q = b["inq"]
    n_r = len(rcust)
    hi = np.searchsorted(q["key"], rcust * KEY_BASE + (rt - b["origin"]), side="left")
    lo = np.searchsorted(q["key"], rcust * KEY_BASE + (rt - 730 * DAY - b["origin"]), side="left")
    parent, within = seg(hi - lo)
    idx = lo[parent] + within
    obj = pc.binary_join_element_wise(
        '{"inquired_at":"', pc.cast(ts_array(q["t"][idx]), pa.string()),
        '","institution_type":"', pa.array(K.INSTITUTION_TYPES).take(pa.array(q["itype"][idx])),
        '","institution_id":"', prefixed_ids("INS", q["inst"][idx], 5),
        '","reason":"', pa.array(K.INQUIRY_REASONS).take(pa.array(q["reason"][idx])), '"}', "")
    return _json_list(parent, n_r, obj)


def _public_records_json(b, rcust, rday):
    pr = b["pr"]
    parent, within = seg(pr["n"][rcust])
    idx = pr["start"][rcust][parent] + within
    vis = pr["day"][idx] <= rday[parent]
    parent, idx = parent[vis], idx[vis]
    obj = pc.binary_join_element_wise(
        '{"record_type":"', pa.array(K.PUBLIC_RECORD_TYPES).take(pa.array(pr["rtype"][idx])),
        '","filed_on":"', pc.cast(date_array(pr["day"][idx]), pa.string()),
        '","amount":', _num(pr["amount"][idx]), "}", "")
    return _json_list(parent, len(rcust), obj)


def credit_reports_table(p, c, b, apps) -> pa.Table:
    """One report per application, pulled seconds to minutes before it. Nested arrays are
    carried as JSON text (the contract types them json)."""
    rng = stream(p.seed, "credit_reports")
    o = np.argsort(apps["reported_at"], kind="stable")
    cust, t = apps["cust"][o], apps["reported_at"][o]
    n_r = len(cust)
    day = t // DAY
    month = month_index(t)
    chunks = {"tradelines": [], "inquiries": [], "public_records": []}
    step = 50_000  # bounded memory for the (report x tradeline x 24 months) expansion
    for s in range(0, n_r, step):
        sl = slice(s, s + step)
        chunks["tradelines"].append(_tradelines_json(b, rng, cust[sl], day[sl], month[sl]))
        chunks["inquiries"].append(_inquiries_json(b, cust[sl], t[sl]))
        chunks["public_records"].append(_public_records_json(b, cust[sl], day[sl]))
    no_hit = rng.random(n_r) < 0.02  # bureau returned no file for this pull
    # chunked: at millions of reports the JSON text passes Arrow's 2 GiB per-array limit
    cols = {k: with_nulls(pa.chunked_array(v, type=pa.string()), no_hit) for k, v in chunks.items()}
    return pa.table({
        "report_id": prefixed_ids("CR", np.arange(1, n_r + 1), 10),
        "customer_id": c["customer_id"].take(pa.array(cust)),
        "national_id": c["nid"].take(pa.array(cust)),
        "name": c["name"].take(pa.array(cust)),
        "reported_at": ts_array(t),
        **cols,
    })
