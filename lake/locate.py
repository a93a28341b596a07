"""`python -m lake.locate landing truth` prints lake locations of $LAKE_ROOT, one a line (for the Makefile)."""
import sys

from lake.layout import LakeLayout


def main(names: list[str]) -> None:
    layout = LakeLayout.from_env()
    for name in names:
        if name.startswith("_") or not hasattr(LakeLayout, name) or callable(getattr(LakeLayout, name)):
            raise SystemExit(f"unknown lake location {name!r} (a LakeLayout property)")
        print(getattr(layout, name))


if __name__ == "__main__":
    main(sys.argv[1:])
