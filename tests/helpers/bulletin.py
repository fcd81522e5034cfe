"""Reading a bulletin as its reader does: the text of `bulletin.html` (scripts, styles and charts left out) and
of `bulletin.pdf` (pypdf's extraction), with the figures parsed out of the sentences by regular expressions
written here, independently of `bulletin.text`; and expected figures from a generated landing zone's truth
frames (Decimal arithmetic over the generator's own records)."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd

from foundation.config import DBT_PROJECT_DIR

CENTS = Decimal("0.01")


class _Text(HTMLParser):
    SKIP = {"style", "script", "svg", "title"}

    def __init__(self):
        super().__init__()
        self.parts, self.depth = [], 0
        self.references: list[tuple[str, str, str]] = []  # (tag, attribute, value) of every src/href/url

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.depth += 1
        for name, value in attrs:
            if name in ("src", "href", "xlink:href", "srcset", "action", "data", "poster") and value is not None:
                self.references.append((tag, name, value))
            if name == "style" and value and "url(" in value:
                self.references.append((tag, name, value))

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            self.depth -= 1

    def handle_data(self, data):
        if not self.depth:
            self.parts.append(data)


def html_text(path: Path) -> str:
    """The HTML's visible text with every whitespace removed."""
    p = _Text()
    p.feed(path.read_text(encoding="utf-8"))
    return re.sub(r"\s+", "", "".join(p.parts))


def html_references(path: Path) -> list[tuple[str, str, str]]:
    p = _Text()
    p.feed(path.read_text(encoding="utf-8"))
    return p.references


def pdf_text(path: Path) -> str:
    from pypdf import PdfReader

    return re.sub(r"\s+", "", "".join(page.extract_text() for page in PdfReader(str(path)).pages))


def _yoy(phrase: str) -> Decimal | None | str:
    if m := re.fullmatch(r"同比增长(\d+\.\d{2})%", phrase):
        return Decimal(m[1])
    if m := re.fullmatch(r"同比下降(\d+\.\d{2})%", phrase):
        return -Decimal(m[1])
    if phrase == "与上年同期持平":
        return Decimal("0.00")
    if "无法计算同比" in phrase:
        return None
    return f"unparsed: {phrase}"


def figures(text: str) -> dict:
    """The bulletin's figures parsed from its text (whitespace removed): areas in 万平方米, percentages,
    counts, as printed (Decimal; None where the text says there is no base)."""
    out: dict = {}
    m = re.search(r"累计完成新开工装配式建筑(\d+\.\d{2})万平方米，([^；]*)；"
                  r"其中新开工装配式住宅和公共建筑（不含场馆建筑）(\d+\.\d{2})万平方米，([^。]*)。", text)
    if m:
        out.update(prefab=Decimal(m[1]), yoy=_yoy(m[2]), res_pub=Decimal(m[3]), res_pub_yoy=_yoy(m[4]))
    if m := re.search(r"占新开工建筑面积（(\d+\.\d{2})万平方米）的比例为(\d+\.\d{2})%", text):
        out.update(new=Decimal(m[1]), share=Decimal(m[2]))
    if m := re.search(r"年新开工装配式建筑年度任务(\d+\.\d{2})万平方米，完成率(\d+\.\d{2})%", text):
        out.update(target=Decimal(m[1]), completion=Decimal(m[2]))
    elif "未下达新开工装配式建筑年度任务" in text:
        out.update(target=None, completion=None)
    if m := re.search(r"年新开工装配式住宅和公共建筑年度任务(\d+\.\d{2})万平方米，完成率(\d+\.\d{2})%", text):
        out.update(res_pub_target=Decimal(m[1]), res_pub_completion=Decimal(m[2]))
    if m := re.search(r"按任务完成率排序：(.*?)。", text):
        out["ranking"] = [(n, Decimal(p)) for n, p in re.findall(r"([^，\d]+?)(\d+\.\d{2})%", m[1])]
    if m := re.search(r"已完成年度任务的有(.*?)。", text):
        out["met"] = m[1].split("、")
    if m := re.search(r"认定为装配式建筑的单体(\d+)栋，其中A级(\d+)栋、AA级(\d+)栋、AAA级(\d+)栋", text):
        out.update(recognised=int(m[1]), grades=(int(m[2]), int(m[3]), int(m[4])))
    if m := re.search(r"加权平均装配率(\d+\.\d{2})%", text):
        out["avg_rate"] = Decimal(m[1])
    elif "不计算平均装配率" in text:
        out["avg_rate"] = None
    if m := re.search(r"全装修面积占比(\d+\.\d{2})%", text):
        out["full_decoration"] = Decimal(m[1])
    if m := re.search(r"绿色建筑（基本级及以上）面积占比(\d+\.\d{2})%", text):
        out["green"] = Decimal(m[1])
    if m := re.search(r"共有装配式建筑生产基地(\d+)个", text):
        out["bases"] = int(m[1])
    elif "未报送装配式建筑生产基地" in text:
        out["bases"] = 0
    if m := re.search(r"共有填报单位(\d+)个，本年已有新开工项目数据的(\d+)个", text):
        out.update(units_expected=int(m[1]), units_reported=int(m[2]))
    if m := re.search(r"数据来源：第(\d+)次发布", text):
        out["publication_id"] = int(m[1])
    return out


def chart_rows(folder: Path, name: str) -> list[dict]:
    with (folder / f"{name}.csv").open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


# ---------------------------------------------------------------- expected, from the generator's records


def r2(value: Decimal) -> Decimal:
    return value.quantize(CENTS, rounding=ROUND_HALF_UP)


def wan(m2: Decimal) -> Decimal:
    return r2(m2 / 10000)


def pct(num: Decimal, den: Decimal) -> Decimal | None:
    return None if den == 0 else r2(num * 100 / den)


def dec(values) -> Decimal:
    return sum((Decimal(str(round(float(v), 2))) for v in values), Decimal("0"))


@dataclass
class Units:
    """The reporting units seed, read here with csv: parent links, names, levels."""
    rows: dict[str, dict]

    @classmethod
    def load(cls) -> Units:
        with (DBT_PROJECT_DIR / "seeds" / "reporting_units.csv").open(encoding="utf-8", newline="") as f:
            return cls({r["unit_code"]: r for r in csv.DictReader(f)})

    def ancestors(self, code: str) -> list[str]:
        out = [code]
        while self.rows[out[-1]]["parent_code"]:
            out.append(self.rows[out[-1]]["parent_code"])
        return out

    def current(self, code: str) -> bool:
        return not self.rows[code]["valid_to"]

    def below(self, code: str, levels: tuple[str, ...]) -> list[str]:
        return sorted(c for c, r in self.rows.items() if r["unit_level"] in levels and self.current(c)
                      and code in self.ancestors(c))

    def name(self, code: str) -> str:
        return self.rows[code]["unit_name_zh"]


def in_scope(buildings: pd.DataFrame, units: Units, code: str, first: date, last: date) -> pd.DataFrame:
    mask = [(first <= d <= last) and code in units.ancestors(u)
            for d, u in zip(buildings["start_date"], buildings["unit_code"], strict=True)]
    return buildings[mask]


def prev_day(d: date) -> date:
    return date(d.year - 1, d.month, 28 if (d.month, d.day) == (2, 29) else d.day)
