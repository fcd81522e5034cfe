"""python -m sample_data --landing DIR [--seed 42] [--years 2020 2021] [--units jiaxing|shanxi|all|<codes>]
[--buildings-per-month N] [--no-bad] [--clean]"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from .landing import generate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sample_data", description=__doc__.split("\n")[0])
    parser.add_argument("--landing", type=Path, required=True, help="landing folder to write into")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--years", type=int, nargs="+", default=[2020, 2021])
    parser.add_argument("--units", default="all", help="jiaxing, shanxi, all or comma-separated unit codes")
    parser.add_argument("--buildings-per-month", type=int, default=None,
                        help="buildings in every non-zero monthly report (default: drawn per unit and month)")
    parser.add_argument("--no-bad", action="store_true", help="leave out the deliberately bad inputs")
    parser.add_argument("--clean", action="store_true", help="first delete the files of the kind folders")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        zone = generate(args.landing, seed=args.seed, years=tuple(args.years), units=args.units,
                        buildings_per_month=args.buildings_per_month, bad=not args.no_bad, clean=args.clean)
    except ValueError as exc:
        parser.error(str(exc))
    summary = {"landing": str(args.landing), "seconds": round(time.perf_counter() - started, 2), **zone.summary()}
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
