"""Finding the header row: the first of a file's first lines that has a column for every required field."""

from __future__ import annotations

from foundation import template
from foundation.bilingual import join
from ingestion.errors import RejectedFile
from ingestion.headers import match_headers

HEADER_SEARCH_ROWS = 11  # the header may be preceded by up to 10 title or note lines


def _examples(kind: str) -> str:
    req = [f for f in template.fields(kind) if f.required]
    return ", ".join(f"{f.zh}/{f.name}" for f in req[:4]) + ", ..."


def field_label(f: template.Field) -> str:
    """A field as reasons name it: its Chinese header and its English name."""
    return f"{f.zh}/{f.name}"


class HeaderSearch:
    """The outcome of looking for the header row in the first lines of one reading."""

    def __init__(self, kind: str, records: list[list[str]]) -> None:
        self.index: int | None = None
        self.best: tuple[int, set[str]] | None = None
        required = {f.name for f in template.fields(kind) if f.required}
        for i, rec in enumerate(records[:HEADER_SEARCH_ROWS]):
            names = set(match_headers(kind, rec).values())
            if required <= names:
                self.index = i
                return
            if len(names) >= 3 and (self.best is None or len(names) > len(self.best[1])):
                self.best = (i, names)

    @property
    def score(self) -> int:
        if self.index is not None:
            return 1_000_000
        return len(self.best[1]) if self.best else 0

    def reject(self, kind: str, sheet: str | None = None) -> RejectedFile:
        where, where_zh = (f" of sheet '{sheet}'", f"（工作表“{sheet}”）") if sheet is not None else ("", "")
        form = template.SHEET_NAMES[kind][-1]
        if self.best is not None:
            row, names = self.best
            missing = [field_label(f) for f in template.fields(kind) if f.required and f.name not in names]
            return RejectedFile(join(
                f"第 {row + 1} 行表头{where_zh}缺少{form}模板的必填列：{'、'.join(missing)}",
                f"header row {row + 1}{where} has no column for {', '.join(missing)} "
                f"(required by the {kind} template)"))
        return RejectedFile(join(
            f"前 {HEADER_SEARCH_ROWS} 行{where_zh}中找不到表头行：应有 {_examples(kind)} 这样的列名",
            f"no header row found in the first {HEADER_SEARCH_ROWS} lines{where}: "
            f"expected headers like {_examples(kind)}"))
