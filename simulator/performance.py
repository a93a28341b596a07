"""Loan performance: default process, repayment schedule, payments, collection actions and
the limit events that follow from behaviour.

A loan's fate is drawn once (does it default within 6 MOB, at which installment, does it cure,
prepay, pay partially, recover late); payments and collection actions are then rendered from
that fate, and everything after the end of the window is cut off.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from .fmt import (DAY, HOUR, add_months_day, choice_p, choice_rows, date_array, dict_strings,
                  month_end_day, month_index, prefixed_ids, seg, sigmoid, stream, ts_array)
from .lending import limit_at, round_to

# where in the life of a defaulting loan payments stop: early installments dominate, which is
# what makes vintage curves rise fast and then flatten
DEFAULT_INSTALLMENT_W = np.array([0.34, 0.24, 0.18, 0.14, 0.10])
NEVER = np.iinfo(np.int64).max // 4


def _daytime(rng, m):
    return (8 * HOUR + rng.integers(0, 14 * HOUR, m)).astype(np.int64)


def simulate_fate(p, L) -> dict:
    """Per-loan fate, drawn before the freeze cut so the cut can use it."""
    rng = stream(p.seed, "fate")
    m = len(L["t"])
    term, pd, ring = L["term"], L["true_pd"], L["is_ring"]
    d6 = rng.random(m) < pd
    cap = np.minimum(term, 5)
    cdf = np.cumsum(DEFAULT_INSTALLMENT_W) / DEFAULT_INSTALLMENT_W.sum()
    u = rng.random(m) * cdf[cap - 1]
    k = 1 + np.searchsorted(cdf, u, side="right")
    k = np.where(ring, np.where(rng.random(m) < 0.9, 1, 2), k)  # rings never pay the first one
    k = np.minimum(k, term)
    # some longer loans go bad after MOB 6: visible in vintage curves, not in the 6-MOB label
    late = (~d6) & (term >= 9) & (rng.random(m) < 0.3 * pd)
    k = np.where(late, 7 + (rng.random(m) * (term - 6)).astype(np.int64), k)
    default_any = d6 | late
    k = np.where(default_any, k, 0)
    draw_day = L["t"] // DAY
    due_k_day = np.where(default_any, add_months_day(draw_day, np.maximum(k, 1)), NEVER)
    cured = default_any & (rng.random(m) < np.where(ring, 0.05, 0.25))
    cure_day = np.where(cured, due_k_day + rng.integers(31, 91, m), NEVER)
    partial = default_any & ~cured & (rng.random(m) < 0.30)
    recovery = default_any & ~cured & (rng.random(m) < 0.12)
    prepay = (~default_any) & (term >= 2) & (rng.random(m) < 0.10)
    j = np.where(prepay, 1 + (rng.random(m) * (term - 1)).astype(np.int64), 0)
    p_late = sigmoid(-3.4 + 0.75 * -L["z"] + rng.normal(0, 0.6, m))
    return dict(d6=d6, late_default=late, default_any=default_any, k=k, due_k_day=due_k_day,
                cured=cured, cure_day=cure_day, partial=partial, recovery=recovery, prepay_j=j,
                p_late=p_late)


def apply_freeze_cut(p, lines, L, fate):
    """Block drawdowns on a line from the first missed due date of a defaulting loan: the
    loans drawn after it never happened. Returns the kept loans (sorted by time) and, per line,
    the cut time and the loan that caused it."""
    nl = len(lines["app"])
    happened = fate["default_any"] & (fate["due_k_day"] <= p.end_day)
    cut = np.full(nl, NEVER)
    np.minimum.at(cut, L["line"][happened], fate["due_k_day"][happened] * DAY)
    keep = L["t"] < cut[L["line"]]
    o = np.flatnonzero(keep)[np.argsort(L["t"][keep], kind="stable")]
    L = {k: v[o] for k, v in L.items()}
    fate = {k: v[o] for k, v in fate.items()}
    L.update(fate)
    # loan that triggered each line's cut (earliest due date of an occurred default)
    happened = L["default_any"] & (L["due_k_day"] <= p.end_day)
    idx = np.flatnonzero(happened)
    idx = idx[np.lexsort((L["due_k_day"][idx], L["line"][idx]))]
    first = idx[np.r_[True, L["line"][idx][1:] != L["line"][idx][:-1]]] if len(idx) else idx
    trigger = np.full(nl, -1)
    trigger[L["line"][first]] = first
    return L, cut, trigger


def loan_truth_flags(p, L):
    """Label as the events define it: DPD >= 30 reached by the end of MOB 6 (and observed)."""
    draw_month = month_index(L["t"])
    mob6_end = month_end_day(draw_month + 6)
    hit30 = L["d6"] & (L["due_k_day"] + 30 <= np.minimum(mob6_end, p.end_day))
    return hit30, mob6_end <= p.end_day


# --------------------------------------------------------------------------- schedule
def schedule(L) -> dict:
    """Equal principal in cents (last installment takes the rounding), interest on the
    outstanding principal at annual_rate / 12."""
    loan, within = seg(L["term"])
    inst = within + 1
    T = L["term"][loan]
    due_day = add_months_day(L["t"][loan] // DAY, inst)
    amt_c = np.round(L["amount"] * 100).astype(np.int64)[loan]
    base_c = amt_c // T
    prin_c = np.where(inst == T, amt_c - base_c * (T - 1), base_c)
    out_c = amt_c - base_c * (inst - 1)
    int_c = np.round(out_c * L["rate"][loan] / 12).astype(np.int64)
    return dict(loan=loan, inst=inst, due_day=due_day, prin_c=prin_c, int_c=int_c,
                due_c=prin_c + int_c, out_c=out_c, start=np.cumsum(L["term"]) - L["term"])


def schedule_table(L, S) -> pa.Table:
    return pa.table({
        "loan_id": prefixed_ids("LO", S["loan"] + 1, 10),
        "installment_no": pa.array(S["inst"].astype(np.int32)),
        "due_date": date_array(S["due_day"]),
        "principal_due": pa.array(S["prin_c"] / 100.0),
        "interest_due": pa.array(S["int_c"] / 100.0),
        # delivered by disbursement day (the schedule is issued when the money goes out)
        "_file_day": pa.array((L["t"][S["loan"]] // DAY).astype(np.int32)),
    })


# --------------------------------------------------------------------------- payments
PAY_CHANNELS = ["auto_debit", "app", "bank_transfer", "collection"]


def payments(p, L, S) -> tuple[dict, dict]:
    """All payments (loan, time, cents, channel) plus the delinquency episodes they close."""
    rng = stream(p.seed, "payments")
    loan, inst, due_day = S["loan"], S["inst"], S["due_day"]
    n = len(loan)
    k, j = L["k"][loan], L["prepay_j"][loan]
    in_default = L["default_any"][loan] & (inst >= k)
    in_cure = in_default & (due_day <= L["cure_day"][loan])
    after_cure = in_default & L["cured"][loan] & (due_day > L["cure_day"][loan])
    prepaid = (j > 0) & (inst >= j)
    normal = ((~in_default) | after_cure) & ~prepaid

    # ordinary installments: on time (auto debit at night, app a few days early) or 1-20 late
    pl = np.where(L["default_any"][loan] & (inst == k - 1), 0.35, L["p_late"][loan])
    late = normal & (rng.random(n) < pl)
    delay = np.minimum(rng.geometric(0.25, n), 20)
    ch = choice_p(rng, n, [0.60, 0.35, 0.05, 0.0])
    early = np.where(ch == 2, rng.integers(0, 4, n), rng.integers(0, 6, n))
    t_on = np.where(ch == 0, due_day * DAY + rng.integers(0, 6 * HOUR, n),
                    (due_day - early) * DAY + _daytime(rng, n))
    t_on = np.maximum(t_on, L["t"][loan] + HOUR)
    t_late = (due_day + delay) * DAY + _daytime(rng, n)
    ch_late = choice_p(rng, n, [0, 0.55, 0.10, 0.35])
    t_pay = np.where(late, t_late, t_on)
    ch_pay = np.where(late, ch_late, ch)
    amt = S["due_c"].copy()
    # a few app payers split an installment in two, both before the due date ends
    split = normal & ~late & (ch == 1) & (rng.random(n) < 0.04)
    first_c = np.round(amt * rng.uniform(0.3, 0.7, n)).astype(np.int64)
    t2 = t_pay + (rng.random(n) * np.maximum(due_day * DAY + 23 * HOUR - t_pay, 1)).astype(np.int64)
    parts = [
        (loan[normal & ~split], t_pay[normal & ~split], amt[normal & ~split], ch_pay[normal & ~split]),
        (loan[split], t_pay[split], first_c[split], ch_pay[split]),
        (loan[split], t2[split], amt[split] - first_c[split], ch_pay[split]),
    ]

    nl = len(L["t"])
    lrng = rng.random((3, nl))  # channel draws for cure / partial / recovery payments
    # prepayment some days before installment j's due: settles everything still scheduled
    # (remaining interest is charged as the early-settlement fee, common in consumer finance),
    # so an oldest-first allocation downstream closes every installment
    pj = np.flatnonzero(L["prepay_j"] > 0)
    row = S["start"][pj] + L["prepay_j"][pj] - 1
    rest = np.cumsum(S["due_c"][::-1])[::-1]  # due from this row to the end of its loan ...
    last = S["start"][pj] + L["term"][pj]     # ... minus what follows the loan
    rest_c = rest[row] - np.where(last < len(rest), rest[np.minimum(last, len(rest) - 1)], 0)
    t_pre = np.maximum((due_day[row] - rng.integers(1, 21, len(pj))) * DAY + _daytime(rng, len(pj)), L["t"][pj] + DAY)
    parts.append((pj, t_pre, rest_c, np.full(len(pj), 1)))
    # cure: everything overdue paid in one go, 31-90 days after the missed installment
    cure_amt = np.bincount(loan[in_cure & L["cured"][loan]], weights=S["due_c"][in_cure & L["cured"][loan]], minlength=nl)
    cu = np.flatnonzero(L["cured"])
    parts.append((cu, L["cure_day"][cu] * DAY + _daytime(rng, len(cu)),
                  cure_amt[cu].astype(np.int64), np.where(lrng[0, cu] < 0.6, 3, 1)))
    # partial payment that does not clear the missed installment
    pa_ = np.flatnonzero(L["partial"])
    rowk = S["start"][pa_] + L["k"][pa_] - 1
    part_c = np.maximum(np.round(S["due_c"][rowk] * rng.uniform(0.1, 0.6, len(pa_))), 1).astype(np.int64)
    t_partial = (L["due_k_day"][pa_] + rng.integers(5, 61, len(pa_))) * DAY + _daytime(rng, len(pa_))
    parts.append((pa_, t_partial, part_c, np.where(lrng[1, pa_] < 0.5, 3, 1)))
    # charge-off recovery long after default
    rc = np.flatnonzero(L["recovery"])
    rowk = S["start"][rc] + L["k"][rc] - 1
    paid_part = np.zeros(nl, dtype=np.int64)
    paid_part[pa_] = part_c
    owed = S["out_c"][rowk] + S["int_c"][rowk] - paid_part[rc]
    parts.append((rc, (L["due_k_day"][rc] + rng.integers(120, 421, len(rc))) * DAY + _daytime(rng, len(rc)),
                  np.maximum(np.round(owed * rng.uniform(0.2, 1.0, len(rc))), 1).astype(np.int64),
                  np.where(lrng[2, rc] < 0.7, 3, 2)))

    ploan, pt, pamt, pch = (np.concatenate(x) for x in zip(*parts))
    keep = (pt <= p.end_s) & (pamt >= 1)
    o = np.flatnonzero(keep)[np.argsort(pt[keep], kind="stable")]
    pays = dict(loan=ploan[o], t=pt[o], cents=pamt[o], channel=pch[o])

    # delinquency episodes for collections: every late installment, and each default
    dl = np.flatnonzero(L["default_any"] & (L["due_k_day"] <= p.end_day))
    ep_len_default = np.where(L["cured"][dl], L["cure_day"][dl] - L["due_k_day"][dl], 240)
    episodes = dict(
        loan=np.concatenate([loan[late], dl]),
        start=np.concatenate([due_day[late], L["due_k_day"][dl]]),
        length=np.concatenate([delay[late], ep_len_default]),
        cured=np.concatenate([np.ones(late.sum(), bool), L["cured"][dl]]),
    )
    # for the truth oracle (simulator/oracle.py): which schedule rows were paid late, and when a
    # prepaid loan was settled; no random draw depends on these
    episodes["late_row"] = np.flatnonzero(late)
    episodes["prepay_t"] = np.full(nl, np.iinfo(np.int64).max // 2)
    episodes["prepay_t"][pj] = t_pre
    episodes["partial_t"] = np.full(nl, np.iinfo(np.int64).max // 2)
    episodes["partial_t"][pa_] = t_partial
    return pays, episodes


def repayments_table(L, pays) -> pa.Table:
    m = len(pays["t"])
    return pa.table({
        "payment_id": prefixed_ids("PY", np.arange(1, m + 1), 11),
        "loan_id": prefixed_ids("LO", pays["loan"] + 1, 10),
        "paid_at": ts_array(pays["t"]),
        "amount": pa.array(pays["cents"] / 100.0),
        "payment_channel": dict_strings(pays["channel"], PAY_CHANNELS),
    })


# --------------------------------------------------------------------------- collections
ACTIONS = ["sms", "ivr", "call", "field_visit", "legal_letter"]
RESULTS = ["no_answer", "promise_to_pay", "refused", "wrong_number", "paid", "delivered"]
# (day past due, action): sms/ivr from day 1, calls from ~day 10, visits and letters later
PLAYBOOK = [(1, 0), (2, 1), (4, 0), (6, 1), (10, 2), (13, 2), (17, 2), (21, 2), (25, 0), (30, 2),
            (35, 2), (40, 4), (45, 3), (55, 2), (60, 4), (75, 3), (90, 4), (120, 2), (150, 3),
            (180, 4), (210, 2), (235, 4)]
RESULT_W = np.array([  # rows follow ACTIONS, columns RESULTS
    [0.02, 0.00, 0.00, 0.05, 0.00, 0.93],
    [0.45, 0.25, 0.10, 0.00, 0.00, 0.20],
    [0.42, 0.28, 0.18, 0.07, 0.05, 0.00],
    [0.30, 0.40, 0.30, 0.00, 0.00, 0.00],
    [0.00, 0.00, 0.10, 0.00, 0.00, 0.90],
])
ACTION_HOURS = np.array([[10, 1], [11, 6], [9, 11], [10, 7], [9, 3]])  # start hour, span hours


def collections(p, L, episodes) -> dict:
    rng = stream(p.seed, "collections")
    offs = np.array([o for o, _ in PLAYBOOK])
    acts = np.array([a for _, a in PLAYBOOK])
    e = len(episodes["loan"])
    do = ((offs[None, :] < episodes["length"][:, None])
          & (episodes["start"][:, None] + offs[None, :] <= p.end_day)
          & (rng.random((e, len(offs))) < np.where(offs == 1, 0.97, 0.85)[None, :]))
    ep, col = np.nonzero(do)
    a = acts[col]
    day = episodes["start"][ep] + offs[col]
    hours = ACTION_HOURS[a]
    t = day * DAY + hours[:, 0] * HOUR + (rng.random(len(a)) * hours[:, 1] * HOUR).astype(np.int64)
    t = np.minimum(t, p.end_s)
    w = RESULT_W[a].copy()
    cured = episodes["cured"][ep]
    ring = L["is_ring"][episodes["loan"][ep]]
    w[:, 1] *= np.where(cured, 1.6, 0.8)   # those who will pay promise more (C-card signal)
    w[:, 2] *= np.where(cured, 0.8, 1.5)
    w[:, 0] *= np.where(cured, 0.9, 1.3)
    w[:, 3] *= np.where(ring, 6.0, 1.0)    # ring contact details go dead
    w[:, 4] *= cured & (episodes["start"][ep] + episodes["length"][ep] - day <= 2)
    res = choice_rows(rng, w)
    o = np.argsort(t, kind="stable")
    return dict(loan=episodes["loan"][ep][o], t=t[o], action=a[o], result=res[o],
                result_null=rng.random(len(o)) < 0.02)


def collections_table(C) -> pa.Table:
    m = len(C["t"])
    return pa.table({
        "action_id": prefixed_ids("CA", np.arange(1, m + 1), 11),
        "loan_id": prefixed_ids("LO", C["loan"] + 1, 10),
        "action_at": ts_array(C["t"]),
        "action_type": dict_strings(C["action"], ACTIONS),
        "result": dict_strings(C["result"], RESULTS, mask=C["result_null"]),
    })


# --------------------------------------------------------------------------- limit events
LIMIT_EVENTS = ["increase", "decrease", "freeze", "unfreeze"]


def limit_events(p, lines, plan, L, cut, trigger) -> dict:
    """Planned reviews up to the first default, then a cut, a freeze and sometimes an unfreeze."""
    rng = stream(p.seed, "limit_events")
    nl = len(lines["app"])
    li, kk = np.nonzero((plan["ev"] > 0) & (plan["cp_t"] < cut[:, None]) & (plan["cp_t"] <= p.end_s))
    ev_type = plan["ev"][li, kk] - 1
    old, new = plan["L"][li, kk], plan["L"][li, kk + 1]
    t = plan["cp_t"][li, kk]
    tl = np.flatnonzero(trigger >= 0)
    loan = trigger[tl]
    due = L["due_k_day"][loan]
    cur = limit_at(plan, tl, due * DAY, cancel_after=cut)
    cut_to = np.maximum(round_to(cur * rng.uniform(0.2, 0.5, len(tl)), 500), 0)
    t_dec = (due + rng.integers(10, 21, len(tl))) * DAY + 3 * HOUR + rng.integers(0, HOUR, len(tl))
    t_frz = (due + rng.integers(30, 36, len(tl))) * DAY + 3 * HOUR + rng.integers(0, HOUR, len(tl))
    unf = L["cured"][loan] & (rng.random(len(tl)) < 0.4)
    cure_day = np.where(unf, L["cure_day"][loan], 0)  # NEVER * DAY would overflow
    t_unf = (cure_day + rng.integers(10, 61, len(tl))) * DAY + 10 * HOUR
    line = np.concatenate([li, tl, tl, tl[unf]])
    t = np.concatenate([t, t_dec, t_frz, t_unf[unf]])
    typ = np.concatenate([ev_type, np.full(len(tl), 1), np.full(len(tl), 2), np.full(unf.sum(), 3)])
    old = np.concatenate([old, cur, cut_to, cut_to[unf]])
    new = np.concatenate([new, cut_to, cut_to, cut_to[unf]])
    keep = t <= p.end_s
    o = np.flatnonzero(keep)[np.argsort(t[keep], kind="stable")]
    return dict(line=line[o], t=t[o], type=typ[o], old=old[o], new=new[o],
                old_null=rng.random(len(o)) < 0.01)


def limit_events_table(E) -> pa.Table:
    m = len(E["t"])
    return pa.table({
        "limit_event_id": prefixed_ids("LE", np.arange(1, m + 1), 10),
        "line_id": prefixed_ids("LN", E["line"] + 1, 10),
        "event_at": ts_array(E["t"]),
        "event_type": dict_strings(E["type"], LIMIT_EVENTS),
        "old_limit": pa.array(E["old"], mask=E["old_null"]),
        "new_limit": pa.array(E["new"]),
    })
