"""The simulated world: parameters, merchant codes, and the pipeline that draws the latent
truth, derives every source table from it, writes the landing zone and the truth files.

Order of drawing (each stage has its own random stream, see fmt.stream):
customers (latent z, income, rings, divert intent, PII, devices) -> bureau history ->
pre-existing blacklist -> applications (legacy policy) -> credit lines -> planned limit
reviews -> drawdown candidates -> true_pd and fate -> freeze cut (no drawdowns after a
default) -> schedule, payments, collections, limit events -> post blacklist -> fund flows ->
orders, app events -> credit reports, telco.
"""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from . import bureau, commerce, counterfactual, flows, lending, oracle, people, performance
from .contracts import load_contracts
from .fmt import DAY, prefixed_ids
from .writer import write_table

# 4-digit merchant category code -> category. Ordinary codes carry the purpose they serve;
# the prohibited ones are where loan proceeds must not go (fund-usage monitoring).
MCC = {
    "5411": "grocery_supermarket", "5311": "department_store", "5812": "restaurant",
    "5999": "misc_retail", "5211": "building_materials", "5200": "home_supply",
    "4722": "travel_agency", "4511": "airline", "7011": "hotel",
    "8220": "college_university", "8299": "education_services", "8062": "hospital",
    "5912": "pharmacy", "8011": "doctor", "5732": "electronics", "5045": "computers",
    "5722": "household_appliances", "4900": "utilities", "7299": "personal_services",
    "5712": "furniture", "5944": "jewelry", "7230": "beauty_salon", "5621": "womens_apparel",
    # prohibited uses of loan proceeds
    "6211": "securities_broker", "7995": "gambling", "6513": "real_estate", "6051": "quasi_cash_crypto",
}
PROHIBITED_MCC = ["6211", "7995", "6513", "6051"]
PROHIBITED_SHARES = [0.35, 0.25, 0.20, 0.20]
GENERAL_MCC = ["5411", "5311", "5812", "5999"]
PURPOSE_MCC = {
    "daily_consumption": ["5411", "5311", "5812", "5999"],
    "renovation": ["5211", "5200"],
    "travel": ["4722", "4511", "7011"],
    "education": ["8220", "8299"],
    "medical": ["8062", "5912", "8011"],
    "digital": ["5732", "5045"],
    "appliances": ["5722", "5732"],
    "rent": ["4900", "7299"],
    "furniture": ["5712", "5200"],
    "wedding": ["5944", "7230", "5621"],
}


@dataclass
class Params:
    customers: int = 20_000
    months: int = 24
    seed: int = 42
    end_date: str = "2026-09-30"
    # derived
    end_s: int = field(init=False)
    end_day: int = field(init=False)
    start_s: int = field(init=False)
    start_day: int = field(init=False)

    def __post_init__(self):
        if self.customers < 1 or self.months < 1:
            raise ValueError("customers and months must be positive")
        end = np.datetime64(self.end_date, "D")
        self.end_day = int(end.astype(np.int64))
        self.end_s = (self.end_day + 1) * DAY - 1  # inclusive end of the last day
        first_month = end.astype("datetime64[M]") - (self.months - 1)
        self.start_day = int(first_month.astype("datetime64[D]").astype(np.int64))
        self.start_s = self.start_day * DAY

    def public(self) -> dict:
        d = asdict(self)
        d["start_date"] = str(np.datetime64(self.start_day, "D"))
        return {k: v for k, v in d.items() if not k.endswith(("_s", "_day"))}


def generate_world(landing_dir, truth_dir, customers: int = 20_000, months: int = 24,
                   seed: int = 42, end_date: str = "2026-09-30", log=print) -> dict:
    """Simulate the world and write landing files + truth. Returns a summary dict."""
    t0 = time.perf_counter()
    p = Params(customers=customers, months=months, seed=seed, end_date=end_date)
    landing, truth = Path(landing_dir).resolve(), Path(truth_dir).resolve()
    if truth == landing or landing in truth.parents:
        raise ValueError("truth must live outside the landing zone")
    contracts = load_contracts()
    summary: dict = {"params": p.public(), "tables": {}}
    log = log or (lambda *_: None)  # log=None: silent

    def emit(name, table):
        ts = time.perf_counter()
        res = write_table(landing, contracts[name], table)
        summary["tables"][name] = res
        log(f"  {name:<20} {res['rows']:>11,} rows {res['files']:>5} files  {time.perf_counter() - ts:6.1f}s")

    for name, spec in contracts.items():  # rewrite a table's folder from scratch
        shutil.rmtree(landing / spec["system"] / spec["table"], ignore_errors=True)
    log(f"simulating {p.customers:,} customers, {p.months} months to {p.end_date} (seed {p.seed})")

    c = people.build_customers(p)
    emit("customers", people.customers_table(p, c))
    b = bureau.build_profile(p, c)
    pre = bureau.pre_blacklist(p, c)
    apps = lending.build_applications(p, c, b, bureau.BlacklistIndex(c, pre))
    emit("applications", lending.applications_table(p, c, apps))
    emit("telco", bureau.telco_table(p, c, apps))
    emit("identity_checks", bureau.identity_checks_table(p, c, apps))
    lines = lending.build_lines(p, c, apps)
    emit("credit_lines", lending.lines_table(p, c, apps, lines))

    cand = lending.candidate_drawdowns(p, lines)
    plan = lending.plan_limits(p, lines, cand)
    L = lending.price_loans(p, c, lines, plan, cand)
    fate = performance.simulate_fate(p, L)
    L_planned = L  # every planned drawdown (before the freeze cut): latent state for the B-card oracle
    L, cut, trigger = performance.apply_freeze_cut(p, lines, L, fate)
    emit("drawdowns", lending.drawdowns_table(p, c, lines, L))
    S = performance.schedule(L)
    emit("repayment_schedule", performance.schedule_table(L, S))
    pays, episodes = performance.payments(p, L, S)
    emit("repayments", performance.repayments_table(L, pays))
    actions = performance.collections(p, L, episodes)
    emit("collection_actions", performance.collections_table(actions))
    emit("limit_events", performance.limit_events_table(performance.limit_events(p, lines, plan, L, cut, trigger)))
    oracles = {"application_oracle": oracle.application_oracle(p, c, apps, lines, L),
               "month_end_oracle": oracle.month_end_oracle(p, c, lines, L, S, episodes, actions, L_planned, cut)}
    del S, pays, episodes, actions, L_planned

    post = bureau.post_blacklist(p, c, L)
    emit("blacklist", bureau.blacklist_table(p, c, pre, post))
    F = flows.fund_flows(p, L, MCC, PROHIBITED_MCC, PROHIBITED_SHARES, GENERAL_MCC, PURPOSE_MCC)
    emit("fund_flows", flows.fund_flows_table(c, L, F))
    diverted = F["diverted"]
    del F
    emit("orders", commerce.orders_table(c, commerce.orders(p, c)))
    emit("app_events", commerce.app_events_table(p, c, commerce.app_events(p, c, apps, L)))
    emit("credit_reports", bureau.credit_reports_table(p, c, b, apps))

    stats = _write_truth(p, truth, c, L, diverted)
    stats["truth"].update(_write_application_truth(p, truth, c, apps, lines, L))
    for name, table in oracles.items():  # true label probabilities (simulator/oracle.py), evaluation only
        pq.write_table(table, truth / f"{name}.parquet")
        stats["truth"][f"{name}_rows"] = table.num_rows
    elapsed = time.perf_counter() - t0
    summary.update(stats)
    summary["files"] = sum(t["files"] for t in summary["tables"].values())
    summary["rows"] = {k: v["rows"] for k, v in summary["tables"].items()}
    summary["elapsed_s"] = round(elapsed, 2)
    summary["customers_per_s"] = round(p.customers / elapsed, 1)
    summary["landing_dir"], summary["truth_dir"] = str(landing), str(truth)
    (truth / "world.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
    log(f"done: {summary['files']} files in {elapsed:.1f}s ({summary['customers_per_s']:,.0f} customers/s)")
    return summary


def _write_truth(p, truth: Path, c, L, diverted) -> dict:
    truth.mkdir(parents=True, exist_ok=True)
    ring = c["ring"]
    pq.write_table(pa.table({
        "customer_id": c["customer_id"],
        "z": pa.array(c["z"]),
        "true_income": pa.array(c["true_income"]),
        "ring_id": pa.array(ring, mask=ring < 0),
        "divert_intent": pa.array(c["divert"]),
    }), truth / "customers_truth.parquet")
    hit30, observed = performance.loan_truth_flags(p, L)
    happened = L["default_any"] & (L["due_k_day"] <= p.end_day)
    m = len(L["t"])
    pq.write_table(pa.table({
        "loan_id": prefixed_ids("LO", np.arange(1, m + 1), 10),
        "customer_id": c["customer_id"].take(pa.array(L["cust"])),
        "true_pd": pa.array(L["true_pd"]),
        "defaulted": pa.array(hit30),
        "default_installment": pa.array(L["k"].astype(np.int32), mask=~happened),
        "is_ring": pa.array(L["is_ring"]),
        "diverted": pa.array(diverted),
        # extras for evaluation: when the loan started and whether its 6 MOB are observed
        "drawdown_at": pa.array(L["t"], type=pa.timestamp("s")),
        "mob6_observed": pa.array(observed),
    }), truth / "loans_truth.parquet")
    obs = observed
    return {
        "truth": {
            "customers": int(c["n"]),
            "ring_members": int((ring >= 0).sum()),
            "rings": int(c["n_rings"]),
            "divert_intent_customers": int(c["divert"].sum()),
            "loans": int(m),
            "loans_mob6_observed": int(obs.sum()),
            "default_rate_mob6_observed": float(hit30[obs].mean()) if obs.any() else None,
            "mean_true_pd_mob6_observed": float(L["true_pd"][obs].mean()) if obs.any() else None,
            "diverted_loans": int(diverted.sum()),
        }
    }


def _write_application_truth(p, truth: Path, c, apps, lines, L) -> dict:
    """Every application's A-card outcome had it been booked (evaluation of reject inference only)."""
    O = counterfactual.application_outcomes(p, c, apps, lines, L)
    pq.write_table(counterfactual.applications_truth_table(p, c, apps, O), truth / "applications_truth.parquet")
    declined = ~apps["approved"]
    obs = O["mob6_observed"]

    def rate(mask):
        return float(O["bad"][mask].mean()) if mask.any() else None

    return {
        "applications": int(len(declined)),
        "decline_rate": float(declined.mean()) if len(declined) else None,
        "counterfactual_bad_rate_approved_mob6_observed": rate(~declined & obs),
        "counterfactual_bad_rate_declined_mob6_observed": rate(declined & obs),
    }
