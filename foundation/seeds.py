"""The dbt seeds of the template's enumerations, generated from `foundation.template.ENUMERATIONS`.

Each enumeration's seed lists its codes in order: `code, name_zh, name_en`, the code's further attributes,
and `sort_order` where the enumeration numbers its codes. The committed CSVs are these (a test holds them
equal); after changing an enumeration, rewrite them with `python -m foundation.seeds`.
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

from foundation.config import DBT_PROJECT_DIR
from foundation.template import ENUMERATIONS, Enumeration


def _cell(value: bool | str | int) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def seed_csv(enum: Enumeration) -> str:
    """The seed file's text."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    sort = enum.first_sort_order
    writer.writerow(["code", "name_zh", "name_en", *(k for k, _ in enum.codes[0].attrs),
                     *(["sort_order"] if sort is not None else [])])
    for i, c in enumerate(enum.codes):
        writer.writerow([c.code, c.label_zh, c.en, *(_cell(v) for _, v in c.attrs),
                         *([_cell(sort + i)] if sort is not None else [])])
    return out.getvalue()


def seed_files(seeds_dir: Path = DBT_PROJECT_DIR / "seeds") -> dict[Path, str]:
    """Each enumeration's seed path and text."""
    return {seeds_dir / f"{e.seed}.csv": seed_csv(e) for e in ENUMERATIONS.values()}


def main() -> int:
    for path, text in seed_files().items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
