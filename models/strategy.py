"""Decision strategy as data (``models/strategy/decision_rules.yaml``) and a set-based rule engine.

A **rule** is a name plus a boolean expression over the columns of a DataFrame (mart features and
what scoring adds: ``probability``, ``score``, ``grade``) and the strategy's ``params``, e.g.
``age < min_age or age > max_age``. Expressions are evaluated by ``pandas.DataFrame.eval``
(``engine="python"``) on whole columns at once — never row by row, never Python ``eval`` — after a
whitelist check of their syntax tree: names, numbers, strings, lists, arithmetic, comparisons,
``and``/``or``/``not``/``&``/``|``/``~``, ``in``/``not in``, ``abs()``, and the methods ``isna``,
``notna``, ``isin``, ``between`` (plus ``.str.contains/startswith/endswith/len/lower/upper``).
A rule with bad syntax, a forbidden construct or an unknown column raises :class:`RuleError`
naming the YAML file, the section and the rule. For every row the engine records which rules
fired (``rules_fired``: names joined by ``;``) — the "why" of each decision.

The strategy (one YAML file) holds:

* ``grades``: per label either grade targets (``{target: population_share, A: .15, ..., E: .10}``), turned
  into score cut-offs when a model version is trained and stored with it (``models/grading.py``), or fixed
  minimum scores ``{A: 620, B: 600, C: 580, D: 560}`` (a row gets the first grade whose minimum it reaches);
* ``admission`` (A-card): hard rules (any hit → reject), soft rules (any hit → review),
  decision by grade, initial limit = grade multiplier × income proxy, floored, capped, rounded;
* ``limit_management`` (B-card, low & grow): ordered action rules (first match wins: freeze /
  cut / raise with a factor on the current limit), drawdown block for high-risk accounts, caps;
* ``collections`` (C-card): queue by grade, with override rules;
* ``fraud``: hard rules and decision by grade;
* ``backtest``: what the replay of history needs (loss given default for the expected loss);
* ``champion_challenger``: a deterministic split by customer hash
  (``int(sha256(salt + customer_id)[:16 hex], 16) mod 100 < challenger_share``) and the
  challenger's overrides, deep-merged over the champion strategy.

Missing inputs are never a silent pass: a rule is **unknown** on a row when it did not fire and one of the
columns it reads (other than through ``isna()`` / ``notna()``) is missing there, and every such rule declares
``on_unknown``: ``reject`` / ``review`` (admission and fraud rules) or ``fire`` / ``skip`` (limit actions,
collection overrides). A rule that cannot fire on today's data is marked ``dormant: <why>``.

Applications get **one final decision** (:meth:`Strategy.decide_applications`) from the stages in the
declared order ``hard rules -> fraud -> A-card grade -> initial limit``: the earliest stage that rejects
decides, else the earliest that sends to review, else the A-card grade approves; with the deciding rule,
the inputs of the rules that fired and up to four adverse-action statements. A strategy file may start with
``extends: <file>`` (relative to itself) and hold only the overrides (a candidate for a what-if).
"""
from __future__ import annotations

import ast
import copy
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd
import yaml

from models.feature_kinds import is_continuous

DEFAULT_STRATEGY_FILE = Path(__file__).resolve().parent / "strategy" / "decision_rules.yaml"
GRADES = ("A", "B", "C", "D", "E")
LABEL_SECTIONS = {"a_card": "admission", "b_card": "limit_management", "c_card": "collections", "fraud": "fraud"}
TOP_LEVEL_KEYS = {"version", "description", "params", "grades", "admission", "limit_management", "collections",
                  "fraud", "champion_challenger", "backtest"}
RULE_LISTS = [("admission", "hard_rules"), ("admission", "soft_rules"), ("limit_management", "actions"),
              ("collections", "rules"), ("fraud", "hard_rules"), ("fraud", "soft_rules")]
# what a rule may do when its inputs are missing, per rule list (declared on each rule as on_unknown)
ON_UNKNOWN = {"hard_rules": ("reject", "review"), "soft_rules": ("review",), "actions": ("fire", "skip"),
              "rules": ("fire", "skip")}
NULL_AWARE_METHODS = {"isna", "notna", "isnull", "notnull"}

_ALLOWED_METHODS = {"isna", "notna", "isnull", "notnull", "isin", "between"}
_ALLOWED_STR_METHODS = {"contains", "startswith", "endswith", "len", "lower", "upper", "strip"}
_ALLOWED_FUNCTIONS = {"abs"}
_ALLOWED_NODES = (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div,
                  ast.Mod, ast.FloorDiv, ast.Pow, ast.BitAnd, ast.BitOr, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd,
                  ast.Invert, ast.Compare, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn,
                  ast.Name, ast.Load, ast.Constant, ast.List, ast.Tuple, ast.Call, ast.Attribute, ast.keyword)


class RuleError(ValueError):
    """A rule or strategy file is wrong; the message names the file, the section and the rule."""


# ---------------------------------------------------------------------------------------------
# Rules and the rule engine
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rule:
    name: str
    when: str
    description: str = ""
    section: str = ""
    source: str = "<memory>"
    options: Mapping[str, Any] = field(default_factory=dict)   # action, factor, queue, ...

    def where(self) -> str:
        return f"{self.source}: {self.section + ': ' if self.section else ''}rule '{self.name}'"


def _names_in(rule: Rule) -> set[str]:
    """Check the expression against the whitelist; return the variable names it reads."""
    try:
        tree = ast.parse(rule.when.strip(), mode="eval")
    except SyntaxError as exc:
        raise RuleError(f"{rule.where()}: bad expression {rule.when!r}: {exc.msg}") from None
    names: set[str] = set()
    method_names: set[int] = set()
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise RuleError(f"{rule.where()}: expression {rule.when!r} uses a forbidden construct "
                            f"({type(node).__name__})")
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Name):
                if f.id not in _ALLOWED_FUNCTIONS:
                    raise RuleError(f"{rule.where()}: function '{f.id}' is not allowed (allowed: abs)")
                method_names.add(id(f))
            elif isinstance(f, ast.Attribute):
                inner = f.value
                if isinstance(inner, ast.Attribute) and inner.attr == "str" and isinstance(inner.value, ast.Name):
                    if f.attr not in _ALLOWED_STR_METHODS:
                        raise RuleError(f"{rule.where()}: method '.str.{f.attr}' is not allowed "
                                        f"(allowed: {sorted(_ALLOWED_STR_METHODS)})")
                elif isinstance(inner, ast.Name):
                    if f.attr not in _ALLOWED_METHODS:
                        raise RuleError(f"{rule.where()}: method '.{f.attr}' is not allowed "
                                        f"(allowed: {sorted(_ALLOWED_METHODS)})")
                else:
                    raise RuleError(f"{rule.where()}: method calls must be on a column, e.g. age.isna()")
            else:
                raise RuleError(f"{rule.where()}: only abs() and column methods may be called")
        elif isinstance(node, ast.Attribute):
            if node.attr.startswith("_"):
                raise RuleError(f"{rule.where()}: attribute '{node.attr}' is not allowed")
        elif isinstance(node, ast.Name) and id(node) not in method_names:
            names.add(node.id)
    # attributes used as calls are fine; a bare attribute (e.g. `x.values`) is not
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            parent_ok = any(isinstance(c, ast.Call) and (c.func is node or getattr(c.func, "value", None) is node)
                            for c in ast.walk(tree))
            if not parent_ok:
                raise RuleError(f"{rule.where()}: attribute access '.{node.attr}' is only allowed as a method call")
    return names - {"True", "False", "None"}


def _null_aware_names(rule: Rule) -> set[str]:
    """Columns the expression tests for missing values itself (``x.isna()``): their nulls are handled."""
    tree = ast.parse(rule.when.strip(), mode="eval")
    return {n.func.value.id for n in ast.walk(tree)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in NULL_AWARE_METHODS
            and isinstance(n.func.value, ast.Name)}


class RuleEngine:
    """Evaluate a list of rules over a DataFrame, all rows at once."""

    def __init__(self, rules: Iterable[Rule], params: Mapping[str, Any] | None = None):
        self.rules = list(rules)
        self.params = dict(params or {})
        seen: set[str] = set()
        for r in self.rules:
            if r.name in seen:
                raise RuleError(f"{r.where()}: duplicate rule name")
            seen.add(r.name)
        self._names = {r.name: _names_in(r) for r in self.rules}
        self._null_aware = {r.name: _null_aware_names(r) for r in self.rules}

    def inputs(self, rule: Rule) -> list[str]:
        """The columns a rule reads (sorted), params excluded."""
        return sorted(n for n in self._names[rule.name] if n not in self.params)

    def unknown(self, frame: pd.DataFrame, hits: pd.DataFrame) -> pd.DataFrame:
        """True where a rule did not fire and a column it reads (not through isna/notna) is missing."""
        out = {}
        for r in self.rules:
            cols = [c for c in self.inputs(r) if c not in self._null_aware[r.name]]
            missing = frame[cols].isna().any(axis=1).to_numpy() if cols else np.zeros(len(frame), dtype=bool)
            out[r.name] = missing & ~hits[r.name].to_numpy()
        return pd.DataFrame(out, index=frame.index, columns=[r.name for r in self.rules])

    @property
    def columns_needed(self) -> set[str]:
        """Columns the rules read (names that are not params)."""
        return {n for names in self._names.values() for n in names if n not in self.params}

    def check_columns(self, columns: Iterable[str]) -> None:
        cols = set(columns)
        for r in self.rules:
            unknown = sorted(n for n in self._names[r.name] if n not in cols and n not in self.params)
            if unknown:
                raise RuleError(f"{r.where()}: expression {r.when!r} references unknown column(s) {unknown}; "
                                f"the frame has {len(cols)} columns (e.g. {sorted(cols)[:8]}) and params "
                                f"{sorted(self.params)}")

    def evaluate(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Boolean hits, one column per rule (in rule order), index of ``frame``; missing → False."""
        self.check_columns(frame.columns)
        needed = sorted(self.columns_needed & set(frame.columns))
        narrow = frame[needed] if needed else pd.DataFrame(index=frame.index)
        hits = {}
        for r in self.rules:
            try:
                value = narrow.eval(r.when, engine="python", resolvers=(self.params,))
            except Exception as exc:
                raise RuleError(f"{r.where()}: cannot evaluate {r.when!r}: {type(exc).__name__}: {exc}") from None
            if np.isscalar(value) or getattr(value, "ndim", 1) == 0:
                value = pd.Series(bool(value), index=frame.index)
            value = pd.Series(value, index=frame.index)
            if not (pd.api.types.is_bool_dtype(value) or value.isna().all()):
                raise RuleError(f"{r.where()}: expression {r.when!r} is not a condition (gives {value.dtype})")
            hits[r.name] = value.fillna(False).astype(bool).to_numpy()
        return pd.DataFrame(hits, index=frame.index, columns=[r.name for r in self.rules])

    @staticmethod
    def fired(hits: pd.DataFrame, sep: str = ";") -> pd.Series:
        """Names of the rules that fired per row, joined by ``sep`` ('' when none)."""
        if hits.shape[1] == 0:
            return pd.Series("", index=hits.index, dtype="string")
        names = np.array([c + sep for c in hits.columns], dtype=object)
        joined = hits.to_numpy(dtype=bool) @ names if len(hits) else np.array([], dtype=object)
        out = pd.Series(joined, index=hits.index, dtype=object)
        out = out.where(hits.any(axis=1).to_numpy(), "").astype("string").str.rstrip(sep)
        return out

    @staticmethod
    def first(hits: pd.DataFrame) -> pd.Series:
        """Name of the first rule (in order) that fired per row; null when none."""
        if hits.shape[1] == 0:
            return pd.Series(pd.NA, index=hits.index, dtype="string")
        arr = hits.to_numpy(dtype=bool)
        idx = arr.argmax(axis=1)
        names = np.asarray(hits.columns, dtype=object)[idx]
        return pd.Series(np.where(arr.any(axis=1), names, None), index=hits.index, dtype="string")


# ---------------------------------------------------------------------------------------------
# The strategy
# ---------------------------------------------------------------------------------------------

def _deep_merge(base: dict, override: Mapping) -> dict:
    out = copy.deepcopy(base)
    for k, v in override.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def assign_grade(score, cutoffs: Mapping[str, float]) -> np.ndarray:
    """Grade per score: the first grade (A, B, C, D order) whose minimum score is reached, else E."""
    s = np.asarray(score, dtype=float)
    mins = [float(cutoffs[g]) for g in GRADES[:-1]]
    out = np.full(s.shape, GRADES[-1], dtype=object)
    for g, m in zip(reversed(GRADES[:-1]), reversed(mins)):
        out = np.where(s >= m, g, out)
    return out


def challenger_bucket(customer_ids, salt: str = "") -> np.ndarray:
    """``int(sha256(salt + customer_id) hex[:16], 16) mod 100`` per id, computed in DuckDB (vectorised).

    Reproducible anywhere, e.g. in Python:
    ``int(hashlib.sha256((salt + cid).encode()).hexdigest()[:16], 16) % 100``.
    """
    import duckdb

    ids = pd.DataFrame({"cid": pd.Series(customer_ids).astype("string").to_numpy()})
    if ids["cid"].isna().any():
        raise ValueError("customer ids must not be missing for the champion/challenger split")
    con = duckdb.connect()
    try:
        con.register("ids", ids)
        res = con.execute("SELECT ((('0x' || left(sha256(? || cid), 16))::UBIGINT) % 100)::INTEGER AS b FROM ids",
                          [salt]).fetchnumpy()["b"]
    finally:
        con.close()
    return np.asarray(res, dtype=np.int64)


def challenger_bucket_py(customer_id: str, salt: str = "") -> int:
    """The same bucket for one id, in plain Python (for checks and ad-hoc lookups)."""
    return int(hashlib.sha256((salt + str(customer_id)).encode()).hexdigest()[:16], 16) % 100


class Strategy:
    """A decision strategy loaded from YAML. ``decide(label, frame)`` returns the decisions."""

    def __init__(self, config: Mapping[str, Any], source: str | Path = "<memory>", arm: str = "champion"):
        self.source = str(source)
        self.config = dict(config)
        self.arm_name = arm
        self._validate()
        self.params = dict(self.config.get("params") or {})
        self._engines: dict[str, RuleEngine] = {}
        for section, key in RULE_LISTS:
            self._engines[f"{section}.{key}"] = RuleEngine(self._rules(section, key), self.params)

    @property
    def version(self) -> str:
        """Content hash of the strategy (12 hex of sha256 over its canonical JSON): what made a decision."""
        canonical = json.dumps(self.config, sort_keys=True, default=str, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]

    def all_rules(self) -> list[Rule]:
        return [r for section, key in RULE_LISTS for r in self.engine(section, key).rules]

    # -- loading and validation ----------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path | None = None) -> "Strategy":
        p = Path(path) if path is not None else DEFAULT_STRATEGY_FILE
        return cls(_read_config(p), source=p)

    def _err(self, where: str, msg: str) -> RuleError:
        return RuleError(f"{self.source}: {where}: {msg}")

    def _validate(self) -> None:
        c = self.config
        unknown = set(c) - TOP_LEVEL_KEYS
        if unknown:
            raise self._err("top level", f"unknown key(s) {sorted(unknown)}; known: {sorted(TOP_LEVEL_KEYS)}")
        grades = c.get("grades") or {}
        if not isinstance(grades, dict) or not grades:
            raise self._err("grades", "grade targets or score cut-offs per label are required, e.g. "
                                      "a_card: {target: population_share, A: 0.15, B: 0.25, C: 0.30, D: 0.20, E: 0.10}")
        for label, cut in grades.items():
            if isinstance(cut, dict) and "target" in cut:
                from models.grading import GradingError, check_targets

                try:
                    check_targets(cut, f"{self.source}: grades.{label}")
                except GradingError as exc:
                    raise RuleError(str(exc)) from None
                continue
            if not isinstance(cut, dict) or set(cut) != set(GRADES[:-1]):
                raise self._err(f"grades.{label}", f"needs minimum scores for exactly {list(GRADES[:-1])} (E is the rest)")
            values = [cut[g] for g in GRADES[:-1]]
            if not all(isinstance(v, (int, float)) for v in values) or values != sorted(values, reverse=True):
                raise self._err(f"grades.{label}", f"minimum scores must be numbers decreasing from A to D, got {values}")
        for section in ("admission", "fraud"):
            gd = (c.get(section) or {}).get("grade_decisions")
            if gd is not None and set(gd) != set(GRADES):
                raise self._err(f"{section}.grade_decisions", f"needs a decision for each grade {list(GRADES)}")
        lim = (c.get("admission") or {}).get("limit") or {}
        if lim and set(lim.get("multiplier", {})) != set(GRADES):
            raise self._err("admission.limit.multiplier", f"needs a multiplier for each grade {list(GRADES)}")
        queues = (c.get("collections") or {}).get("queues")
        if queues is not None and set(queues) != set(GRADES):
            raise self._err("collections.queues", f"needs a queue for each grade {list(GRADES)}")
        cc = c.get("champion_challenger") or {}
        share = cc.get("challenger_share", 0)
        if not isinstance(share, (int, float)) or not 0 <= share <= 100:
            raise self._err("champion_challenger.challenger_share", f"must be a percentage 0..100, got {share!r}")
        ov = cc.get("challenger") or {}
        bad = set(ov) - (TOP_LEVEL_KEYS - {"champion_challenger", "version", "description"})
        if bad:
            raise self._err("champion_challenger.challenger", f"cannot override {sorted(bad)}")
        lgd = (c.get("backtest") or {}).get("lgd", 1.0)
        if not isinstance(lgd, (int, float)) or not 0 < lgd <= 1:
            raise self._err("backtest.lgd", f"loss given default must be in (0, 1], got {lgd!r}")

    def _rules(self, section: str, key: str) -> list[Rule]:
        items = (self.config.get(section) or {}).get(key) or []
        if not isinstance(items, list):
            raise self._err(f"{section}.{key}", "must be a list of rules")
        rules = []
        for i, item in enumerate(items):
            if not isinstance(item, dict) or "name" not in item or "when" not in item:
                raise self._err(f"{section}.{key}[{i}]", "each rule needs 'name' and 'when'")
            if not isinstance(item["when"], str) or not item["when"].strip():
                raise self._err(f"{section}.{key}[{i}] ('{item['name']}')", "'when' must be a non-empty expression")
            opts = {k: v for k, v in item.items() if k not in ("name", "when", "description")}
            allowed = ON_UNKNOWN[key]
            if opts.get("on_unknown") is not None and opts["on_unknown"] not in allowed:
                raise self._err(f"{section}.{key}[{i}] ('{item['name']}')",
                                f"on_unknown must be one of {list(allowed)}, got {opts['on_unknown']!r}")
            rules.append(Rule(name=str(item["name"]), when=item["when"], description=item.get("description", ""),
                              section=f"{section}.{key}", source=self.source, options=opts))
        engine = RuleEngine(rules, self.config.get("params") or {})
        for r in rules:  # a rule that reads a column without testing it for missing must say what unknown means
            if r.options.get("on_unknown") is None and set(engine.inputs(r)) - _null_aware_names(r):
                raise self._err(f"{section}.{key} ('{r.name}')",
                                f"declare on_unknown (one of {list(ON_UNKNOWN[key])}): what the rule does when "
                                f"{sorted(set(engine.inputs(r)) - _null_aware_names(r))} is missing")
        return rules

    def engine(self, section: str, key: str) -> RuleEngine:
        return self._engines[f"{section}.{key}"]

    def columns_needed(self, label: str) -> set[str]:
        """Columns a frame needs for ``decide(label, ...)`` besides probability / score / grade."""
        section = LABEL_SECTIONS[label]
        cols = set()
        for name, eng in self._engines.items():
            if name.startswith(section + "."):
                cols |= eng.columns_needed
        sect = self.config.get(section) or {}
        for key in ("income_column", "current_limit_column"):
            for holder in (sect, sect.get("limit") or {}):
                if holder.get(key):
                    cols.add(holder[key])
        return cols - {"probability", "score", "grade"}

    # -- grades -------------------------------------------------------------------------------
    def grade_targets(self, label: str) -> dict | None:
        """The grade targets of a label (None when the strategy fixes its cut-offs instead)."""
        grades = self.config["grades"]
        if label not in grades:
            raise self._err("grades", f"no grades for label '{label}' (have {sorted(grades)})")
        return dict(grades[label]) if "target" in grades[label] else None

    def grade_cutoffs(self, label: str) -> dict[str, float]:
        """Fixed cut-offs of a label; a label with targets takes its cut-offs from the model version."""
        if self.grade_targets(label) is not None:
            raise self._err(f"grades.{label}", "grades are targets: the cut-offs live with the model version "
                                               "(grades.json, written at training; `python -m models.grading`)")
        return dict(self.config["grades"][label])

    def assign_grade(self, label: str, score, cutoffs: Mapping[str, float] | None = None) -> np.ndarray:
        return assign_grade(score, cutoffs if cutoffs is not None else self.grade_cutoffs(label))

    # -- champion / challenger ----------------------------------------------------------------
    def assign_arm(self, customer_ids) -> np.ndarray:
        cc = self.config.get("champion_challenger") or {}
        share = float(cc.get("challenger_share", 0) or 0)
        n = len(customer_ids)
        if share <= 0 or n == 0:
            return np.full(n, "champion", dtype=object)
        bucket = challenger_bucket(customer_ids, str(cc.get("salt", "")))
        return np.where(bucket < share, "challenger", "champion").astype(object)

    def for_arm(self, arm: str) -> "Strategy":
        if arm == "champion":
            return self
        if arm != "challenger":
            raise ValueError(f"arm must be 'champion' or 'challenger', got {arm!r}")
        overrides = (self.config.get("champion_challenger") or {}).get("challenger") or {}
        return Strategy(_deep_merge(self.config, overrides), source=f"{self.source} (challenger)", arm="challenger")

    # -- decisions ----------------------------------------------------------------------------
    def decide(self, label: str, frame: pd.DataFrame, customer_column: str = "customer_id") -> pd.DataFrame:
        """Decisions for ``label`` on a frame holding ``probability``, ``score``, ``grade`` and the rule inputs.

        Returns (index of ``frame``): decision, recommended_limit, rules_fired, rules_unknown, rule_inputs
        (JSON: the input values of the rules that fired or were unknown), reason (the rule or grade that
        decided), arm, plus drawdown_block (b_card).
        """
        if label not in LABEL_SECTIONS:
            raise ValueError(f"unknown label '{label}' (known: {sorted(LABEL_SECTIONS)})")
        for col in ("score", "grade"):
            if col not in frame.columns:
                raise self._err(LABEL_SECTIONS[label], f"the frame needs a '{col}' column (add it by scoring first)")
        return self._by_arm(frame, customer_column, lambda st: getattr(st, "_" + LABEL_SECTIONS[label])(frame))

    def decide_applications(self, frame: pd.DataFrame, customer_column: str = "customer_id",
                            describe: Mapping[str, str] | None = None) -> pd.DataFrame:
        """One final decision per application row, in the declared order hard rules -> fraud -> A-card grade
        -> initial limit. ``frame`` holds the rule inputs, ``a_card_grade`` and ``fraud_grade`` and optionally
        the models' reason statements ``a_card_reason_1..`` / ``fraud_reason_1..``; ``describe`` maps an input
        column to a plain statement of what it is (the feature dictionary's description).

        Returns: decision (approve / review / reject), recommended_limit, deciding_stage, reason (the deciding
        rule or grade), rules_fired, rules_unknown, rule_inputs, adverse_reason_1..4, arm.
        """
        for col in ("a_card_grade", "fraud_grade"):
            if col not in frame.columns:
                raise self._err("admission", f"the application frame needs a '{col}' column (score both models first)")
        return self._by_arm(frame, customer_column, lambda st: st._applications(frame, describe or {}))

    def _by_arm(self, frame: pd.DataFrame, customer_column: str, decide_one) -> pd.DataFrame:
        share = float((self.config.get("champion_challenger") or {}).get("challenger_share", 0) or 0)
        if share > 0 and customer_column in frame.columns:
            arms = self.assign_arm(frame[customer_column])
        else:
            arms = np.full(len(frame), "champion", dtype=object)
        out = decide_one(self)
        if (arms == "challenger").any():
            ch = decide_one(self.for_arm("challenger"))
            mask = arms == "challenger"
            out = out.copy()
            for col in out.columns:
                out[col] = out[col].where(~mask, ch[col])
        out["arm"] = pd.Series(arms, index=frame.index, dtype="string")
        return out

    # -- rule evaluation with explicit unknowns ---------------------------------------------------
    def _evaluate(self, section: str, key: str, frame: pd.DataFrame):
        eng = self.engine(section, key)
        hits = eng.evaluate(frame)
        return eng, hits, eng.unknown(frame, hits)

    @staticmethod
    def _unknown_as(eng: RuleEngine, unknown: pd.DataFrame, outcome: str) -> pd.DataFrame:
        """Unknown cells of the rules whose on_unknown is ``outcome``."""
        keep = [r.name for r in eng.rules if r.options.get("on_unknown") == outcome]
        out = unknown.copy()
        for c in out.columns:
            if c not in keep:
                out[c] = False
        return out

    def _explain(self, parts, frame: pd.DataFrame) -> dict[str, pd.Series]:
        """rules_fired, rules_unknown and rule_inputs (JSON) over (engine, hits, unknown) triples."""
        fired = pd.Series("", index=frame.index, dtype="string")
        unknown_names = pd.Series("", index=frame.index, dtype="string")
        for eng, hits, unknown in parts:
            fired = _join(fired, RuleEngine.fired(hits))
            unknown_names = _join(unknown_names, RuleEngine.fired(unknown))
        return {"rules_fired": fired, "rules_unknown": unknown_names, "rule_inputs": _rule_inputs(parts, frame)}

    # -- decisions per section ----------------------------------------------------------------------
    def _stage_rules(self, eng, hits, unknown, review_on_hit: bool):
        """(decision, deciding rule) of a rule stage: hit -> reject (hard) / review (soft); unknown per rule."""
        n = len(hits)
        hit_any = hits.any(axis=1).to_numpy()
        unk_reject = self._unknown_as(eng, unknown, "reject")
        unk_review = self._unknown_as(eng, unknown, "review")
        rj, rv = unk_reject.any(axis=1).to_numpy(), unk_review.any(axis=1).to_numpy()
        on_hit = "review" if review_on_hit else "reject"
        decision = np.where(hit_any, on_hit, np.where(rj, "reject", np.where(rv, "review", "pass"))).astype(object)
        first_hit = RuleEngine.first(hits).to_numpy(dtype=object)
        rule = np.where(hit_any, first_hit,
                        np.where(rj, _suffix(RuleEngine.first(unk_reject), "_unknown"),
                                 np.where(rv, _suffix(RuleEngine.first(unk_review), "_unknown"), None))).astype(object)
        return decision if n else np.array([], dtype=object), rule

    @staticmethod
    def _stage_grade(grade: np.ndarray, decisions: Mapping[str, str], prefix: str, pass_word: str):
        by_grade = pd.Series(grade).map(decisions).to_numpy(dtype=object)
        decision = np.where(by_grade == pass_word, "pass", by_grade).astype(object)
        rule = np.char.add(prefix + "grade_", grade.astype(str)).astype(object)
        return decision, rule

    @staticmethod
    def _combine(stages) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Final decision over stages in order: the earliest reject, else the earliest review, else approve
        (decided by the last stage). Each stage is (name, decision in pass/review/reject, rule)."""
        n = len(stages[0][1])
        decision = np.full(n, "approve", dtype=object)
        stage = np.full(n, stages[-1][0], dtype=object)
        rule = np.asarray(stages[-1][2], dtype=object).copy()
        for outcome in ("review", "reject"):  # later assignment wins: reject over review, earlier over later
            for name, d, r in reversed(stages):
                m = d == outcome
                decision, stage, rule = np.where(m, outcome, decision), np.where(m, name, stage), np.where(m, r, rule)
        return decision.astype(object), stage.astype(object), rule.astype(object)

    def _grade_stage_with_soft(self, grade, decisions, prefix, pass_word, soft):
        d_grade, r_grade = self._stage_grade(grade, decisions, prefix, pass_word)
        d_soft, r_soft = self._stage_rules(*soft, review_on_hit=True)
        use_soft = (d_grade == "pass") & (d_soft == "review")
        return np.where(use_soft, "review", d_grade).astype(object), np.where(use_soft, r_soft, r_grade).astype(object)

    def _graded_section(self, section: str, frame: pd.DataFrame, pass_word: str, default_grades: dict):
        """One section on its own: its hard rules, then the grade's decision (soft rules may send a pass to
        review). Returns the section's config, the grades, the decisions, the deciding reasons and the rules."""
        sect = self.config.get(section) or {}
        hard = self._evaluate(section, "hard_rules", frame)
        soft = self._evaluate(section, "soft_rules", frame)
        grade = frame["grade"].astype("string").to_numpy(dtype=object)
        gd = sect.get("grade_decisions") or default_grades
        stages = [("hard_rules", *self._stage_rules(*hard, review_on_hit=False)),
                  (section, *self._grade_stage_with_soft(grade, gd, "", pass_word, soft))]
        decision, _, reason = self._combine(stages)
        return sect, grade, decision, reason, [hard, soft]

    def _section_frame(self, frame, decision, limit, rules, reason) -> pd.DataFrame:
        return pd.DataFrame({"decision": pd.Series(decision, index=frame.index, dtype="string"),
                             "recommended_limit": pd.Series(limit, index=frame.index, dtype="float64"),
                             **self._explain(rules, frame),
                             "reason": pd.Series(reason, index=frame.index, dtype="string")})

    def _admission(self, frame: pd.DataFrame) -> pd.DataFrame:
        sect, grade, decision, reason, rules = self._graded_section(
            "admission", frame, "approve", {"A": "approve", "B": "approve", "C": "approve", "D": "review", "E": "reject"})
        limit = self._initial_limit(frame, grade, sect.get("limit") or {})
        limit = np.where(np.isin(decision, ["approve", "review"]), limit, 0.0)
        return self._section_frame(frame, decision, limit, rules, reason)

    def _fraud(self, frame: pd.DataFrame) -> pd.DataFrame:
        _, _, decision, reason, rules = self._graded_section(
            "fraud", frame, "pass", {"A": "pass", "B": "pass", "C": "pass", "D": "review", "E": "reject"})
        decision = np.where(decision == "approve", "pass", decision)
        return self._section_frame(frame, decision, np.nan, rules, reason)

    def _applications(self, frame: pd.DataFrame, describe: Mapping[str, str]) -> pd.DataFrame:
        adm, fr = self.config.get("admission") or {}, self.config.get("fraud") or {}
        a_hard = self._evaluate("admission", "hard_rules", frame)
        f_hard = self._evaluate("fraud", "hard_rules", frame)
        a_soft = self._evaluate("admission", "soft_rules", frame)
        f_soft = self._evaluate("fraud", "soft_rules", frame)
        # hard rules of both sections form the first stage (admission rules first)
        hard_eng = RuleEngine(a_hard[0].rules + f_hard[0].rules, self.params)
        hard = (hard_eng, pd.concat([a_hard[1], f_hard[1]], axis=1), pd.concat([a_hard[2], f_hard[2]], axis=1))
        a_grade = frame["a_card_grade"].astype("string").to_numpy(dtype=object)
        f_grade = frame["fraud_grade"].astype("string").to_numpy(dtype=object)
        a_gd = adm.get("grade_decisions") or {"A": "approve", "B": "approve", "C": "approve", "D": "review", "E": "reject"}
        f_gd = fr.get("grade_decisions") or {"A": "pass", "B": "pass", "C": "pass", "D": "review", "E": "reject"}
        stages = [("hard_rules", *self._stage_rules(hard_eng, hard[1], hard[2], review_on_hit=False)),
                  ("fraud", *self._grade_stage_with_soft(f_grade, f_gd, "fraud_", "pass", f_soft)),
                  ("a_card", *self._grade_stage_with_soft(a_grade, a_gd, "a_card_", "approve", a_soft))]
        decision, stage, reason = self._combine(stages)
        limit = self._initial_limit(frame, a_grade, adm.get("limit") or {})
        limit = np.where(np.isin(decision, ["approve", "review"]), limit, 0.0)
        parts = [a_hard, f_hard, f_soft, a_soft]
        adverse = self._adverse_reasons(frame, parts, decision, stage, reason, describe)
        return pd.DataFrame({"decision": pd.Series(decision, index=frame.index, dtype="string"),
                             "recommended_limit": pd.Series(limit, index=frame.index, dtype="float64"),
                             "deciding_stage": pd.Series(stage, index=frame.index, dtype="string"),
                             "reason": pd.Series(reason, index=frame.index, dtype="string"),
                             **self._explain(parts, frame), **adverse}, index=frame.index)

    def _adverse_reasons(self, frame, parts, decision, stage, reason, describe, k: int = 4) -> dict[str, pd.Series]:
        """Up to ``k`` plain statements per declined / referred application: the deciding rule first, then the
        other rules that fired or could not be checked, then the deciding model's reasons."""
        n = len(frame)
        adverse = np.isin(decision, ["reject", "review"])
        candidates = []  # (priority array, statement Series)
        for eng, hits, unknown in parts:
            for r in eng.rules:
                text = _rule_statement(eng, r, frame, describe)
                unk_text = _unknown_statement(eng, r, frame, describe)
                st = pd.Series(np.where(hits[r.name].to_numpy(), text.to_numpy(dtype=object),
                                        np.where(unknown[r.name].to_numpy(), unk_text.to_numpy(dtype=object), None)),
                               index=frame.index, dtype=object)
                deciding = (reason == r.name) | (reason == r.name + "_unknown")
                candidates.append((np.where(deciding, 0, 1), st))
        reason_s = pd.Series(reason, index=frame.index, dtype="string")
        for label, what in (("fraud", "Fraud risk score"), ("a_card", "Credit risk score")):
            by_grade = reason_s.str.startswith(label + "_grade_").fillna(False).to_numpy()
            grade_text = (what + " in grade " + reason_s.str[-1] + ", which the strategy does not approve outright")
            candidates.append((np.where(by_grade, 0, 3), grade_text.astype(object).where(by_grade, None)))
        for label in ("fraud", "a_card"):
            for i in range(1, 4):
                col = f"{label}_reason_{i}"
                if col in frame.columns:
                    st = frame[col].astype(object).where(frame[col].notna(), None)
                    st = st.where(pd.Series(stage == label, index=frame.index), None)
                    candidates.append((np.full(n, 2), st))
        out = [np.full(n, None, dtype=object) for _ in range(k)]
        count = np.zeros(n, dtype=int)
        for prio in (0, 1, 2):
            for p_arr, st in candidates:
                val = st.to_numpy(dtype=object)
                ok = (p_arr == prio) & pd.notna(val) & adverse & (count < k)
                for o in out:
                    ok &= ~(o == val)
                for j in range(k):
                    put = ok & (count == j)
                    out[j] = np.where(put, val, out[j])
                count += ok
        return {f"adverse_reason_{j + 1}": pd.Series(out[j], index=frame.index, dtype="string") for j in range(k)}

    def _income(self, frame: pd.DataFrame, cfg: Mapping[str, Any], where: str) -> np.ndarray:
        col = cfg.get("income_column")
        default = float(cfg.get("default_income", 0.0))
        if not col:
            return np.full(len(frame), default)
        if col not in frame.columns:
            raise self._err(where, f"income column '{col}' is not in the frame")
        inc = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
        return np.where(np.isfinite(inc) & (inc > 0), inc, default)

    def _initial_limit(self, frame: pd.DataFrame, grade: np.ndarray, cfg: Mapping[str, Any]) -> np.ndarray:
        if not cfg:
            return np.full(len(frame), np.nan)
        income = self._income(frame, cfg, "admission.limit")
        mult = pd.Series(grade).map({g: float(v) for g, v in cfg["multiplier"].items()}).to_numpy(dtype=float)
        return _round_limit(income * mult, cfg)

    def _first_action(self, section: str, key: str, frame: pd.DataFrame):
        """Rules that count as firing (hits, plus unknowns declared on_unknown: fire), first match per row."""
        eng, hits, unknown = self._evaluate(section, key, frame)
        effective = hits | self._unknown_as(eng, unknown, "fire")
        arr = effective.to_numpy(dtype=bool)
        any_hit = arr.any(axis=1)
        first_idx = arr.argmax(axis=1) if arr.shape[1] else np.zeros(len(frame), dtype=int)
        names = np.array([r.name for r in eng.rules] or [""], dtype=object)
        by_unknown = ~np.take_along_axis(hits.to_numpy(dtype=bool), first_idx[:, None], 1)[:, 0] if arr.shape[1] \
            else np.zeros(len(frame), dtype=bool)
        reason = np.where(by_unknown, np.char.add(names[first_idx].astype(str), "_unknown").astype(object),
                          names[first_idx])
        return (eng, hits, unknown), any_hit, first_idx, reason

    def _limit_management(self, frame: pd.DataFrame) -> pd.DataFrame:
        sect = self.config.get("limit_management") or {}
        col = sect.get("current_limit_column", "current_limit")
        if col not in frame.columns:
            raise self._err("limit_management.current_limit_column", f"column '{col}' is not in the frame")
        current = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
        part, any_hit, first_idx, rule_reason = self._first_action("limit_management", "actions", frame)
        rules = part[0].rules
        actions = np.array([r.options.get("action", "keep") for r in rules] or ["keep"], dtype=object)
        factors = np.array([float(r.options.get("factor", 1.0)) for r in rules] or [1.0])
        blocks = np.array([bool(r.options.get("drawdown_block", False)) for r in rules] or [False])
        default_action = sect.get("default_action", "keep")
        action = np.where(any_hit, actions[first_idx], default_action)
        factor = np.where(any_hit, factors[first_idx], 1.0)
        block = np.where(any_hit, blocks[first_idx], False)
        new_limit = current * factor
        cap_cfg = {k: sect[k] for k in ("floor", "cap", "round_to") if k in sect}
        mult = sect.get("max_income_multiple")
        if mult is not None:
            income = self._income(frame, sect, "limit_management")
            new_limit = np.where(action == "raise", np.minimum(new_limit, np.maximum(current, income * float(mult))),
                                 new_limit)
        # never raise above the cap, never let a "raise" lower a limit that was already above it
        rounded = _round_limit(new_limit, {k: v for k, v in cap_cfg.items() if k != "floor"})
        rounded = np.where(action == "raise", np.maximum(rounded, current), rounded)
        rounded = np.where(np.isnan(current), np.nan, rounded)
        reason = np.where(any_hit, rule_reason, "default_" + str(default_action))
        # a raise that the caps leave without room is a keep (the reason says why)
        capped = (action == "raise") & ~(rounded > current)
        action = np.where(capped, "keep", action)
        reason = np.where(capped, np.char.add(reason.astype(str), "_capped").astype(object), reason)
        return pd.DataFrame({"decision": pd.Series(action, index=frame.index, dtype="string"),
                             "recommended_limit": pd.Series(rounded, index=frame.index, dtype="float64"),
                             **self._explain([part], frame),
                             "reason": pd.Series(reason, index=frame.index, dtype="string"),
                             "drawdown_block": pd.Series(block.astype(bool), index=frame.index)})

    def _collections(self, frame: pd.DataFrame) -> pd.DataFrame:
        sect = self.config.get("collections") or {}
        queues = sect.get("queues") or {g: f"queue_{g}" for g in GRADES}
        grade = frame["grade"].astype("string").to_numpy(dtype=object)
        by_grade = pd.Series(grade).map(queues).to_numpy(dtype=object)
        part, any_hit, first_idx, rule_reason = self._first_action("collections", "rules", frame)
        rule_queues = np.array([r.options.get("queue") for r in part[0].rules] or [None], dtype=object)
        queue = np.where(any_hit, rule_queues[first_idx], by_grade)
        reason = np.where(any_hit, rule_reason, np.char.add("grade_", grade.astype(str)).astype(object))
        return pd.DataFrame({"decision": pd.Series(queue, index=frame.index, dtype="string"),
                             "recommended_limit": pd.Series(np.nan, index=frame.index, dtype="float64"),
                             **self._explain([part], frame),
                             "reason": pd.Series(reason, index=frame.index, dtype="string")})


def _read_config(path: Path, seen: tuple = ()) -> dict:
    """A strategy file as a mapping; ``extends: <file>`` deep-merges the file over its base."""
    try:
        config = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise RuleError(f"{path}: strategy file not found") from None
    except yaml.YAMLError as exc:
        raise RuleError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(config, dict):
        raise RuleError(f"{path}: the strategy must be a mapping at the top level")
    base = config.pop("extends", None)
    if base is None:
        return config
    base_path = (path.parent / str(base)).resolve()
    if base_path in seen:
        raise RuleError(f"{path}: 'extends' makes a cycle through {base_path}")
    return _deep_merge(_read_config(base_path, seen + (path.resolve(),)), config)


def _suffix(names: pd.Series, suffix: str) -> np.ndarray:
    return (names.astype(object) + suffix).to_numpy(dtype=object)


def _value_text(values: pd.Series) -> pd.Series:
    """Values as JSON-ish text, set-based: numbers rounded, strings quoted, missing as null."""
    if is_continuous(values):
        v = pd.to_numeric(values, errors="coerce").astype("float64").round(4)
        whole = v.notna() & (v == v.round(0))
        text = v.astype("string")
        text = text.where(~whole, v.round(0).astype("Int64").astype("string"))
    else:
        text = '"' + values.astype("string") + '"'
    return text.fillna("null").astype("string")


def _rule_inputs(parts, frame: pd.DataFrame) -> pd.Series:
    """JSON object per row: {rule: {input: value}} for every rule that fired or was unknown there."""
    body = pd.Series("", index=frame.index, dtype="string")
    for eng, hits, unknown in parts:
        for r in eng.rules:
            cols = eng.inputs(r)
            pieces = [('"' + c + '": ') + _value_text(frame[c]) for c in cols]
            inner = pieces[0] if pieces else pd.Series("", index=frame.index, dtype="string")
            for p in pieces[1:]:
                inner = inner + ", " + p
            frag = '"' + r.name + '": {' + inner + "}"
            on = hits[r.name].to_numpy() | unknown[r.name].to_numpy()
            sep = pd.Series(np.where(body != "", ", ", ""), index=frame.index, dtype="string")
            body = body.where(~on, body + sep + frag)
    return ("{" + body + "}").astype("string")


def _rule_statement(eng: RuleEngine, rule: Rule, frame: pd.DataFrame, describe: Mapping[str, str]) -> pd.Series:
    """'<rule description> (<input description>: <value>; ...)' per row: why a rule fired, in plain words."""
    text = pd.Series(rule.description or rule.name, index=frame.index, dtype="string")
    cols = eng.inputs(rule)
    if cols:
        facts = [(describe.get(c, c) + ": ") + _value_text(frame[c]).str.strip('"').replace("null", "missing")
                 for c in cols]
        joined = facts[0]
        for f in facts[1:]:
            joined = joined + "; " + f
        text = text + " (" + joined + ")"
    return text


def _unknown_statement(eng: RuleEngine, rule: Rule, frame: pd.DataFrame, describe: Mapping[str, str]) -> pd.Series:
    """'Could not be checked: <rule> (<the inputs missing on this row>: missing)' per row."""
    what = pd.Series("", index=frame.index, dtype="string")
    for c in eng.inputs(rule):
        if c in eng._null_aware[rule.name]:
            continue
        sep = pd.Series(np.where(what != "", "; ", ""), index=frame.index, dtype="string")
        what = what.where(frame[c].notna().to_numpy(), what + sep + describe.get(c, c))
    return "Could not be checked: " + (rule.description or rule.name) + " (" + what + ": missing)"


def _round_limit(values: np.ndarray, cfg: Mapping[str, Any]) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    if cfg.get("cap") is not None:
        v = np.minimum(v, float(cfg["cap"]))
    step = float(cfg.get("round_to", 0) or 0)
    if step > 0:
        v = np.floor(v / step) * step
    if cfg.get("floor") is not None:
        v = np.where(v > 0, np.maximum(v, float(cfg["floor"])), v)
    return v


def _join(a: pd.Series, b: pd.Series, sep: str = ";") -> pd.Series:
    both = (a != "") & (b != "")
    return (a + pd.Series(np.where(both, sep, ""), index=a.index, dtype="string") + b).astype("string")


def load_strategy(path: str | Path | None = None) -> Strategy:
    """Load the decision strategy YAML (default: ``models/strategy/decision_rules.yaml``)."""
    return Strategy.load(path)
