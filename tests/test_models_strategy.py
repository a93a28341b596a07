"""The rule engine and the decision strategy on hand-made cases."""
import hashlib
import json
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

APPLICANT = dict(score=650, grade="A", age=35, blacklist_hit=0, telco_name_match=1, id_bureau_hit=1, id_name_match=1,
                 id_number_match=1, id_phone_match=1, id_card_match=1, inquiries_30d=1, open_loans_other=1,
                 bureau_tradelines=5, declared_income=10000.0, device_shared_customers=0, graph_known_bad_share=0.0)


def applicants() -> pd.DataFrame:
    """One row per case, named by customer id: a clean applicant with one thing changed."""
    cases = {
        "good": {},
        "blacklisted": {"blacklist_hit": 1},
        "too_young": {"age": 17},
        "name_mismatch": {"id_name_match": 0},
        "card_mismatch": {"id_card_match": 0},
        "telco_mismatch": {"telco_name_match": 0},
        "no_hit": {"id_bureau_hit": 0, "id_name_match": np.nan, "id_number_match": np.nan,
                   "id_phone_match": np.nan, "id_card_match": np.nan},
        "multi_lender": {"inquiries_30d": 9},
        "inquiries_unknown": {"inquiries_30d": np.nan},
        "age_unknown": {"age": np.nan},
        "thin_file": {"bureau_tradelines": np.nan},
        "grade_d": {"score": 565, "grade": "D"},
        "grade_e": {"score": 500, "grade": "E"},
        "grade_c_rich": {"score": 585, "grade": "C", "declared_income": 90000.0},
        "no_income": {"score": 605, "grade": "B", "declared_income": np.nan},
        "two_hard": {"age": 70, "blacklist_hit": 1},
    }
    df = pd.DataFrame([{"customer_id": cid, **APPLICANT, **over} for cid, over in cases.items()])
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
    assert d["card_mismatch"] == "review" and why["card_mismatch"] == "contact_mismatch"
    assert d["telco_mismatch"] == "review" and why["telco_mismatch"] == "contact_mismatch"
    assert d["multi_lender"] == "reject" and why["multi_lender"] == "multi_lending"
    assert out["rules_fired"]["multi_lender"] == "multi_lending;inquiries_elevated"
    assert d["thin_file"] == "review" and why["thin_file"] == "thin_file" and lim["thin_file"] == 30000.0
    assert d["grade_d"] == "review" and why["grade_d"] == "grade_D" and lim["grade_d"] == 6000.0
    assert d["grade_e"] == "reject" and why["grade_e"] == "grade_E"
    assert lim["grade_c_rich"] == 50000.0                                  # 1.2 x 90,000 capped
    assert lim["no_income"] == 6000.0                                      # 2.0 x default income 3,000
    assert out["rules_fired"]["two_hard"] == "blacklist_hit;age_out_of_range"
    assert out["rules_fired"]["good"] == "" and out["rules_unknown"]["good"] == ""
    assert (out["arm"] == "champion").all()


def test_missing_inputs_are_unknown_never_a_silent_pass(champion_only):
    out = champion_only.decide("a_card", applicants())
    d, why, unknown = out["decision"], out["reason"], out["rules_unknown"]
    # a bureau no-hit: the identity rules cannot be checked -> review (declared on_unknown), not approve
    assert d["no_hit"] == "review" and why["no_hit"] == "identity_mismatch_unknown"
    assert unknown["no_hit"] == "identity_mismatch;contact_mismatch"
    assert out["rules_fired"]["no_hit"] == "bureau_no_hit"
    # missing bureau inquiries: multi-lending unknown -> review (the hard rule declares review)
    assert d["inquiries_unknown"] == "review" and why["inquiries_unknown"] == "multi_lending_unknown"
    assert unknown["inquiries_unknown"] == "multi_lending;inquiries_elevated"
    # missing age is not "in range"
    assert d["age_unknown"] == "review" and why["age_unknown"] == "age_out_of_range_unknown"
    # a definite hit wins over an unknown input of the same rule (or: one factor 0 is a mismatch)
    frame = applicants().loc[["name_mismatch"]].copy()
    frame["id_number_match"] = np.nan
    assert champion_only.decide("a_card", frame)["decision"].iloc[0] == "reject"
    # the inputs of the rules that fired or were unknown are recorded
    assert json.loads(out["rule_inputs"]["multi_lender"]) == {
        "multi_lending": {"inquiries_30d": 9}, "inquiries_elevated": {"inquiries_30d": 9}}
    assert json.loads(out["rule_inputs"]["age_unknown"]) == {"age_out_of_range": {"age": None}}
    assert json.loads(out["rule_inputs"]["good"]) == {}


def test_every_rule_declares_what_unknown_means(tmp_path):
    config = yaml.safe_load(DEFAULT_STRATEGY_FILE.read_text())
    del config["admission"]["hard_rules"][1]["on_unknown"]   # age_out_of_range
    f = tmp_path / "no_unknown.yaml"
    f.write_text(yaml.safe_dump(config))
    with pytest.raises(RuleError, match=r"no_unknown\.yaml: admission\.hard_rules \('age_out_of_range'\).*on_unknown"):
        load_strategy(f)
    config["admission"]["hard_rules"][1]["on_unknown"] = "pass"
    f.write_text(yaml.safe_dump(config))
    with pytest.raises(RuleError, match="on_unknown must be one of"):
        load_strategy(f)


def application_frame() -> pd.DataFrame:
    apps = applicants().drop(columns=["score", "grade"])
    apps["a_card_grade"] = applicants()["grade"]
    apps["fraud_grade"] = pd.Series("A", index=apps.index, dtype="string")
    return apps


def test_one_final_decision_per_application_in_the_declared_order(champion_only):
    apps = application_frame()
    extra = pd.DataFrame([{**APPLICANT, "customer_id": "fraud_e"}, {**APPLICANT, "customer_id": "fraud_d"},
                          {**APPLICANT, "customer_id": "ring", "device_shared_customers": 7},
                          {**APPLICANT, "customer_id": "bad_neighbours", "graph_known_bad_share": 0.5},
                          {**APPLICANT, "customer_id": "fraud_e_blacklisted", "blacklist_hit": 1},
                          {**APPLICANT, "customer_id": "fraud_d_grade_e", "grade": "E"}]).set_index("customer_id", drop=False)
    extra["a_card_grade"] = extra.pop("grade").astype("string")
    extra["fraud_grade"] = pd.Series(["E", "D", "A", "A", "E", "D"], index=extra.index, dtype="string")
    extra["fraud_reason_1"] = "Many devices used in the last 7 days"
    apps = pd.concat([apps, extra.drop(columns="score")])
    out = champion_only.decide_applications(apps, describe={"blacklist_hit": "Blacklist listings before the application"})
    d, stage, why = out["decision"], out["deciding_stage"], out["reason"]
    assert len(out) == len(apps) and out["decision"].notna().all()
    assert (d["good"], stage["good"], why["good"]) == ("approve", "a_card", "a_card_grade_A")
    assert (d["fraud_e"], stage["fraud_e"], why["fraud_e"]) == ("reject", "fraud", "fraud_grade_E")
    assert (d["fraud_d"], stage["fraud_d"]) == ("review", "fraud")
    assert (d["ring"], stage["ring"], why["ring"]) == ("reject", "hard_rules", "device_ring")
    assert (d["bad_neighbours"], why["bad_neighbours"]) == ("review", "known_bad_neighbour")
    assert (d["fraud_e_blacklisted"], why["fraud_e_blacklisted"]) == ("reject", "blacklist_hit")  # hard rules first
    assert (d["fraud_d_grade_e"], why["fraud_d_grade_e"]) == ("reject", "a_card_grade_E")  # a later reject beats a review
    assert out["recommended_limit"]["fraud_e"] == 0 and out["recommended_limit"]["good"] == 30000.0
    # adverse-action reasons: plain statements, deciding rule first, the deciding model's reasons after
    assert out["adverse_reason_1"]["fraud_e_blacklisted"] == (
        "Listed on the internal, industry or court-enforcement blacklist (Blacklist listings before the application: 1)")
    assert out["adverse_reason_1"]["fraud_e"] == "Fraud risk score in grade E, which the strategy does not approve outright"
    assert out["adverse_reason_2"]["fraud_e"] == "Many devices used in the last 7 days"
    assert out["adverse_reason_1"]["no_hit"].startswith("Could not be checked: Name or national id")
    assert pd.isna(out["adverse_reason_1"]["good"])
    reasons = out[[f"adverse_reason_{i}" for i in range(1, 5)]]
    assert (reasons.notna().sum(axis=1) <= 4).all()
    assert reasons.loc[out["decision"] != "approve"].notna().any(axis=1).all()  # every decline / review explained


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
        ("no_history",   "A", 5000.0, 10000.0, 0, np.nan, 0, 12),  # nothing due in 6 months: unknown, no raise
        ("inq_unknown",  "C", 5000.0, 10000.0, 0, 0, np.nan, 12),  # cut rule unknown: declared skip
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
    assert d["no_history"] == "keep" and out["rules_unknown"]["no_history"] == "raise_good_repayer"
    assert d["inq_unknown"] == "keep" and out["rules_unknown"]["inq_unknown"] == "cut_deteriorating;raise_good_repayer"


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
    assert list(load_strategy().assign_grade("a_card", [630, 540], cut)) == ["A", "E"]
    with pytest.raises(RuleError, match="grades are targets"):     # shipped grades are targets: no guessed cut-offs
        load_strategy().assign_grade("a_card", [630])


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
    bad["grades"]["a_card"] = {"target": "population_share", "A": 0.5, "B": 0.5, "C": 0.1, "D": 0.1, "E": 0.1}
    f.write_text(yaml.safe_dump(bad))
    with pytest.raises(RuleError, match=r"bad_rules\.yaml: grades\.a_card: grade shares must add up to 1"):
        load_strategy(f)
    f.write_text("grades: [1, 2\n")
    with pytest.raises(RuleError, match="not valid YAML"):
        load_strategy(f)
    # a rule over a column the frame lacks
    st = load_strategy()
    with pytest.raises(RuleError, match=r"decision_rules\.yaml: admission\.hard_rules: rule 'blacklist_hit'"):
        st.decide("a_card", applicants().drop(columns="blacklist_hit"))


def test_candidate_extends_the_champion_and_has_its_own_version(tmp_path):
    champ = load_strategy()
    cand = load_strategy(DEFAULT_STRATEGY_FILE.parent / "candidates" / "stricter_multi_lending.yaml")
    assert cand.params["max_inquiries_30d"] == 4 and cand.params["min_age"] == champ.params["min_age"]
    assert cand.version != champ.version and len(champ.version) == 12
    assert load_strategy().version == champ.version                       # content hash: stable
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(RuleError, match="cycle"):
        load_strategy(tmp_path / "a.yaml")


def test_shipped_strategy_loads():
    st = load_strategy()
    assert Path(st.source) == DEFAULT_STRATEGY_FILE
    assert {"age", "blacklist_hit", "declared_income"} <= st.columns_needed("a_card")
    assert "current_limit" in st.columns_needed("b_card")
