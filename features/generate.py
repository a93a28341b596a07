"""Generate the feature mart's dbt models and documentation from features/catalog.yaml.

    python -m features.generate          # write dbt_project/models/features/* and features/docs/*
    python -m features.generate --check  # exit 1 when the committed files differ from what the catalog gives
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from features.catalog import CATALOG_PATH, Catalog, load_catalog
from features.docs import dictionary_csv, overview_md
from features.sqlgen import HEADER, generated_files

REPO_ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = REPO_ROOT / "dbt_project" / "models" / "features"


def all_outputs(cat: Catalog) -> dict[str, str]:
    files = generated_files(cat)
    files["features/docs/feature_dictionary.csv"] = dictionary_csv(cat)
    files["features/docs/FEATURES.md"] = overview_md(cat)
    return files


def stale_generated(files: dict[str, str]) -> list[str]:
    """Generated files on disk that the catalog no longer produces (a family was removed)."""
    out = []
    for p in MODELS_DIR.glob("*"):
        rel = str(p.relative_to(REPO_ROOT))
        if rel in files or not p.is_file():
            continue
        head = p.read_text(encoding="utf-8", errors="replace")[:300]
        if HEADER in head:
            out.append(rel)
    return out


def diff(cat: Catalog) -> list[str]:
    files = all_outputs(cat)
    problems = [rel for rel, text in files.items()
                if not (REPO_ROOT / rel).exists() or (REPO_ROOT / rel).read_text(encoding="utf-8") != text]
    return problems + stale_generated(files)


def write(cat: Catalog) -> list[str]:
    files = all_outputs(cat)
    changed = []
    for rel, text in files.items():
        path = REPO_ROOT / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(rel)
    for rel in stale_generated(files):
        (REPO_ROOT / rel).unlink()
        changed.append(rel + " (removed)")
    return changed


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m features.generate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="only compare; exit 1 when anything is stale")
    ap.add_argument("--catalog", default=str(CATALOG_PATH))
    args = ap.parse_args(argv)
    cat = load_catalog(args.catalog)
    if args.check:
        problems = diff(cat)
        if problems:
            print("stale generated files (run `python -m features.generate`):\n  " + "\n  ".join(problems))
            return 1
        print(f"feature mart in sync with the catalog: {len(cat.features):,} features in {len(cat.tables)} tables")
        return 0
    changed = write(cat)
    print(f"{len(cat.features):,} features in {len(cat.tables)} tables; "
          f"{len(changed)} file(s) written" + (":\n  " + "\n  ".join(changed) if changed else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
