"""The rule engine and the decision strategy on hand-made cases."""
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from models.strategy import (DEFAULT_STRATEGY_FILE, RuleEngine, Rule, RuleError, Strategy, assign_grade,
                             challenger_bucket, challenger_bucket_py, load_strategy)


def rules(*pairs):
    return [Rule(name=n, when=w, section="test", source="hand.yaml") for n, w in pairs]


# ---------------------------------------------------------------------------------------------
# rule engine
# ---------------------------------------------------------------------------------------------

def test_engine_records_which_rules_fired():
    frame = pd.DataFrame({"age": [17, 30, np.nan, 70], "inq": [0, 9, 2, 1],
                          "grade": pd.Series(["A", "E", "B", None], dtype="string")})
    eng = RuleEngine(rules(("too_young_or_old", "age < min_age or age > max_age"),
                           ("multi_lending", "inq > max_inq"),
                           ("bad_grade", "grade in ['D', 'E']"),
                           ("age_missing", "age.isna()")),
                     params={"min_age": 18, "max_age": 60, "max_inq": 6})
    hits = eng.evaluate(frame)
    assert hits.to_numpy().tolist() == [[True, False, False, False],
                                        [False, True, True, False],
                                        [False, False, False, True],   # NaN age: comparison false, isna true
                                        [True, False, False, False]]   # missing grade is not in the list
    assert list(RuleEngine.fired(hits)) == ["too_young_or_old", "multi_lending;bad_grade", "age_missing",
                                            "too_young_or_old"]
    assert list(RuleEngine.first(hits)) == ["too_young_or_old", "multi_lending", "age_missing", "too_young_or_old"]
    assert eng.columns_needed == {"age", "inq", "grade"}


def test_engine_allowed_constructs():
    frame = pd.DataFrame({"x": [1, 2, 3, 4], "s": pd.Series(["ab", "cd", "ab", None], dtype="string")})
    eng = RuleEngine(rules(("between", "x.between(2, 3)"), ("isin", "x.isin([1, 4])"), ("abs", "abs(x - 3) <= 0"),
                           ("strm", "s.str.startswith('a')"), ("neg", "(not (x > 1)) | (~(x < 4))"),
                           ("const", "True")))
    hits = eng.evaluate(frame)
    assert hits["between"].tolist() == [False, True, True, False]
    assert hits["isin"].tolist() == [True, False, False, True]
    assert hits["abs"].tolist() == [False, False, True, False]
    assert hits["strm"].tolist() == [True, False, True, False]
    assert hits["neg"].tolist() == [True, False, False, True]
    assert hits["const"].all()


def test_unknown_column_error_names_file_and_rule():
    eng = RuleEngine(rules(("ok", "x > 1"), ("typo", "incme > 1000")))
    with pytest.raises(RuleError) as err:
        eng.evaluate(pd.DataFrame({"x": [1, 2]}))
    msg = str(err.value)
    assert "hand.yaml" in msg and "rule 'typo'" in msg and "incme" in msg


@pytest.mark.parametrize("expr, fragment", [
    ("x >", "bad expression"),
    ("x.__class__", "not allowed"),
    ("__import__('os')", "not allowed"),
    ("open('/etc/passwd')", "not allowed"),
    ("x.to_csv('f')", "not allowed"),
    ("[i for i in x]", "forbidden construct"),
    ("x[0] > 1", "forbidden construct"),
    ("x.values", "only allowed as a method call"),
    ("lambda: 1", "forbidden construct"),
])
def test_bad_or_unsafe_expressions_are_refused(expr, fragment):
    with pytest.raises(RuleError) as err:
        RuleEngine(rules(("r1", expr)))
    assert fragment in str(err.value) and "hand.yaml" in str(err.value) and "r1" in str(err.value)


def test_non_boolean_rule_is_an_error():
    with pytest.raises(RuleError, match="not a condition"):
        RuleEngine(rules(("arith", "x + 1"))).evaluate(pd.DataFrame({"x": [1.0, 2.0]}))


def test_duplicate_rule_names_are_an_error():
    with pytest.raises(RuleError, match="duplicate"):
        RuleEngine(rules(("a", "x > 1"), ("a", "x > 2")))


# ---------------------------------------------------------------------------------------------
# strategy
# ---------------------------------------------------------------------------------------------

def applicants() -> pd.DataFrame:
    """One row per case, named by customer id."""
    rows = [
        # id,            score, grade, age, blacklist, telco, idv, inq, loans, tradelines, income
        ("good",          650, "A", 35, 0, 1, 1, 1, 1, 5, 10000.0),
        ("blacklisted",   650, "A", 35, 1, 1, 1, 1, 1, 5, 10000.0),
        ("too_young",     650, "A", 17, 0, 1, 1, 1, 1, 5, 10000.0),
        ("name_mismatch", 650, "A", 35, 0, 0, 1, 1, 1, 5, 10000.0),
        ("multi_lender",  650, "A", 35, 0, 1, 1, 9, 1, 5, 10000.0),
        ("thin_file",     650, "A", 35, 0, 1, 1, 1, 1, np.nan, 10000.0),
        ("grade_d",       565, "D", 35, 0, 1, 1, 1, 1, 5, 10000.0),
        ("grade_e",       500, "E", 35, 0, 1, 1, 1, 1, 5, 10000.0),
        ("grade_c_rich",  585, "C", 35, 0, 1, 1, 1, 1, 5, 90000.0),
        ("no_income",     605, "B", 35, 0, 1, 1, 1, 1, 5, np.nan),
        ("two_hard",      650, "A", 70, 1, 1, 1, 1, 1, 5, 10000.0),
    ]
    cols = ["customer_id", "score", "grade", "age", "blacklist_hit", "telco_name_match", "id_verified",
            "inquiries_30d", "open_loans_other", "bureau_tradelines", "declared_income"]
    df = pd.DataFrame(rows, columns=cols)
    df["grade"] = df["grade"].astype("string")
    df["customer_id"] = df["customer_id"].astype("string")
    return df.set_index("customer_id", drop=False)


@pytest.fixture(scope="module")
def champion_only():
    config = yaml.safe_load(DEFAULT_STRATEGY_FILE.read_text())
    config["champion_challenger"]["challenger_share"] = 0
    return Strategy(config, source="champion_only.yaml")


def test_admission_decisions_and_limits(champion_only):
    out = champion_only.decide("a_card", applicants())
    d, lim, why = out["decision"], out["recommended_limit"], out["reason"]
    assert d["good"] == "approve" and lim["good"] == 30000.0              # 3.0 x 10,000
    assert d["blacklisted"] == "reject" and why["blacklisted"] == "blacklist_hit" and lim["blacklisted"] == 0
    assert d["too_young"] == "reject" and why["too_young"] == "age_out_of_range"
    assert d["name_mismatch"] == "reject" and why["name_mismatch"] == "identity_mismatch"
    assert d["multi_lender"] == "reject" and why["multi_lender"] == "multi_lending"
    assert out["rules_fired"]["multi_lender"] == "multi_lending;inquiries_elevated"
    assert d["thin_file"] == "review" and why["thin_file"] == "thin_file" and lim["thin_file"] == 30000.0
    assert d["grade_d"] == "review" and why["grade_d"] == "grade_D" and lim["grade_d"] == 6000.0
    assert d["grade_e"] == "reject" and why["grade_e"] == "grade_E"
    assert lim["grade_c_rich"] == 50000.0                                  # 1.2 x 90,000 capped
    assert lim["no_income"] == 6000.0                                      # 2.0 x default income 3,000
    assert out["rules_fired"]["two_hard"] == "blacklist_hit;age_out_of_range"
    assert out["rules_fired"]["good"] == ""
    assert (out["arm"] == "champion").all()


def accounts() -> pd.DataFrame:
    rows = [
        # id,           grade, limit,  income, dpd, maxdpd6, inq, mob
        ("raise",        "A", 5000.0, 10000.0, 0, 0, 1, 12),
        ("raise_capped", "B", 9000.0, 1500.0, 0, 0, 0, 12),    # 6 x income = 9,000: no room to raise
        ("new_account",  "A", 5000.0, 10000.0, 0, 0, 0, 1),    # too new to raise
        ("dirty",        "A", 5000.0, 10000.0, 0, 15, 0, 12),  # past arrears: keep
        ("cut",          "D", 5000.0, 10000.0, 0, 0, 0, 12),
        ("cut_inq",      "B", 5000.0, 10000.0, 0, 0, 9, 12),
        ("freeze",       "E", 5000.0, 10000.0, 0, 0, 0, 12),
        ("past_due",     "A", 5000.0, 10000.0, 3, 3, 0, 12),
    ]
    df = pd.DataFrame(rows, columns=["customer_id", "grade", "current_limit", "declared_income", "dpd_current",
                                     "max_dpd_6m", "inquiries_30d", "months_on_book"])
    df["grade"] = df["grade"].astype("string")
    df["score"] = 600
    return df.set_index("customer_id", drop=False)


def test_low_and_grow_limit_management(champion_only):
    out = champion_only.decide("b_card", accounts())
    d, lim, block = out["decision"], out["recommended_limit"], out["drawdown_block"]
    assert d["raise"] == "raise" and lim["raise"] == 6500.0
    assert d["raise_capped"] == "keep" and lim["raise_capped"] == 9000.0
    assert out["reason"]["raise_capped"] == "raise_good_repayer_capped"
    assert d["new_account"] == "keep" and lim["new_account"] == 5000.0
    assert d["dirty"] == "keep"
    assert d["cut"] == "cut" and lim["cut"] == 3500.0
    assert d["cut_inq"] == "cut"
    assert d["freeze"] == "freeze" and block["freeze"] and lim["freeze"] == 5000.0
    assert d["past_due"] == "freeze" and block["past_due"]
    assert not block["raise"] and out["reason"]["raise"] == "raise_good_repayer"
    assert out["reason"]["past_due"] == "freeze_high_risk"
    # first match wins; the "why" lists every action rule that matched
    assert out["rules_fired"]["freeze"] == "freeze_high_risk"
    assert out["rules_fired"]["cut_inq"] == "cut_deteriorating"


def test_collections_and_fraud(champion_only):
    cases = pd.DataFrame({"customer_id": ["a", "b", "c"], "score": [530, 450, 530],
                          "grade": pd.Series(["A", "E", "A"], dtype="string"),
                          "broken_promises_30d": [0, 0, 3],
                          "device_shared_customers": [1, 1, 6], "graph_known_bad_share": [0.0, 0.5, 0.0]})
    out = champion_only.decide("c_card", cases)
    assert list(out["decision"]) == ["sms_reminder", "external_agency", "intensive_call"]
    assert out["recommended_limit"].isna().all()
    fraud = champion_only.decide("fraud", cases)
    assert list(fraud["decision"]) == ["pass", "reject", "reject"]
    assert list(fraud["reason"]) == ["grade_A", "grade_E", "device_ring"]
    assert fraud["rules_fired"].tolist() == ["", "known_bad_neighbour", "device_ring"]


def test_grades_from_cutoffs():
    cut = {"A": 620, "B": 600, "C": 580, "D": 560}
    assert list(assign_grade([700, 620, 619, 600, 580, 560, 559, 0], cut)) == ["A", "A", "B", "B", "C", "D", "E", "E"]
    assert list(load_strategy().assign_grade("a_card", [630, 540])) == ["A", "E"]


def test_champion_challenger_split_is_deterministic_by_customer_hash():
    ids = pd.Series([f"C{i:07d}" for i in range(20000)])
    b = challenger_bucket(ids, salt="s1")
    assert b.min() >= 0 and b.max() <= 99
    for i in (0, 1, 777, 19999):
        want = int(hashlib.sha256(("s1" + ids[i]).encode()).hexdigest()[:16], 16) % 100
        assert b[i] == want == challenger_bucket_py(ids[i], "s1")
    st = load_strategy()
    arms = st.assign_arm(ids)
    share = (arms == "challenger").mean()
    assert 0.08 < share < 0.12                                    # 10% configured
    assert (st.assign_arm(ids) == arms).all()                     # same customer, same arm
    # challenger rows get the challenger's overrides (higher initial-limit multipliers)
    apps = applicants()
    out = st.decide("a_card", apps)
    ch = st.for_arm("challenger").decide("a_card", apps)
    champ_arm = Strategy(yaml.safe_load(DEFAULT_STRATEGY_FILE.read_text()) | {"champion_challenger": {}}).decide("a_card", apps)
    for cid in apps.index:
        expected = ch if out["arm"][cid] == "challenger" else champ_arm
        assert out["recommended_limit"][cid] == expected["recommended_limit"][cid]
    assert ch["recommended_limit"]["good"] == 35000.0


def test_strategy_file_errors_name_the_file_and_field(tmp_path):
    bad = yaml.safe_load(DEFAULT_STRATEGY_FILE.read_text())
    bad["admission"]["hard_rules"].append({"name": "oops", "when": "age >"})
    f = tmp_path / "bad_rules.yaml"
    f.write_text(yaml.safe_dump(bad))
    with pytest.raises(RuleError, match=r"bad_rules\.yaml.*rule 'oops'.*bad expression"):
        load_strategy(f)
    bad = yaml.safe_load(DEFAULT_STRATEGY_FILE.read_text())
    bad["grades"]["a_card"] = {"A": 560, "B": 600, "C": 580, "D": 560}
    f.write_text(yaml.safe_dump(bad))
    with pytest.raises(RuleError, match=r"bad_rules\.yaml: grades\.a_card"):
        load_strategy(f)
    f.write_text("grades: [1, 2\n")
    with pytest.raises(RuleError, match="not valid YAML"):
        load_strategy(f)
    # a rule over a column the frame lacks
    st = load_strategy()
    with pytest.raises(RuleError, match=r"decision_rules\.yaml: admission\.hard_rules: rule 'blacklist_hit'"):
        st.decide("a_card", applicants().drop(columns="blacklist_hit"))


def test_shipped_strategy_loads():
    st = load_strategy()
    assert Path(st.source) == DEFAULT_STRATEGY_FILE
    assert {"age", "blacklist_hit", "declared_income"} <= st.columns_needed("a_card")
    assert "current_limit" in st.columns_needed("b_card")
