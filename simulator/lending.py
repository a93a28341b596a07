"""Origination: applications (legacy policy decision), credit lines, planned limit changes and
drawdowns (loans) with their pricing and true default probability.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from . import catalog as K
from .bureau import recent_inquiries, telco_checks
from .fmt import (DAY, HOUR, choice_p, choice_rows, dict_strings, prefixed_ids, seg, sigmoid,
                  stream, ts_array, month_index)
from .people import device_at, ip_col

APP_REASONS = ["auto_approve", "manual_review_pass", "low_score", "insufficient_income",
               "multi_lending", "blacklist_hit", "identity_mismatch", "age_out_of_range",
               "phone_not_active"]
PRODUCTS = ["revolving", "installment"]
TERMS = np.array([3, 6, 9, 12])

# legacy policy cut-off on its (noisy) score; tuned for ~65% approvals overall
LEGACY_THRESHOLD = -0.75
# true_pd = sigmoid(PD_INTERCEPT + PD_SLOPE * -z + ...): tuned so ~4-6% of loans reach 30+ DPD
# within 6 MOB and the Bayes AUC of true_pd lands around 0.8
PD_INTERCEPT = -3.45
PD_SLOPE = 1.25
RING_EFFECT = 6.0
SEASON = np.array([0.15, 0.15, 0, 0, 0, 0.05, 0, 0, 0, 0, 0.05, 0.12])  # Jan..Dec drawdown month


def round_to(x, step):
    return np.round(np.asarray(x) / step) * step


def _mobile_ip(rng, m):
    first = np.array([39, 111, 112, 117, 120, 223])[rng.integers(0, 6, m)]
    return (first << 24) | rng.integers(0, 1 << 24, m)


def current_ip(rng, c, cust):
    """Home broadband most of the time, a mobile-network address otherwise."""
    home = rng.random(len(cust)) < 0.6
    return np.where(home | c["is_ring"][cust], c["home_ip"][cust], _mobile_ip(rng, len(cust))), home


# --------------------------------------------------------------------------- applications
def _decide(rng, p, c, b, bl, cust, t, cust_noise):
    m = len(cust)
    z, ring = c["z"][cust], c["is_ring"][cust]
    checked_at = t - rng.integers(5, 120, m)
    reported_at = t - rng.integers(3, 300, m)
    telco = telco_checks(rng, p, c, cust, checked_at)
    age = (t // DAY - c["birth_day"][cust]) / 365.25
    ml3 = recent_inquiries(b, cust, t, 90)
    declared = np.where(c["declared_missing"][cust], np.nan, c["declared"][cust])
    inc_obs = np.where(np.isnan(declared), 0.0, (np.log(np.nan_to_num(declared, nan=1.0) + 1) - 8.4) / 0.5)
    score = (0.50 * z + 0.15 * np.clip(inc_obs, -3, 3) + 0.55 * cust_noise[cust]
             + 0.45 * rng.standard_normal(m) - 0.06 * np.minimum(ml3, 10) + 0.8 * ring)
    reason = np.where(score >= LEGACY_THRESHOLD + 0.5, 0, 1)
    low = score < LEGACY_THRESHOLD
    poor = np.isnan(declared) | (np.nan_to_num(declared) < 2500)
    reason = np.where(low, np.where(poor & (rng.random(m) < 0.6), 3, 2), reason)
    # hard rules, checked last so the most fundamental one wins
    reason = np.where(ml3 >= 9, 4, reason)
    reason = np.where((telco["status"] != 0) & (rng.random(m) < 0.5), 8, reason)
    reason = np.where(~telco["name_match"] & (rng.random(m) < 0.7), 6, reason)
    reason = np.where(bl.hit(c, cust, t), 5, reason)
    reason = np.where((age < 20) | (age > 55), 7, reason)
    approved = reason <= 1

    inc_base = np.where(np.isnan(declared), 3000.0, declared)
    requested = np.clip(round_to(inc_base * rng.uniform(1.5, 6, m), 1000), 1000, 200000)
    req_null = rng.random(m) < 0.04
    lim = np.clip(round_to(inc_base * (0.8 + 2.2 * sigmoid(1.7 * score)), 500), 1000, 50000)
    lim = np.where(req_null, lim, np.maximum(np.minimum(lim, requested), 1000))
    return dict(cust=cust, t=t, checked_at=checked_at, reported_at=reported_at, telco=telco,
                reason=reason, approved=approved, score=score, requested=requested,
                req_null=req_null, approved_limit=np.where(approved, lim, np.nan),
                offer_limit=lim)  # the limit a declined applicant would have got (counterfactual truth)


def build_applications(p, c, b, bl) -> dict:
    rng = stream(p.seed, "applications")
    n, is_ring = c["n"], c["is_ring"]
    cust_noise = rng.standard_normal(n)  # what the legacy score sees that is not z
    applies = (rng.random(n) < 0.80) | is_ring
    cust = np.flatnonzero(applies)
    m = len(cust)
    delay = np.where(rng.random(m) < 0.35, rng.uniform(300, DAY, m),
                     HOUR + rng.exponential(45 * DAY, m))
    delay = np.where(is_ring[cust], rng.uniform(1200, 2 * DAY, m), delay).astype(np.int64)
    t = c["reg"][cust] + delay
    before = t < p.start_s  # customers from before the window apply once it opens
    t[before] = p.start_s + (rng.exponential(20 * DAY, before.sum()) + rng.uniform(0, DAY, before.sum())).astype(np.int64)
    rounds = []
    for reapply_p in (0.30, 0.20, 0.0):  # a few rounds of re-applying after a rejection
        keep = t <= p.end_s
        cust, t = cust[keep], t[keep]
        if len(cust) == 0:
            break
        d = _decide(rng, p, c, b, bl, cust, t, cust_noise)
        rounds.append(d)
        again = (~d["approved"]) & (rng.random(len(cust)) < reapply_p)
        cust = cust[again]
        t = t[again] + (30 * DAY + rng.exponential(60 * DAY, again.sum())).astype(np.int64)
    apps = {k: np.concatenate([r[k] for r in rounds]) for k in rounds[0] if k != "telco"}
    apps["telco"] = {k: np.concatenate([r["telco"][k] for r in rounds]) for k in rounds[0]["telco"]}
    o = np.argsort(apps["t"], kind="stable")
    apps = {k: (v[o] if k != "telco" else {kk: vv[o] for kk, vv in v.items()}) for k, v in apps.items()}
    m = len(apps["t"])
    apps["product"] = np.where(rng.random(m) < 0.62, 0, 1)
    apps["channel"] = np.where(rng.random(m) < 0.85, c["channel"][apps["cust"]], choice_p(rng, m, K.CHANNEL_SHARES))
    apps["channel_null"] = rng.random(m) < 0.03
    apps["device"] = device_at(c, apps["cust"], apps["t"])
    apps["ip"], _ = current_ip(rng, c, apps["cust"])
    apps["device_null"] = rng.random(m) < 0.04
    apps["ip_null"] = rng.random(m) < 0.04
    return apps


def applications_table(p, c, apps) -> pa.Table:
    m = len(apps["t"])
    return pa.table({
        "application_id": prefixed_ids("AP", np.arange(1, m + 1), 10),
        "customer_id": c["customer_id"].take(pa.array(apps["cust"])),
        "applied_at": ts_array(apps["t"]),
        "product": dict_strings(apps["product"], PRODUCTS),
        "channel": dict_strings(apps["channel"], K.CHANNELS, mask=apps["channel_null"]),
        "requested_limit": pa.array(apps["requested"], mask=apps["req_null"]),
        "decision": dict_strings(np.where(apps["approved"], 0, 1), ["approved", "rejected"]),
        "decision_reason": dict_strings(apps["reason"], APP_REASONS),
        "approved_limit": pa.array(apps["approved_limit"], mask=~apps["approved"]),
        "device_id": dict_strings(apps["device"], c["device_ids"], mask=apps["device_null"]),
        "ip": ip_col(apps["ip"], ~apps["ip_null"]),
    })


# --------------------------------------------------------------------------- lines
def build_lines(p, c, apps) -> dict:
    rng = stream(p.seed, "lines")
    a = np.flatnonzero(apps["approved"])
    opened = apps["t"][a] + rng.integers(60, 7200, len(a))
    keep = opened <= p.end_s
    a, opened = a[keep], opened[keep]
    cust = apps["cust"][a]
    return dict(app=a, cust=cust, opened=opened, product=apps["product"][a],
                limit0=apps["approved_limit"][a], score=apps["score"][a],
                is_ring=c["is_ring"][cust], z=c["z"][cust])


def lines_table(p, c, apps, lines) -> pa.Table:
    m = len(lines["app"])
    return pa.table({
        "line_id": prefixed_ids("LN", np.arange(1, m + 1), 10),
        "customer_id": c["customer_id"].take(pa.array(lines["cust"])),
        "application_id": prefixed_ids("AP", lines["app"] + 1, 10),
        "product": dict_strings(lines["product"], PRODUCTS),
        "opened_at": ts_array(lines["opened"]),
        "initial_limit": pa.array(lines["limit0"]),
    })


# --------------------------------------------------------------------------- drawdowns
N_CHECKPOINTS = 8  # limit reviews every 90 days after opening


def candidate_drawdowns(p, lines) -> dict:
    """Drawdown times per line before any outcome is known (a freeze later removes some)."""
    rng = stream(p.seed, "drawdown_times")
    nl = len(lines["app"])
    z, ring = lines["z"], lines["is_ring"]
    months_rem = (p.end_s - lines["opened"]) / (30.44 * DAY)
    rate = np.exp(rng.normal(-0.9 - 0.25 * z, 0.5))
    n_rev = 1 + np.minimum(rng.poisson(rate * months_rem), 14)
    n_inst = 1 + np.minimum(rng.poisson(0.04 * months_rem), 2)
    n = np.where(lines["product"] == 0, n_rev, n_inst)
    n = np.where(rng.random(nl) < 0.07, 0, n)  # opened and never used
    n = np.where(ring, 1 + (rng.random(nl) < 0.2), n)
    line, within = seg(n)
    m = len(line)
    first = lines["opened"] + 60 + rng.exponential(4 * DAY, nl).astype(np.int64)
    first = np.where(ring, lines["opened"] + rng.integers(300, DAY, nl), first)
    t = np.where(within == 0, first[line],
                 first[line] + (rng.random(m) * np.maximum(p.end_s - first[line], 0)).astype(np.int64))
    o = np.lexsort((t, line))
    line, t = line[o], t[o]
    keep = t <= p.end_s
    return dict(line=line[keep], t=t[keep])


def plan_limits(p, lines, cand) -> dict:
    """Limit reviews decided by the platform's behaviour policy (good payers grow, risky ones
    get swept down). Planned up front; reviews after a line's first default are cancelled."""
    rng = stream(p.seed, "limit_plan")
    nl = len(lines["app"])
    opened_day = lines["opened"] // DAY
    k = np.arange(1, N_CHECKPOINTS + 1)
    cp_t = (opened_day[:, None] + 90 * k[None, :]) * DAY + 2 * HOUR + rng.integers(0, 2 * HOUR, (nl, N_CHECKPOINTS))
    first_draw = np.full(nl, np.iinfo(np.int64).max // 2)
    np.minimum.at(first_draw, cand["line"], cand["t"])
    z = lines["z"][:, None]
    eligible = (cp_t - 60 * DAY >= first_draw[:, None]) & ~lines["is_ring"][:, None]
    p_inc = sigmoid(-1.7 + 0.9 * z + rng.normal(0, 0.5, (nl, 1)))
    p_dec = sigmoid(-4.3 - 0.9 * z)
    u = rng.random((nl, N_CHECKPOINTS))
    ev = np.where(eligible & (u < p_inc), 1, np.where(u > 1 - p_dec, 2, 0))
    ev[cp_t > p.end_s] = 0
    L = np.zeros((nl, N_CHECKPOINTS + 1))
    L[:, 0] = lines["limit0"]
    for j in range(N_CHECKPOINTS):  # 8 review rounds, each vectorised over lines
        old = L[:, j]
        up = np.minimum(round_to(old * rng.uniform(1.15, 1.6, nl), 500), 100000)
        down = np.maximum(round_to(old * rng.uniform(0.5, 0.8, nl), 500), 500)
        new = np.select([ev[:, j] == 1, ev[:, j] == 2], [up, down], old)
        ev[new == old, j] = 0
        L[:, j + 1] = new
    return dict(cp_t=cp_t, ev=ev, L=L)


def limit_at(plan, line, t, cancel_after=None):
    """Limit in force on a line at time t (reviews after cancel_after do not count)."""
    kk = np.zeros(len(line), dtype=np.int64)
    for j in range(N_CHECKPOINTS):
        ok = plan["cp_t"][line, j] <= t
        if cancel_after is not None:
            ok &= plan["cp_t"][line, j] < cancel_after[line]
        kk += ok
    return plan["L"][line, kk]


def price_loans(p, c, lines, plan, cand) -> dict:
    """Amount, term, rate, purpose, partner and the true 6-MOB default probability."""
    rng = stream(p.seed, "loans")
    line, t = cand["line"], cand["t"]
    m = len(line)
    cust = lines["cust"][line]
    z, ring, divert = c["z"][cust], c["is_ring"][cust], c["divert"][cust]
    prod = lines["product"][line]
    lim = limit_at(plan, line, t)
    amount, term = draw_amount_and_term(rng, z, ring, prod, lim)
    rate = np.clip(0.19 - 0.035 * lines["score"][line] + rng.normal(0, 0.012, m), 0.072, 0.24)
    rate = np.round(rate + 0.01 * (prod == 1), 4)
    purpose = np.where(divert, choice_p(rng, m, K.PURPOSE_SHARES_DIVERT), choice_p(rng, m, K.PURPOSE_SHARES))
    partner = choice_p(rng, m, K.PARTNER_SHARES)
    channel = choice_p(rng, m, [0.70, 0.06, 0.20, 0.04])

    return dict(line=line, t=t, cust=cust, z=z, is_ring=ring, divert=divert, product=prod,
                amount=amount, term=term, rate=rate, purpose=purpose, partner=partner,
                channel=channel, channel_null=rng.random(m) < 0.02,
                true_pd=true_default_probability(p, c, cust, t, amount, term))


def draw_amount_and_term(rng, z, ring, prod, lim):
    """Drawdown amount (a share of the limit in force) and term: booked loans and the counterfactual
    first loan of every application draw them the same way."""
    m = len(z)
    share = np.where(prod == 0, np.clip(rng.beta(2, 2.6, m) + 0.06 * -z, 0.03, 1.0), rng.beta(4, 2, m))
    share = np.where(ring, rng.uniform(0.85, 1.0, m), share)
    amount = np.minimum(np.maximum(np.floor(lim * share / 100) * 100, 100.0), lim)
    base = np.where((prod == 0)[:, None], [0.30, 0.35, 0.12, 0.23], [0.05, 0.30, 0.20, 0.45])
    w = base * np.exp(1.2 * (share - 0.45)[:, None] * np.array([-1, 0, 0.5, 1])[None, :])
    return amount, TERMS[choice_rows(rng, w)]


def true_default_probability(p, c, cust, t, amount, term):
    """The true probability that a loan drawn at t defaults within 6 MOB (the one hazard of the world)."""
    z, ring, divert = c["z"][cust], c["is_ring"][cust], c["divert"][cust]
    month = month_index(t)
    cal_month = month % 12
    window_month = month - month_index(np.array([p.start_s]))[0]
    macro = 0.3 * ((window_month >= 8) & (window_month < 12))  # a loosely underwritten stretch
    term_eff = np.select([term == 3, term == 9, term == 12], [-0.2, 0.1, 0.2], 0.0)
    logit = (PD_INTERCEPT + PD_SLOPE * -z + SEASON[cal_month] + macro
             + 0.3 * np.log(amount / c["true_income"][cust]) + term_eff + 0.4 * divert
             + RING_EFFECT * ring)
    return sigmoid(logit)


def drawdowns_table(p, c, lines, L) -> pa.Table:
    m = len(L["t"])
    return pa.table({
        "loan_id": prefixed_ids("LO", np.arange(1, m + 1), 10),
        "line_id": prefixed_ids("LN", L["line"] + 1, 10),
        "customer_id": c["customer_id"].take(pa.array(L["cust"])),
        "drawdown_at": ts_array(L["t"]),
        "amount": pa.array(L["amount"]),
        "term_months": pa.array(L["term"].astype(np.int32)),
        "annual_rate": pa.array(L["rate"]),
        "declared_purpose": dict_strings(L["purpose"], K.PURPOSES),
        "partner_id": dict_strings(L["partner"], K.PARTNERS),
        "product": dict_strings(L["product"], PRODUCTS),
        "channel": dict_strings(L["channel"], K.CHANNELS, mask=L["channel_null"]),
    })
