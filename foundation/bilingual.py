"""A text stored in both languages: the Chinese first (what a steward reading the `dq` tables in SQL sees
first), then the English, joined by `SEPARATOR`.

Why in one string and not in a second column: the reasons and details live in columns the quality contract
fixes (`dq.quarantined_rows.reasons`, `dq.submission_ledger.reason`, `dq.check_results.detail`), every
client already reads them, and the journal and the rebuild carry them unchanged. The steward app shows the part
of the page's language (`part`); a text written before this (English only) has no separator and is shown as
it is, in both languages.
"""

from __future__ import annotations

SEPARATOR = " ‖ "  # U+2016: no template text uses it, and `join` keeps it out of the values a text quotes
_MARK = SEPARATOR.strip()


def join(zh: str, en: str) -> str:
    """The two texts as one stored text (a `‖` inside either, quoted from a file, becomes `|`)."""
    return f"{zh.replace(_MARK, '|')}{SEPARATOR}{en.replace(_MARK, '|')}"


def part(text: str, lang: str) -> str:
    """The `lang` part ("zh" or "en") of a joined text; a text that is not joined, whole."""
    zh, found, en = text.partition(SEPARATOR)
    if not found:
        return text
    return en if lang == "en" else zh
