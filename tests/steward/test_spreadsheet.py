"""Formula-looking text is made inert for spreadsheets; everything else is written unchanged."""

from __future__ import annotations

import csv
from datetime import date

import pytest

from steward.export import neutralise, write_csv


@pytest.mark.parametrize(("value", "expected"), [
    ('=HYPERLINK("http://x.example/","点我")', '\'=HYPERLINK("http://x.example/","点我")'),
    ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
    ("\t=1", "'\t=1"),
    ("＝1+1", "'＝1+1"),
    ("南湖花园 =1", "南湖花园 =1"),
    ("1#", "1#"),
    ("", ""),
    (-100.5, -100.5),
    (None, None),
    (date(2020, 3, 5), date(2020, 3, 5)),
])
def test_neutralise(value, expected):
    assert neutralise(value) == expected


def test_write_csv_round_trip(tmp_path):
    path = tmp_path / "out.csv"
    assert write_csv(path, ["项目名称", "=x"], [["=1+1", -5], [None, "ok"]]) == 2
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    with path.open(encoding="utf-8-sig", newline="") as fh:
        assert list(csv.reader(fh)) == [["项目名称", "'=x"], ["'=1+1", "-5"], ["", "ok"]]


def test_neutralise_shows_what_an_xlsx_cell_cannot_hold():
    # NUL no longer reaches the warehouse (a file with one is rejected), but rows stored before that still can
    assert neutralise("a\x00b\x07c\x1bd") == "a<NUL>b<BEL>c<ESC>d"
    assert neutralise("x\ufffey\uffff") == "x<U+FFFE>y<U+FFFF>"
    assert neutralise("tab\tand\nline\r") == "tab\tand\nline\r"  # legal in a cell: kept
    assert neutralise("=\x00") == "'=<NUL>"
