"""Rendering records into submission files: CSV (UTF-8 with or without BOM, GBK, UTF-16; comma or tab) or
XLSX, Chinese or English headers, optional title line, totals row and footnote, areas in m² or 万m².

A `Style` says how one file looks; `render(kind, records, style)` returns its bytes. Headers and enum words
come from `foundation.template`. XLSX bytes are made reproducible: fixed document timestamps and fixed zip
entry times.
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.writer.excel import ExcelWriter

from foundation.template import ENUM_LABELS_ZH, ENUMS, fields

FIXED_TIME = datetime(2020, 1, 1, 8, 0, 0)
WAN = Decimal(10000)
SIX_DECIMALS = Decimal("0.000001")


@dataclass(frozen=True)
class Style:
    fmt: str = "csv"  # csv | xlsx
    encoding: str = "utf-8"  # utf-8 | utf-8-sig | gbk | utf-16 (CSV only)
    sep: str = ","
    lang: str = "zh"  # header language: zh | en
    enum_words: str = "zh"  # zh (first Chinese label) | alt (another Chinese spelling) | code (English code)
    bool_words: tuple[str, str] = ("是", "否")
    date_format: str = "iso"  # iso 2020-03-05 | slash 2020/3/5 | zh 2020年3月5日 | compact 20200305 | excel
    area_suffix: str = "(m²)"  # after m² area headers (zh only): "", "(m²)", "（m2）", "(平方米)"
    wan_fields: tuple[str, ...] = ()  # area fields headed (万m²) and written divided by 10,000
    wan_suffix: str = "(万m²)"
    percent_sign: bool = False  # 65.3% rather than 65.3
    thousands: bool = False  # 12,345.67
    title: str | None = None  # a line above the header
    pad_title: bool = True  # title line padded to the table width (as Excel exports it)
    totals: bool = False  # a 合计 row summing the area columns
    totals_error: Decimal = Decimal(0)  # added to the first area total (a wrong totals row, bad case)
    note: str | None = None  # a 注： line at the bottom
    omit: tuple[str, ...] = ()  # columns left out
    sheet: str = "装配式建筑"  # XLSX sheet name
    extra_sheet: bool = False  # XLSX: a second sheet 填表说明 after the data sheet

    @property
    def first_data_row(self) -> int:
        """Spreadsheet row number (1-based) of the first data row: title line and header counted."""
        return 3 if self.title else 2


def columns(kind: str, style: Style) -> list:
    return [f for f in fields(kind) if f.name not in style.omit]


def header(field, style: Style) -> str:
    if style.lang == "en":
        return field.name
    if field.type == "area":
        return field.zh + (style.wan_suffix if field.name in style.wan_fields else style.area_suffix)
    if field.type == "percent":
        return field.zh + ("(%)" if not style.percent_sign else "")
    return field.zh


def enum_word(enum: str, code: str, style: Style) -> str:
    if style.enum_words == "code":
        return code
    if style.enum_words == "alt":
        chinese = [w for w in ENUMS[enum][code] if not w.isascii()]
        return chinese[1] if len(chinese) > 1 else chinese[0]
    return ENUM_LABELS_ZH[enum][code]


def _number(value: float | int) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _date(value: date, style: Style):
    if style.date_format == "excel":
        return value if style.fmt == "xlsx" else value.isoformat()
    return {
        "iso": value.isoformat(),
        "slash": f"{value.year}/{value.month}/{value.day}",
        "zh": f"{value.year}年{value.month}月{value.day}日",
        "compact": f"{value:%Y%m%d}",
    }[style.date_format]


def area_value(field_name: str, value: Decimal, style: Style) -> Decimal:
    """The number as written: m², or 万m² with six decimals (exactly value / 10,000)."""
    return (value / WAN).quantize(SIX_DECIMALS) if field_name in style.wan_fields else value


def cell(field, value, style: Style):
    """One cell: a string for CSV; a number, date or string for XLSX."""
    xlsx = style.fmt == "xlsx"
    if value is None:
        return None if xlsx else ""
    if field.type == "area":
        number = area_value(field.name, value, style)
        if xlsx:
            return float(number)
        if field.name in style.wan_fields:
            return f"{number.normalize():f}"  # 1.2345 rather than 1.234500
        return f"{number:,}" if style.thousands else str(number)
    if field.type in ("number", "percent"):
        if xlsx:
            return value
        return _number(value) + ("%" if field.type == "percent" and style.percent_sign else "")
    if field.type == "date":
        return _date(value, style)
    if field.type == "bool":
        return style.bool_words[0] if value else style.bool_words[1]
    if field.type == "enum":
        return enum_word(field.enum, value, style)
    if field.type == "year":
        return value if xlsx else str(value)
    return str(value)


def grid(kind: str, records: list, style: Style) -> list[list]:
    """Every row of the file, title line to footnote, as lists of cells."""
    cols = columns(kind, style)
    width = len(cols)
    rows: list[list] = []
    if style.title:
        rows.append([style.title] + [None if style.fmt == "xlsx" else ""] * (width - 1 if style.pad_title else 0))
    rows.append([header(f, style) for f in cols])
    for rec in records:
        rows.append([rec.raw[f.name] if f.name in rec.raw else cell(f, getattr(rec, f.name), style) for f in cols])
    if style.totals:
        totals: list = ["合计" if style.lang == "zh" else "Total"] + [None] * (width - 1)
        area_cols = [i for i, f in enumerate(cols) if f.type == "area"]
        for i in area_cols:
            total = sum((getattr(r, cols[i].name) for r in records), Decimal(0))
            totals[i] = cell(cols[i], total + (style.totals_error if i == area_cols[0] else 0), style)
        rows.append([("" if c is None and style.fmt == "csv" else c) for c in totals])
    if style.note:
        rows.append([style.note] + [None if style.fmt == "xlsx" else ""] * (width - 1 if style.pad_title else 0))
    return rows


def to_csv(rows: list[list], style: Style) -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=style.sep, lineterminator="\r\n").writerows(rows)
    text = out.getvalue()
    if style.encoding == "gbk":
        try:
            return text.encode("gbk")
        except UnicodeEncodeError:
            return text.encode("gb18030")
    if style.encoding == "utf-16":
        return b"\xff\xfe" + text.encode("utf-16-le")
    return text.encode(style.encoding)


def to_xlsx(rows: list[list], style: Style) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = style.sheet
    for row in rows:
        ws.append(row)
    for column in ws.iter_cols():
        for c in column:
            if isinstance(c.value, date):
                c.number_format = "yyyy-mm-dd"
    if style.title and style.pad_title:
        ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(rows[1]))
    if style.extra_sheet:
        ws2 = wb.create_sheet("填表说明")
        ws2.append(["1. 每个单体建筑填一行；开工日期须在统计期内。"])
        ws2.append(["2. 装配率按GB/T 51129-2017计算。"])
    wb.properties.creator = "sample_data"
    wb.properties.lastModifiedBy = "sample_data"
    wb.properties.created = FIXED_TIME
    wb.properties.modified = FIXED_TIME
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(wb, archive).write_data()
    return _fixed_zip_times(raw.getvalue())


def _fixed_zip_times(data: bytes) -> bytes:
    """The same archive with every entry dated FIXED_TIME (zipfile stamps entries with the current time)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED_TIME.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = info.external_attr
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()


def render(kind: str, records: list, style: Style) -> bytes:
    rows = grid(kind, records, style)
    return to_xlsx(rows, style) if style.fmt == "xlsx" else to_csv(rows, style)


# ---------------------------------------------------------------- the variety of files, drawn from a seed


def _weighted(rng, weights: dict):
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def building_style(rng, place: str, period: str, records: list) -> Style:
    """How a county formats its monthly buildings file: mostly CSV with Chinese headers, 10% XLSX."""
    xlsx = rng.random() < 0.10
    encoding = _weighted(rng, {"utf-8": 45, "utf-8-sig": 25, "gbk": 27, "utf-16": 3})
    sep = "\t" if rng.random() < 0.15 else ","
    english = rng.random() < 0.12
    enum_words = "code" if english else _weighted(rng, {"zh": 80, "alt": 20})
    if english:
        bool_words = rng.choice((("Y", "N"), ("yes", "no")))
    else:
        bool_words = rng.choice((("是", "否"), ("是", "否"), ("是", "否"), ("Y", "N")))
    date_format = _weighted(rng, {"iso": 40, "slash": 25, "zh": 15, "compact": 10, "excel": 10})
    if xlsx and rng.random() < 0.5:
        date_format = "excel"
    gbk = encoding == "gbk" and not xlsx
    area_suffix = rng.choice(("", "", "(m²)", "(m²)", "（m2）", "(平方米)"))
    if gbk and "²" in area_suffix:
        area_suffix = "(m2)"
    wan_fields: tuple[str, ...] = ()
    if not english and rng.random() < 0.15:
        wan_fields = (rng.choice(("total_floor_area_m2", "prefab_floor_area_m2")),)
    year, month = int(period[:4]), int(period[5:7])
    title = None
    if rng.random() < 0.35:
        title = f"{place}{year}年{month}月" + rng.choice(("装配式建筑统计表", "新开工装配式建筑单体明细表"))
    note = None
    if rng.random() < 0.2:
        note = ("Note: one row per building started in the month." if english
                else "注：本表统计当月新开工的单体建筑，装配率按GB/T 51129-2017计算。")
    omit = [name for name, p in (("evaluation_standard", 0.5), ("remarks", 0.3), ("developer", 0.05),
                                 ("permit_no", 0.05), ("green_star", 0.05), ("assembly_rate_pct", 0.05),
                                 ("score_q4", 0.1)) if rng.random() < p]
    return Style(
        fmt="xlsx" if xlsx else "csv", encoding=encoding, sep=sep, lang="en" if english else "zh",
        enum_words=enum_words, bool_words=bool_words, date_format=date_format,
        area_suffix="" if english else area_suffix, wan_fields=wan_fields,
        wan_suffix="(万平方米)" if gbk else "(万m²)", percent_sign=rng.random() < 0.25,
        thousands=not xlsx and rng.random() < 0.08, title=title, pad_title=rng.random() < 0.7,
        totals=rng.random() < 0.2 and bool(records), note=note, omit=tuple(omit),
        sheet=_weighted(rng, {"装配式建筑": 50, "buildings": 15, "Sheet1": 35}), extra_sheet=rng.random() < 0.3,
    )


def target_style(rng, place: str, year: int) -> Style:
    """The province's annual target table: CSV, Chinese headers, areas often in 万m²."""
    wan = rng.random() < 0.5
    return Style(
        encoding=_weighted(rng, {"utf-8": 50, "utf-8-sig": 30, "gbk": 20}),
        area_suffix=rng.choice(("", "(m²)", "(平方米)")),
        wan_fields=("target_prefab_floor_area_m2", "target_res_pub_floor_area_m2") if wan else (),
        percent_sign=rng.random() < 0.5, title=f"{place}{year}年装配式建筑年度目标任务分解表",
        sheet="年度目标任务",
    )


def base_style(rng, place: str, year: int) -> Style:
    """A county's production base registry: CSV or (25%) XLSX, Chinese headers."""
    xlsx = rng.random() < 0.25
    return Style(
        fmt="xlsx" if xlsx else "csv", encoding=_weighted(rng, {"utf-8": 50, "utf-8-sig": 25, "gbk": 25}),
        enum_words=_weighted(rng, {"zh": 85, "alt": 15}),
        date_format=_weighted(rng, {"iso": 50, "slash": 30, "zh": 20}) if not xlsx else "excel",
        title=f"{place}{year}年装配式建筑生产基地情况表" if rng.random() < 0.4 else None,
        sheet=rng.choice(("生产基地", "Sheet1")),
    )
