"""The lake layer: every lake path is named in lake/layout.py only, and the packages import only downward.

* A grep of the code (every .py / .sql / .yml / .yaml outside lake/layout.py and tests/) for lake folder
  names joined onto a root by hand (`root / "marts"`, `f"{root}/bronze/..."`, `'../data'`, `business_date=`).
* The import graph, read from the source with `ast`: simulator / lake / models / features never import
  orchestration or exports; lake imports none of the project's other packages.
* The layout itself on a local folder and on s3://, and the dbt environment built from it.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from lake.layout import REPO_ROOT, LakeLayout
from lake.storage import LakeLocationError

PACKAGES = ["lake", "simulator", "orchestration", "models", "features", "exports", "dashboards"]
SCANNED = [p for pkg in [*PACKAGES, "dbt_project", "bench"] for ext in ("py", "sql", "yml", "yaml")
           for p in (REPO_ROOT / pkg).rglob(f"*.{ext}") if "target" not in p.parts and "logs" not in p.parts]
LAKE_FOLDERS = ("landing", "bronze", "quarantine", "_meta", "ingest_log", "ge_results", "marts", "features",
                "_stats", "registry", "scores", "strategy", "backtest", "exports", "truth", "_dbt",
                "lakehouse.duckdb", "labels.parquet", "feat_spine.parquet")
_NAMES = "|".join(re.escape(f) for f in LAKE_FOLDERS)
HAND_BUILT = [
    re.compile(rf"/\s*[\"']({_NAMES})[\"'/]"),                # root / "marts"   root / "models" / "registry"
    re.compile(rf"[\"']({_NAMES})[\"']\s*/"),                 # "marts" / name
    re.compile(rf"\}}/({_NAMES})\b"),                          # f"{root}/bronze/..."   '{{ lake }}/bronze/'
    re.compile(rf"os\.path\.join\([^)]*[\"']({_NAMES})[\"']"),  # os.path.join(root, "marts")
    re.compile(r"\.\./data\b"),                                # the old relative default of the dbt profile
    re.compile(r"[\"'/]business_date=(?!<)"),                  # the scores partition folder
]
# Not lake paths, with the reason: matches here are allowed.
ALLOWED = {
    "exports/exporter.py": "the partner's object keys (<bucket>/<prefix>/business_date=D/), set by the export spec",
    "exports/spec.py": "the partner's object keys, as above",
}


def _code_lines(path: Path):
    text = path.read_text(encoding="utf-8", errors="replace")
    in_doc = False
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if path.suffix == ".py":
            # docstrings and comments describe the layout; only code builds paths
            quotes = stripped.count('"""') + stripped.count("'''")
            if in_doc or (quotes and stripped.startswith(('"""', "'''", 'r"""'))):
                if quotes % 2 == 1:
                    in_doc = not in_doc
                continue
            if stripped.startswith("#"):
                continue
            line = line.split("  #")[0]
        elif stripped.startswith(("#", "{#", "--")):
            continue
        yield number, line


# a line about the repository's own folders (dbt_project/models/features, models/strategy), not the lake
REPO_PATH = re.compile(r"__file__|REPO_ROOT|catalog\.yaml|compiled")


def test_no_lake_path_is_built_by_hand_outside_the_layout():
    found = []
    for path in SCANNED:
        rel = path.relative_to(REPO_ROOT).as_posix()
        if rel == "lake/layout.py" or rel in ALLOWED:
            continue
        for number, line in _code_lines(path):
            if any(p.search(line) for p in HAND_BUILT) and not REPO_PATH.search(line):
                found.append(f"{rel}:{number}: {line.strip()}")
    assert not found, "lake paths joined by hand (use a LakeLayout property):\n" + "\n".join(found)


def test_the_grep_finds_a_hand_built_path(tmp_path):
    """The patterns above catch the usual ways of building a lake path (so the test above can fail)."""
    samples = ['p = root / "marts" / f"{name}.parquet"', "x = f\"{lake}/bronze/{t}/*.parquet\"",
               "read_parquet('{{ lake }}/features/x.parquet')", 'os.path.join(root, "registry")',
               "path: \"{{ env_var('LAKE_ROOT', '../data') }}/lakehouse.duckdb\"",
               'p = base / f"business_date={d}"', 'cfg.root / "models" / "registry"']
    for sample in samples:
        assert any(p.search(sample) for p in HAND_BUILT), sample
    assert not any(p.search('layout.mart("labels")') for p in HAND_BUILT)


def _imports(package: str) -> dict[str, set[str]]:
    """{module file: project packages it imports} for every module of `package`."""
    out = {}
    for path in (REPO_ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        out[path.relative_to(REPO_ROOT).as_posix()] = names & set(PACKAGES)
    return out


@pytest.mark.parametrize("package, forbidden", [
    ("lake", set(PACKAGES) - {"lake"}),
    ("simulator", {"orchestration", "exports", "models", "features", "dashboards"}),
    ("models", {"orchestration", "exports", "dashboards"}),
    ("features", {"orchestration", "exports", "dashboards"}),
    ("exports", {"orchestration", "dashboards"}),
])
def test_layers_import_only_downward(package, forbidden):
    wrong = {module: sorted(names & forbidden) for module, names in _imports(package).items() if names & forbidden}
    assert not wrong, f"{package} imports upward: {wrong}"


def test_layout_on_a_local_folder(tmp_path):
    lake = LakeLayout(root=tmp_path)
    assert lake.mart("labels") == lake.labels == tmp_path / "marts" / "labels.parquet"
    assert lake.scores_file("2026-09-30") == tmp_path / "scores" / "business_date=2026-09-30" / "scores.parquet"
    assert lake.local == tmp_path and lake.database == tmp_path / "lakehouse.duckdb"
    assert lake.dataset({"feature_table": "feat_spine"}) == lake.feature_spine
    with pytest.raises(ValueError, match="mart: <name>"):
        lake.dataset({"path": "marts/labels.parquet"})
    with pytest.raises(ValueError):
        lake.scores_dir("30/09/2026")
    env = lake.dbt_env()
    assert env["LAKE_DBT_TARGET"] == "local" and env["LAKE_MARTS_DIR"] == str(tmp_path / "marts")


def test_layout_on_s3(monkeypatch, tmp_path):
    monkeypatch.setenv("LAKE_ROOT", "s3://risk-lake/dev/")
    monkeypatch.setenv("LAKE_LOCAL_DIR", str(tmp_path))
    lake = LakeLayout.from_env()
    assert lake.is_remote
    assert str(lake.labels) == "s3://risk-lake/dev/marts/labels.parquet"
    assert str(lake.scores_dir("2026-09-30")) == "s3://risk-lake/dev/scores/business_date=2026-09-30"
    # the DuckDB catalog and dbt's target files are local, rebuildable artefacts
    assert lake.database == tmp_path / "risk-lake" / "dev" / "lakehouse.duckdb"
    assert lake.dbt_env()["LAKE_DBT_TARGET"] == "s3"
    for bad in ("s3:///nobucket", "gs://bucket/x"):
        monkeypatch.setenv("LAKE_ROOT", bad)
        with pytest.raises(LakeLocationError, match="LAKE_ROOT"):
            LakeLayout.from_env()


def test_default_root_is_one_place(monkeypatch):
    monkeypatch.delenv("LAKE_ROOT", raising=False)
    assert LakeLayout.from_env().root == REPO_ROOT / "data"
    from models.registry import ModelRegistry

    assert ModelRegistry().root == LakeLayout.from_env().registry


@pytest.mark.parametrize("key", ["k", "x" * 64, "a much longer key than the sixty-four bytes of a SHA-256 block " * 2])
def test_one_hmac_in_duckdb_matches_python(key):
    import hashlib
    import hmac

    import duckdb

    from exports.tokens import partner_key, partner_token, token_sql
    from lake.tokens import bronze_token_sql, hmac_sql

    values = ["c_000001", " 张三 ", "ab'c", ""]
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT unnest($v) AS v", {"v": values})
    got = [r[0] for r in con.execute(f"SELECT {hmac_sql('v', key)} FROM t").fetchall()]
    assert got == [hmac.new(key.encode(), v.encode(), hashlib.sha256).hexdigest() for v in values]
    bronze = [r[0] for r in con.execute(f"SELECT {bronze_token_sql('v', key)} FROM t").fetchall()]
    assert bronze == ["tk_" + hmac.new(key.encode(), v.strip().upper().encode(), hashlib.sha256).hexdigest()[:32]
                      for v in values]
    partner = [r[0] for r in con.execute(f"SELECT {token_sql('v', partner_key('PB01', key))} FROM t").fetchall()]
    assert partner == [partner_token(v, "PB01", key) for v in values]


def test_hmac_helper_is_defined_once():
    """Only lake/tokens.py expands HMAC pads (0x36 / 0x5C) into SQL."""
    holders = [p.relative_to(REPO_ROOT).as_posix() for p in SCANNED if p.suffix == ".py"
               and "0x36" in p.read_text(encoding="utf-8")]
    assert holders == ["lake/tokens.py"]


# Local-only file calls (os / shutil): on an S3 lake they fail or, worse, write a local "s3:" folder. Lake files
# are written through lake/storage.py; these modules use them on local folders only, for the reason given.
LOCAL_FS_CALL = re.compile(r"\b(os\.(replace|rename|remove|unlink|makedirs|rmdir)|shutil\.(rmtree|copy\w*|move))\(")
LOCAL_FS_ALLOWED = {
    "lake/storage.py": "the one module that knows a local folder from S3",
    "simulator/world.py": "the simulator writes its world on the local disk; `make world` uploads it",
    "features/materialize.py": "the local branch of the dbt feature writer (its S3 branch is one PUT)",
    "exports/storage.py": "LocalFolderStore, the local-folder object store (an S3 lake gets LakeFolderStore)",
    "dbt_project/models/marts/marts_lake_dir.py": "creates the local marts folder (nothing to create on S3)",
    "bench/bench_lake_s3.py": "benchmark scratch folders", "bench/bench_exports.py": "benchmark scratch folders",
}


def test_lake_files_are_written_through_lake_storage():
    found = [f"{rel}:{number}: {line.strip()}" for path in SCANNED if path.suffix == ".py"
             for rel in [path.relative_to(REPO_ROOT).as_posix()] if rel not in LOCAL_FS_ALLOWED
             for number, line in _code_lines(path) if LOCAL_FS_CALL.search(line)]
    assert not found, "local-only file calls (use lake.storage: write_parquet, publish_folder, ...):\n" + "\n".join(found)
    assert LOCAL_FS_CALL.search("    os.replace(tmp, target)") and LOCAL_FS_CALL.search("shutil.rmtree(old)")
