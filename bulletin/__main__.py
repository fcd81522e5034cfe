"""`python -m bulletin --unit 140000 [--date 2021-12-31]` (`make bulletin UNIT=... DATE=...`): one unit's
bulletin; `python -m bulletin --publication`: the province's and every city's for the newest publication."""

from __future__ import annotations

import argparse
import sys
from datetime import date

from bulletin.data import BulletinError
from bulletin.render import write, write_publication
from foundation.config import settings


def _describe(w) -> str:
    what = "写入 written" if w.written else "已是最新 up to date"
    return f"{w.unit_code} {w.as_of}: {what}, 第{w.publication_id}次发布 (publication {w.publication_id}): {w.folder}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bulletin", description=__doc__)
    p.add_argument("--unit", help="unit_code (a province, city or county)")
    p.add_argument("--date", type=date.fromisoformat, help="YYYY-MM-DD; default: the newest publication's data_as_of")
    p.add_argument("--publication", action="store_true", help="every province and city of the newest publication")
    p.add_argument("--force", action="store_true", help="write again even if made from the newest publication")
    args = p.parse_args(argv)
    if not args.unit and not args.publication:
        p.error("give --unit UNIT_CODE or --publication")
    s = settings()
    try:
        if args.publication:
            for w in write_publication(s):
                print(_describe(w))
        else:
            w = write(s, args.unit, args.date, force=args.force)
            print(_describe(w))
            print(f"  {w.folder / 'bulletin.html'}\n  {w.folder / 'bulletin.pdf'}")
    except BulletinError as exc:
        print(f"无法生成通报 (no bulletin): {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
