"""Errors the ingestion layer raises for a whole file."""

from __future__ import annotations


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
