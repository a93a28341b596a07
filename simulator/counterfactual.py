"""Counterfactual A-card outcome of every application, booked or not (truth, for evaluation only).

A-card models learn from booked loans only; judging them on the through-the-door population needs the
outcome a declined applicant would have had. Each application gets the A-card event (30+ DPD within
6 MOB of its first loan) from the world's own hazard:

* booked: the application's first loan, exactly as simulated (its ``true_pd`` and its drawn fate);
* everyone else (declined, or approved but never drawn): a first loan drawn the way booked first loans
  are (line opened within hours, first drawdown days later on the offered limit, amount and term from
  the same distribution, probability from ``true_default_probability``), and a fate drawn from it.

Its own random stream keeps every landing file byte-identical to a world simulated without it.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .fmt import DAY, add_months_day, prefixed_ids, stream
from .lending import draw_amount_and_term, true_default_probability
from .performance import first_missed_installment, mob6_end_day

OUTCOME_SOURCES = ["booked_first_loan", "counterfactual"]


def first_loan_of_application(n_apps: int, lines: dict, L: dict) -> np.ndarray:
    """Index into L of each application's first loan (earliest drawdown on its line), -1 when none."""
    first = np.full(n_apps, -1)
    if len(L["t"]) == 0:
        return first
    app = lines["app"][L["line"]]
    order = np.lexsort((np.arange(len(app)), L["t"], app))  # by application, then time, then loan order
    lead = order[np.r_[True, app[order][1:] != app[order][:-1]]]
    first[app[lead]] = lead
    return first


def application_outcomes(p, c, apps: dict, lines: dict, L: dict) -> dict:
    """Per application: the true A-card probability, a realised 6-MOB event and where it comes from."""
    rng = stream(p.seed, "counterfactual_outcomes")
    m = len(apps["t"])
    cust = apps["cust"]
    ring = c["is_ring"][cust]
    # the counterfactual first loan, timed as build_lines / candidate_drawdowns time booked ones
    opened = apps["t"] + rng.integers(60, 7200, m)
    first_draw = np.where(ring, opened + rng.integers(300, DAY, m),
                          opened + 60 + rng.exponential(4 * DAY, m).astype(np.int64))
    amount, term = draw_amount_and_term(rng, c["z"][cust], ring, apps["product"], apps["offer_limit"])
    pd_cf = true_default_probability(p, c, cust, first_draw, amount, term)
    bad_cf = rng.random(m) < pd_cf
    k_cf = first_missed_installment(rng, term, ring)
    due_cf = add_months_day(first_draw // DAY, k_cf)

    loan = first_loan_of_application(m, lines, L)
    booked = loan >= 0
    li = np.maximum(loan, 0)

    def pick(booked_values, cf_values):  # the booked first loan where there is one, else the counterfactual
        return np.where(booked, booked_values[li], cf_values) if len(booked_values) else cf_values

    t_first = pick(L["t"], first_draw)
    mob6_end = mob6_end_day(t_first)
    bad = pick(L["d6"], bad_cf) & (pick(L["due_k_day"], due_cf) + 30 <= mob6_end)
    return dict(loan=loan, booked=booked, t_first=t_first, true_pd=pick(L["true_pd"], pd_cf), bad=bad, pd_cf=pd_cf,
                mob6_end=mob6_end, mob6_observed=mob6_end <= p.end_day,
                amount=pick(L["amount"], amount), term=pick(L["term"], term))


def applications_truth_table(p, c, apps: dict, O: dict) -> pa.Table:
    m = len(apps["t"])
    return pa.table({
        "application_id": prefixed_ids("AP", np.arange(1, m + 1), 10),
        "customer_id": c["customer_id"].take(pa.array(apps["cust"])),
        "applied_at": pa.array(apps["t"], type=pa.timestamp("s")),
        "approved": pa.array(apps["approved"]),
        "outcome_source": pa.DictionaryArray.from_arrays(pa.array(np.where(O["booked"], 0, 1).astype(np.int32)),
                                                         pa.array(OUTCOME_SOURCES)),
        "first_loan_id": pc.if_else(pa.array(O["booked"]), prefixed_ids("LO", np.maximum(O["loan"], 0) + 1, 10),
                                    pa.scalar(None, pa.string())),
        "first_drawdown_at": pa.array(O["t_first"], type=pa.timestamp("s")),
        "first_loan_amount": pa.array(O["amount"].astype(np.float64)),
        "first_loan_term": pa.array(O["term"].astype(np.int32)),
        # P(30+ DPD within 6 MOB of the first loan): the A-card event, had the applicant been booked
        "true_pd_a_card": pa.array(O["true_pd"]),
        # one realised draw of that event (not censored at the world's end: see mob6_observed)
        "bad_a_card": pa.array(O["bad"]),
        # the drawn counterfactual first loan's probability on every row, booked ones too (checks the
        # counterfactual against what booked loans did; equals true_pd_a_card where not booked)
        "counterfactual_true_pd": pa.array(O["pd_cf"]),
        "mob6_end": pa.array(O["mob6_end"].astype(np.int32), type=pa.date32()),
        "mob6_observed": pa.array(O["mob6_observed"]),
    })
