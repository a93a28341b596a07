"""The feature catalog: load features/catalog.yaml, validate it and expand it into individual features.

Everything else (SQL generation, the wide reshape, the dictionary, the stats, the Features page) reads
the expanded form from here, so a feature's name, definition and description always agree.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

FEATURES_DIR = Path(__file__).resolve().parent
CATALOG_PATH = FEATURES_DIR / "catalog.yaml"
KEY_COLUMNS = ("obs_id", "customer_id", "obs_at")

_IDENT = re.compile(r"^[a-z][a-z0-9_]*$")
_AGG = re.compile(r"^(?P<fn>[a-z_]+)(?:\((?P<arg>.*)\))?$")

# Aggregations whose value is 0 (not missing) when there are no records, stored as integers.
INT_AGGS = {"count", "distinct"}
ZERO_FILLED = {"count", "distinct", "sum", "trend"}


class CatalogError(ValueError):
    pass


@dataclass(frozen=True)
class Measure:
    name: str
    expr: str
    label: str


@dataclass(frozen=True)
class Dimension:
    name: str
    phrase: str
    values: tuple[str, ...]
    conditions: tuple[str, ...]  # SQL predicate per value (column = 'value' for equality dimensions)
    column: str | None = None


@dataclass(frozen=True)
class DistinctDef:
    name: str
    expr: str
    label: str


@dataclass(frozen=True)
class Slot:
    """One row slice of the long aggregate: all records, one dimension value, or a distinct counter."""
    index: int
    kind: str  # all | dim | distinct
    dim: str | None = None
    value: str | None = None

    @property
    def token(self) -> str:
        if self.kind == "all":
            return ""
        if self.kind == "dim":
            return f"{self.dim}_{self.value.lower()}"
        return f"dst_{self.dim}"

    @property
    def label(self) -> str:
        return "all" if self.kind == "all" else (f"{self.dim}={self.value}" if self.kind == "dim" else f"distinct {self.dim}")


@dataclass(frozen=True)
class Stat:
    """A column of the long aggregate: n (count), or s/q/c/lo/hi of a measure (sum, sum of squares,
    non-null count, min, max)."""
    kind: str
    measure: str | None = None

    @property
    def column(self) -> str:
        return "n" if self.kind == "n" else f"{self.kind}_{self.measure}"


@dataclass(frozen=True)
class Feature:
    name: str
    family: str
    group: str
    table: str
    source: str
    aggregation: str  # e.g. "sum(amt)", "share(count)", "days_since_last"
    agg: str  # function name: count, sum, mean, ...
    measure: str | None
    slice: str  # "all" or "dim=value"
    window: str  # "7d", "all", "6m", "7d/30d", "-" ...
    description: str
    dtype: str  # int | double
    # how the engine computes it from the long stats: (op, args...)
    recipe: tuple = field(default=(), compare=False)

    def dictionary_row(self) -> dict:
        return {"name": self.name, "table": self.table, "family": self.family, "group": self.group,
                "source": self.source, "aggregation": self.aggregation, "measure": self.measure or "",
                "slice": self.slice, "window": self.window, "dtype": self.dtype, "description": self.description}


@dataclass
class Family:
    name: str
    group: str
    title: str
    table: str
    source: str
    time: str
    window_time: str
    asof: dict | None
    windows: tuple[int | None, ...]  # ascending, None = all history
    lookback: int | None
    subject: str
    window_phrase: str
    context: str
    measures: dict[str, Measure]
    dimensions: dict[str, Dimension]
    distincts: dict[str, DistinctDef]
    slots: list[Slot] = field(default_factory=list)
    features: list[Feature] = field(default_factory=list)
    stats: list[Stat] = field(default_factory=list)
    internal_measures: dict[str, str] = field(default_factory=dict)  # _age, _trN... -> SQL

    @property
    def long_model(self) -> str:
        return f"{self.table}_long"

    @property
    def n_slots(self) -> int:
        return len(self.slots)

    def window_index(self, days: int | None) -> int:
        return self.windows.index(days)


@dataclass
class GraphDef:
    table: str
    group: str
    title: str
    identifiers: dict[str, dict]
    growth_days: tuple[int, ...]
    known_bad: tuple[str, ...]
    features: list[Feature] = field(default_factory=list)


@dataclass
class CrossDef:
    table: str
    group: str
    title: str
    features: list[Feature] = field(default_factory=list)
    exprs: dict[str, str] = field(default_factory=dict)
    inputs: dict[str, list[str]] = field(default_factory=dict)  # table -> feature names used


@dataclass
class Catalog:
    path: Path
    sha: str
    settings: dict
    spine_description: str
    families: dict[str, Family]
    graph: GraphDef | None
    cross: CrossDef | None

    @property
    def features(self) -> list[Feature]:
        out = [f for fam in self.families.values() for f in fam.features]
        if self.graph:
            out += self.graph.features
        if self.cross:
            out += self.cross.features
        return out

    @property
    def tables(self) -> list[str]:
        t = [f.table for f in self.families.values()]
        if self.graph:
            t.append(self.graph.table)
        if self.cross:
            t.append(self.cross.table)
        return t

    def feature(self, name: str) -> Feature:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)

    def by_table(self) -> dict[str, list[Feature]]:
        out: dict[str, list[Feature]] = {}
        for f in self.features:
            out.setdefault(f.table, []).append(f)
        return out


def stat_usage(fam: Family) -> dict[str, tuple[list[int], set[int]]]:
    """For every stat column: the slots and windows some feature reads (so unused cells are never built)."""
    use: dict[str, tuple[set[int], set[int]]] = {}

    def mark(col, slot, w):
        s, ws = use.setdefault(col, (set(), set()))
        s.add(slot)
        ws.add(w)

    for f in fam.features:
        op = f.recipe[0]
        if op == "n":
            mark("n", f.recipe[1], f.recipe[2])
        elif op == "stat":
            mark(f.recipe[1], f.recipe[2], f.recipe[3])
        elif op == "mean":
            for c in f.recipe[1:3]:
                mark(c, f.recipe[3], f.recipe[4])
        elif op == "std":
            for c in f.recipe[1:4]:
                mark(c, f.recipe[4], f.recipe[5])
        elif op == "share":
            mark(f.recipe[1], f.recipe[2], f.recipe[3])
            mark(f.recipe[1], 0, f.recipe[3])
        elif op == "ratio":
            for c in f.recipe[1:3]:
                mark(c, f.recipe[3], f.recipe[4])
        elif op == "accel":
            mark("n", f.recipe[1], f.recipe[2])
            mark("n", f.recipe[1], f.recipe[3])
    return {c: (sorted(s), ws) for c, (s, ws) in use.items()}


# --------------------------------------------------------------------------------------------- parsing
def _parse_agg(text: str) -> tuple[str, str | None]:
    m = _AGG.match(text.replace(" ", ""))
    if not m:
        raise CatalogError(f"cannot parse aggregation {text!r}")
    return m.group("fn"), m.group("arg")


def _stat_ref(text: str, fam: Family) -> tuple[str, str | None]:
    """count | sum(m) -> ('count', None) | ('sum', m)"""
    fn, arg = _parse_agg(text)
    if fn == "count" and arg is None:
        return "count", None
    if fn == "sum" and arg in fam.measures:
        return "sum", arg
    raise CatalogError(f"{fam.name}: {text!r} must be count or sum(<measure>)")


def _split_args(arg: str) -> list[str]:
    depth, cur, out = 0, "", []
    for ch in arg:
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        cur += ch
    out.append(cur)
    return [a.strip() for a in out]


def _window_token(days: int | None) -> str:
    return "all" if days is None else f"{days}d"


def _window_phrase(fam: Family, days: int | None) -> str:
    if days is None:
        return " over all history before the observation time" if not fam.asof and fam.windows != (None,) else (
            "" if fam.windows == (None,) else " over all history")
    return " " + fam.window_phrase.format(days=days).replace("the 1 days", "the 24 hours")


def _load_family(name: str, raw: dict) -> Family:
    if not _IDENT.match(name):
        raise CatalogError(f"family name {name!r} must be a lower-case identifier")
    try:
        windows_raw = raw["windows"]
        source, time = raw["source"], raw["time"]
    except KeyError as e:
        raise CatalogError(f"family {name}: missing key {e}") from None
    windows: list[int | None] = []
    for w in windows_raw:
        if w == "all":
            windows.append(None)
        elif isinstance(w, int) and w > 0:
            windows.append(w)
        else:
            raise CatalogError(f"family {name}: window {w!r} must be a positive number of days or 'all'")
    finite = sorted(w for w in windows if w is not None)
    if len(set(finite)) != len(finite) or windows.count(None) > 1:
        raise CatalogError(f"family {name}: duplicate windows")
    windows_t = tuple(finite + ([None] if None in windows else []))
    lookback = raw.get("lookback", None if None in windows_t else max(finite))
    measures = {}
    for mname, m in (raw.get("measures") or {}).items():
        if not _IDENT.match(mname) or mname.startswith("_"):
            raise CatalogError(f"family {name}: measure name {mname!r} must be an identifier")
        if isinstance(m, str):
            m = {"expr": m}
        measures[mname] = Measure(mname, str(m["expr"]), m.get("label", mname))
    dims = {}
    for dname, d in (raw.get("dimensions") or {}).items():
        if not _IDENT.match(dname) or dname in ("all", "dims", "dst"):
            raise CatalogError(f"family {name}: dimension name {dname!r} is not allowed")
        if "cases" in d:
            values = tuple(str(v) for v in d["cases"])
            conds = tuple(str(c) for c in d["cases"].values())
            column = None
        elif "column" in d and "values" in d:
            values = tuple(str(v) for v in d["values"])
            column = d["column"]
            conds = tuple(f"{column} = '{v}'" for v in values)
        else:
            raise CatalogError(f"family {name}: dimension {dname} needs `column` + `values` or `cases`")
        for v in values:
            if not re.match(r"^[A-Za-z0-9_]+$", v):
                raise CatalogError(f"family {name}: dimension value {v!r} must be alphanumeric")
        if len(set(values)) != len(values):
            raise CatalogError(f"family {name}: duplicate values in dimension {dname}")
        dims[dname] = Dimension(dname, d.get("phrase", f"with {column or dname} {{value}}"), values, conds, column)
    distincts = {}
    for dn, d in (raw.get("distinct") or {}).items():
        if isinstance(d, str):
            d = {"expr": d}
        distincts[dn] = DistinctDef(dn, str(d["expr"]), d.get("label", dn))
    asof = raw.get("asof")
    if asof is not None and not {"parent", "key", "time"} <= set(asof):
        raise CatalogError(f"family {name}: asof needs parent, key and time")
    fam = Family(
        name=name, group=raw.get("group", name), title=raw.get("title", name), table=f"feat_{name}",
        source=source, time=time, window_time=raw.get("window_time", time), asof=asof, windows=windows_t,
        lookback=lookback, subject=raw.get("subject", "records"),
        window_phrase=raw.get("window_phrase", "in the {days} days before the observation time"),
        context=raw.get("context", " (latest credit report before the observation time)" if asof and asof.get("parent") == "stg_credit_reports" else ""),
        measures=measures, dimensions=dims, distincts=distincts,
    )
    unknown = set(raw.get("describe") or {}) - set(DEFAULT_TEMPLATES)
    if unknown:
        raise CatalogError(f"family {name}: unknown description templates {sorted(unknown)}")
    _expand_family(fam, raw.get("features") or [], raw.get("describe"))
    return fam


# Description templates per aggregation; a family may override any of them under `describe:`.
# Placeholders: {subject} {slice} {window} {context} {measure} {Measure} {label} {k} {a} {b} {which} {scope}
DEFAULT_TEMPLATES = {
    "count": "Number of {subject}{slice}{window}{context}",
    "sum": "Total {measure} of {subject}{slice}{window}{context}",
    "mean": "Average {measure} of {subject}{slice}{window}{context}",
    "min": "Smallest {measure} of {subject}{slice}{window}{context}",
    "max": "Largest {measure} of {subject}{slice}{window}{context}",
    "std": "Standard deviation of {measure} of {subject}{slice}{window}{context}",
    "value": "{Measure} ({subject}{slice}{window}){context}",
    "share_count": "Share of {subject}{window} that are{slice}{context}",
    "share_sum": "Share of the total {measure} of {subject}{window} that comes from those{slice}{context}",
    "ratio": "{label}: {subject}{slice}{window}{context}",
    "distinct": "Number of distinct {measure} across {subject}{window}{context}",
    "days_since_last": "Days since the most recent of the {subject}{slice} before the observation time (missing when none{scope}){context}",
    "days_since_first": "Days since the earliest of the {subject}{slice} before the observation time (missing when none{scope}){context}",
    "trend_count": "Trend of the monthly number of {subject}{slice} over the {k} 30-day months before the observation time (least-squares slope per month; > 0 = rising)",
    "trend_sum": "Trend of the monthly total {measure} of {subject}{slice} over the {k} 30-day months before the observation time (least-squares slope per month; > 0 = rising)",
    "accel": "Rate of {subject}{slice} in the last {a} days relative to the last {b} days (1 = steady, > 1 = accelerating; missing when none in {b} days)",
}


def _expand_family(fam: Family, items: list, templates: dict | None = None) -> None:
    tmpl = {**DEFAULT_TEMPLATES, **(templates or {})}
    # slots: 0 = all records, then every dimension value, then one per distinct counter
    slots = [Slot(0, "all")]
    for d in fam.dimensions.values():
        for v in d.values:
            slots.append(Slot(len(slots), "dim", d.name, v))
    for dn in fam.distincts:
        slots.append(Slot(len(slots), "distinct", dn))
    fam.slots = slots
    stats: dict[str, Stat] = {"n": Stat("n")}

    def need(kind: str, measure: str) -> str:
        st = Stat(kind, measure)
        stats.setdefault(st.column, st)
        return st.column

    last_w = len(fam.windows) - 1
    single_window = len(fam.windows) == 1
    features: list[Feature] = []
    seen: set[str] = set()
    scope = "" if fam.lookback is None else f" within {fam.lookback} days"

    def slot_list(by) -> list[Slot]:
        if by is None:
            by = ["all", "dims"]
        if isinstance(by, str):
            by = [by]
        out: list[Slot] = []
        for b in by:
            if b == "all":
                out.append(slots[0])
            elif b == "dims":
                out += [s for s in slots if s.kind == "dim"]
            elif b in fam.dimensions:
                out += [s for s in slots if s.kind == "dim" and s.dim == b]
            else:
                raise CatalogError(f"family {fam.name}: unknown `by` entry {b!r}")
        return out

    def describe(kind: str, slot: Slot, w, measure_label: str = "", **extra) -> str:
        sp = "" if slot.kind != "dim" else " " + fam.dimensions[slot.dim].phrase.format(value=slot.value.replace("_", " "))
        wp = "" if w is False else _window_phrase(fam, w)
        text = tmpl[kind].format(subject=fam.subject, slice=sp, window=wp, context=fam.context, measure=measure_label,
                                 Measure=measure_label[:1].upper() + measure_label[1:], scope=scope, **extra)
        return text[:1].upper() + text[1:]

    def add(slot: Slot, agg_token: str, window_token: str | None, **kw) -> None:
        parts = [fam.name] + ([slot.token] if slot.token else []) + [agg_token] + ([window_token] if window_token else [])
        name = "_".join(parts)
        if name in seen:
            raise CatalogError(f"family {fam.name}: feature {name} is declared twice")
        if not _IDENT.match(name):
            raise CatalogError(f"feature name {name!r} is not a valid identifier")
        seen.add(name)
        features.append(Feature(name=name, family=fam.name, group=fam.group, table=fam.table, source=fam.source,
                                slice=slot.label, **kw))

    def measure_of(arg: str | None, fn: str) -> Measure:
        if arg not in fam.measures:
            raise CatalogError(f"family {fam.name}: {fn}({arg}) needs a declared measure")
        return fam.measures[arg]

    for item in items:
        if isinstance(item, str):
            item = {"agg": item}
        text = item["agg"]
        fn, arg = _parse_agg(text)
        wsel = item.get("windows")
        if wsel is None:
            wins = list(fam.windows)
        else:
            wins = [None if w == "all" else w for w in wsel]
            for w in wins:
                if w not in fam.windows:
                    raise CatalogError(f"family {fam.name}: {text} uses window {w} that the family does not declare")

        def wt(w):
            return None if single_window else _window_token(w)

        if fn == "distinct":
            if arg not in fam.distincts:
                raise CatalogError(f"family {fam.name}: distinct({arg}) is not declared under `distinct`")
            slot = next(s for s in slots if s.kind == "distinct" and s.dim == arg)
            dd = fam.distincts[arg]
            for w in wins:
                add(slots[0], f"dst_{arg}", wt(w), aggregation=text, agg="distinct", measure=arg,
                    window=_window_token(w), dtype="int", description=describe("distinct", slots[0], w, dd.label),
                    recipe=("n", slot.index, fam.window_index(w)))
            continue
        by_slots = slot_list(item.get("by"))
        if fn in ("count", "sum", "mean", "min", "max", "std", "value"):
            m = None if fn == "count" else measure_of(arg, fn)
            if fn == "count" and arg is not None:
                raise CatalogError(f"family {fam.name}: count takes no argument")
            for slot in by_slots:
                for w in wins:
                    wi = fam.window_index(w)
                    common = dict(aggregation=text, agg=fn, measure=m.name if m else None, window=_window_token(w))
                    if fn == "count":
                        add(slot, "cnt", wt(w), dtype="int", description=describe("count", slot, w),
                            recipe=("n", slot.index, wi), **common)
                    elif fn == "sum":
                        add(slot, f"sum_{m.name}", wt(w), dtype="double", description=describe("sum", slot, w, m.label),
                            recipe=("stat", need("s", m.name), slot.index, wi), **common)
                    elif fn == "mean":
                        add(slot, f"avg_{m.name}", wt(w), dtype="double", description=describe("mean", slot, w, m.label),
                            recipe=("mean", need("s", m.name), need("c", m.name), slot.index, wi), **common)
                    elif fn in ("min", "max"):
                        add(slot, f"{fn}_{m.name}", wt(w), dtype="double", description=describe(fn, slot, w, m.label),
                            recipe=("stat", need("lo" if fn == "min" else "hi", m.name), slot.index, wi), **common)
                    elif fn == "std":
                        add(slot, f"std_{m.name}", wt(w), dtype="double", description=describe("std", slot, w, m.label),
                            recipe=("std", need("s", m.name), need("q", m.name), need("c", m.name), slot.index, wi), **common)
                    else:  # value: a snapshot value (of the latest record), stored as the max over the records
                        add(slot, m.name, wt(w), dtype="double", description=describe("value", slot, w, m.label),
                            recipe=("stat", need("hi", m.name), slot.index, wi), **common)
        elif fn == "share":
            inner_fn, inner_m = _stat_ref(arg or "", fam)
            for slot in by_slots:
                if slot.kind == "all":
                    raise CatalogError(f"family {fam.name}: share() over all records is always 1; use by: dims")
                for w in wins:
                    wi = fam.window_index(w)
                    common = dict(aggregation=text, agg="share", window=_window_token(w), dtype="double")
                    if inner_fn == "count":
                        add(slot, "shr_cnt", wt(w), measure=None, description=describe("share_count", slot, w),
                            recipe=("share", "n", slot.index, wi), **common)
                    else:
                        m = fam.measures[inner_m]
                        add(slot, f"shr_{m.name}", wt(w), measure=m.name, description=describe("share_sum", slot, w, m.label),
                            recipe=("share", need("s", m.name), slot.index, wi), **common)
        elif fn == "ratio":
            args = _split_args(arg or "")
            if len(args) != 2 or "name" not in item:
                raise CatalogError(f"family {fam.name}: ratio needs two arguments and a `name`")
            cols = []
            for a in args:
                f2, m2 = _stat_ref(a, fam)
                cols.append("n" if f2 == "count" else need("s", m2))
            label = item.get("label", item["name"])
            for slot in by_slots:
                for w in wins:
                    add(slot, item["name"], wt(w), aggregation=text, agg="ratio", measure=None, window=_window_token(w),
                        dtype="double", description=describe("ratio", slot, w, label=label),
                        recipe=("ratio", cols[0], cols[1], slot.index, fam.window_index(w)))
        elif fn in ("days_since_last", "days_since_first"):
            col = need("lo" if fn == "days_since_last" else "hi", "_age")
            for slot in by_slots:
                add(slot, "dsl" if fn == "days_since_last" else "dsf", None, aggregation=fn, agg=fn, measure=None,
                    window=_window_token(fam.windows[last_w]), dtype="double", description=describe(fn, slot, False),
                    recipe=("stat", col, slot.index, last_w))
        elif fn == "trend":
            inner_fn, inner_m = _stat_ref(arg or "", fam)
            for k in item.get("months", [6]):
                if fam.lookback is not None and 30 * k > fam.lookback:
                    raise CatalogError(f"family {fam.name}: trend over {k} months exceeds the lookback")
                mname = f"_tr{k}" if inner_fn == "count" else f"_tr{k}_{inner_m}"
                fam.internal_measures[mname] = f"trend:{k}:{inner_m or ''}"
                col = need("s", mname)
                tok = "trend_cnt" if inner_fn == "count" else f"trend_{inner_m}"
                for slot in by_slots:
                    add(slot, f"{tok}_{k}m", None, aggregation=text, agg="trend", measure=inner_m, window=f"{k}m",
                        dtype="double",
                        description=describe("trend_count" if inner_fn == "count" else "trend_sum", slot, False,
                                             fam.measures[inner_m].label if inner_m else "", k=k),
                        recipe=("stat", col, slot.index, last_w))
        elif fn == "accel":
            if arg != "count":
                raise CatalogError(f"family {fam.name}: accel supports count only")
            for a, b in item.get("pairs", []):
                if a not in fam.windows or b not in fam.windows or not a < b:
                    raise CatalogError(f"family {fam.name}: accel pair {a}/{b} needs two declared windows, short first")
                for slot in by_slots:
                    add(slot, f"acc_cnt_{a}v{b}", None, aggregation=text, agg="accel", measure=None, window=f"{a}d/{b}d",
                        dtype="double", description=describe("accel", slot, False, a=a, b=b),
                        recipe=("accel", slot.index, fam.window_index(a), fam.window_index(b), a, b))
        else:
            raise CatalogError(f"family {fam.name}: unknown aggregation {text!r}")
    fam.features = features
    fam.stats = list(stats.values())


def _load_graph(raw: dict | None) -> GraphDef | None:
    if not raw:
        return None
    for k, v in raw["identifiers"].items():
        if not _IDENT.match(k):
            raise CatalogError(f"graph identifier {k!r} must be an identifier")
        uses = []
        for u in v.get("uses", []):
            m = re.match(r"^([a-z_][a-z0-9_]*)\.([a-z_][a-z0-9_]*)@([a-z_][a-z0-9_]*)$", u)
            if not m:
                raise CatalogError(f"graph identifier {k}: use {u!r} must look like model.column@time_column")
            uses.append(m.groups())
        if not uses:
            raise CatalogError(f"graph identifier {k}: no `uses`")
        v["parsed_uses"] = uses
    g = GraphDef(table=raw.get("table", "feat_graph"), group=raw.get("group", "device_graph"),
                 title=raw.get("title", "Association graph"), identifiers=raw["identifiers"],
                 growth_days=tuple(raw.get("growth_days", [])), known_bad=tuple(raw.get("known_bad", [])))
    feats: list[Feature] = []

    def add(name, desc, agg, window="-", dtype="double"):
        feats.append(Feature(name=name, family="graph", group=g.group, table=g.table, source="feat_graph_edges",
                             aggregation=agg, agg=agg, measure=None, slice="all", window=window,
                             description=desc, dtype=dtype))

    linking = [k for k, v in g.identifiers.items() if v.get("link")]
    link_text = ", ".join(g.identifiers[k]["label"] for k in linking)
    add("graph_cc_size", f"Customers in the connected component of the association graph (customers linked through a shared {link_text}; links formed before the observation time), including the customer", "component_size", dtype="int")
    add("graph_cc_bad_cnt", "Other customers in the connected component known to be bad before the observation time (blacklisted, or an installment 30+ days past due)", "component_bad", dtype="int")
    add("graph_cc_bad_density", "Share of the other customers in the connected component that were known bad before the observation time (missing when alone)", "component_bad_share")
    add("graph_cc_self_bad", "The customer was known bad before the observation time (1/0)", "self_bad", dtype="int")
    add("graph_cc_edges", "Links (customer-identifier pairs) inside the connected component", "component_edges", dtype="int")
    add("graph_cc_ids", "Identifiers (devices, phones, Wi-Fi, ...) inside the connected component", "component_identifiers", dtype="int")
    for d in g.growth_days:
        add(f"graph_cc_growth_{d}d", f"Growth of the connected component in the {d} days before the observation time (members now - members {d} days earlier)", "component_growth", f"{d}d", dtype="int")
    for k, v in g.identifiers.items():
        lab = v["label"]
        add(f"graph_{k}_n", f"Distinct {lab}s the customer used before the observation time", "identifier_count", dtype="int")
        add(f"graph_{k}_shared_sum", f"Other customers who used the same {lab}s before the observation time (summed over the customer's {lab}s)", "shared_sum", dtype="int")
        add(f"graph_{k}_shared_max", f"Most other customers sharing any one of the customer's {lab}s before the observation time", "shared_max", dtype="int")
        add(f"graph_{k}_shared_bad", f"Known-bad other customers sharing the customer's {lab}s before the observation time (summed over {lab}s)", "shared_bad", dtype="int")
    g.features = feats
    return g


_FEATURE_REF = re.compile(r"\b([a-z][a-z0-9_]*)\b")


def _load_cross(raw: dict | None, known: dict[str, Feature]) -> CrossDef | None:
    if not raw:
        return None
    c = CrossDef(table=raw.get("table", "feat_cross"), group=raw.get("group", "cross"), title=raw.get("title", "Cross-family ratios"))
    for item in raw["features"]:
        name, expr = item["name"], item["expr"]
        if not _IDENT.match(name) or name in known:
            raise CatalogError(f"cross feature name {name!r} is invalid or not unique")
        refs = [t for t in _FEATURE_REF.findall(expr) if t in known]
        unknown = [t for t in _FEATURE_REF.findall(expr)
                   if t not in known and t not in ("nullif", "coalesce", "greatest", "least", "abs", "ln", "case", "when", "then", "else", "end", "null")]
        if unknown:
            raise CatalogError(f"cross feature {name}: unknown names {unknown} in {expr!r}")
        if not refs:
            raise CatalogError(f"cross feature {name}: uses no feature")
        for r in refs:
            c.inputs.setdefault(known[r].table, [])
            if r not in c.inputs[known[r].table]:
                c.inputs[known[r].table].append(r)
        c.exprs[name] = expr
        c.features.append(Feature(name=name, family="cross", group=c.group, table=c.table,
                                  source=", ".join(sorted({known[r].table for r in refs})), aggregation="ratio",
                                  agg="cross", measure=None, slice="all", window="-", dtype="double",
                                  description=f"{item.get('label', name)} [= {expr}]"))
    return c


def load_catalog(path: Path | str = CATALOG_PATH) -> Catalog:
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    if raw.get("version") != 1:
        raise CatalogError("catalog version must be 1")
    families = {name: _load_family(name, fr) for name, fr in raw["families"].items()}
    graph = _load_graph(raw.get("graph"))
    known: dict[str, Feature] = {}
    for f in [f for fam in families.values() for f in fam.features] + (graph.features if graph else []):
        if f.name in known:
            raise CatalogError(f"feature name {f.name} is not unique across families")
        known[f.name] = f
    cross = _load_cross(raw.get("cross"), known)
    cat = Catalog(path=path, sha=hashlib.sha256(text.encode()).hexdigest()[:16], settings=raw.get("settings", {}),
                  spine_description=(raw.get("spine") or {}).get("description", ""), families=families,
                  graph=graph, cross=cross)
    for t, feats in cat.by_table().items():
        if len(feats) > 2000:
            raise CatalogError(f"table {t} would have {len(feats)} columns; split the family (DuckDB slows near 10,000)")
    return cat


@lru_cache(maxsize=4)
def _cached(path: str, mtime: float) -> Catalog:
    return load_catalog(path)


def catalog(path: Path | str = CATALOG_PATH) -> Catalog:
    """The catalog, cached per file modification time."""
    p = Path(path)
    return _cached(str(p), p.stat().st_mtime)
