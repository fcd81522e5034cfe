"""Errors the ingestion layer raises for a whole file."""

from __future__ import annotations

from foundation.bilingual import join


class RejectedFile(Exception):
    """The file cannot be read as a whole and none of its rows may be loaded.

    `reason` is written for a data steward: what was found and what was expected, in terms of the
    county submission template (for example the file name, the encoding, a missing column).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


def unreadable_xlsx(detail_zh: str, detail_en: str) -> RejectedFile:
    """A file named .xlsx that no reader can open as a workbook, `detail_*` saying what was found
    ('BadZipFile: File is not a zip file', a part that is corrupt); stored Chinese first (foundation.bilingual)."""
    return RejectedFile(join(f"不是可读取的 XLSX 工作簿（{detail_zh}）：应为 Excel .xlsx 文件，请在 Excel 或 WPS 中"
                             "另存为 Excel 工作簿（.xlsx）后重新报送",
                             f"not a readable XLSX workbook ({detail_en}): expected an Excel .xlsx file"))
