"""python -m benchmarks --scale quick|bigfile|province|national [--repeat N] [--units N] [--out-dir DIR]
[--work-dir DIR]"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from benchmarks import runner, workload

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--scale", choices=sorted(workload.SCALES), default="quick")
    parser.add_argument("--repeat", type=int, default=None,
                        help="runs to take medians over (default 3, quick and national 1)")
    parser.add_argument("--out-dir", type=Path, default=HERE / "results", help="where <scale>.json is written")
    parser.add_argument("--work-dir", type=Path, default=HERE / "work", help="generated inputs and scratch data")
    parser.add_argument("--units", type=int, default=None,
                        help="smoke: only the first N reporting units of the scale (written to <scale>_<N>_units.json)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("great_expectations", "ingestion", "warehouse", "expectations"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    repeat = args.repeat or (1 if args.scale in ("quick", "national") else 3)  # national: ~3 h per repeat today
    doc = runner.run_scale(args.scale, repeat, args.work_dir, args.units)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    out = args.out_dir / (f"{args.scale}.json" if args.units is None else f"{args.scale}_{args.units}_units.json")
    out.write_text(json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    print(runner.table(doc))
    print(f"\nwritten: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
