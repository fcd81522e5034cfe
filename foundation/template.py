"""The county submission template (../shared/specs/submission-template.md) as data.

One place that says, for each kind of submission, which fields exist, how they are headed in Chinese
and English, what type they are and whether they are required, and, for each enumeration, its codes, the
words each accepts and their reference data (labels, attributes). Readers, submission checks, the sample-data
generator and the docs all read this module; the dbt seeds of the enumerations are generated from it
(`foundation.seeds`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

TEMPLATE_VERSION = 1
DEFAULT_EVALUATION_STANDARD = "GB/T 51129-2017"


@dataclass(frozen=True)
class Field:
    name: str  # canonical English name, also the raw table column
    zh: str  # Chinese header
    type: str  # code | period | year | text | date | area | number | percent | bool | enum
    required: bool = False
    enum: str | None = None  # key into ENUMS when type == "enum"
    minimum: float | None = None
    maximum: float | None = None
    aliases: tuple[str, ...] = field(default_factory=tuple)  # further accepted header spellings


@dataclass(frozen=True)
class Code:
    """One code of an enumeration: its English label, every accepted spelling, and what the warehouse's
    reference table (the enumeration's dbt seed) says of it beyond its labels."""
    code: str
    en: str  # English label
    words: tuple[str, ...]  # every accepted spelling (folded like headers to compare); the first is what files write
    zh: str | None = None  # Chinese label, where it is not the first word (units of measure are written as symbols)
    attrs: tuple[tuple[str, bool | str], ...] = ()  # further columns of the seed, in order

    @property
    def label_zh(self) -> str:
        return self.zh or self.words[0]


def _code(code: str, en: str, *words: str, zh: str | None = None, **attrs: bool | str) -> Code:
    return Code(code, en, words, zh, tuple(attrs.items()))


@dataclass(frozen=True)
class Enumeration:
    seed: str  # the dbt seed (dbt_project/seeds/<seed>.csv) generated from it by `python -m foundation.seeds`
    codes: tuple[Code, ...]
    first_sort_order: int | None = 1  # the seed's sort_order of the first code; None: the seed has no sort_order


# Enumerations: each code once, with its spellings and its reference data.
ENUMERATIONS: dict[str, Enumeration] = {
    "building_use": Enumeration("building_uses", (
        _code("residential", "Residential", "居住建筑", "居住", "住宅", "住宅建筑", "residential",
              is_residential=True, is_public=False, is_residential_or_public=True),
        _code("public", "Public", "公共建筑", "公建", "public",
              is_residential=False, is_public=True, is_residential_or_public=True),
        _code("venue", "Venue", "场馆建筑", "场馆", "venue",  # public, but not in the "residential and public" subtotal
              is_residential=False, is_public=True, is_residential_or_public=False),
        _code("industrial", "Industrial", "工业建筑", "工业", "industrial",
              is_residential=False, is_public=False, is_residential_or_public=False),
        _code("other", "Other", "其他", "其它", "other",
              is_residential=False, is_public=False, is_residential_or_public=False),
    )),
    "structure_system": Enumeration("structure_systems", (
        _code("pc_concrete", "Precast concrete", "装配式混凝土", "装配式混凝土结构", "混凝土", "pc", "pc_concrete",
              is_prefabricated=True),
        _code("steel", "Steel structure", "钢结构", "steel", is_prefabricated=True),
        _code("timber", "Timber structure", "木结构", "timber", is_prefabricated=True),
        _code("hybrid", "Hybrid structure", "混合结构", "hybrid", is_prefabricated=True),
        _code("cast_in_place", "Cast in place", "现浇", "现浇结构", "cast_in_place", "cast-in-place",
              is_prefabricated=False),
    )),
    "green_star": Enumeration("green_stars", (
        _code("none", "None", "无", "none", "未评级", is_rated=False),
        _code("basic", "Basic", "基本级", "basic", is_rated=True),
        _code("1", "One star", "一星", "一星级", "1", "1星", "one", is_rated=True),
        _code("2", "Two stars", "二星", "二星级", "2", "2星", "two", is_rated=True),
        _code("3", "Three stars", "三星", "三星级", "3", "3星", "three", is_rated=True),
    ), first_sort_order=0),
    "base_type": Enumeration("base_types", (
        _code("pc_concrete", "Precast concrete components", "混凝土预制构件", "pc_concrete"),
        _code("steel_structure", "Steel structure components", "钢结构构件", "steel_structure"),
        _code("double_t_slab", "Double-T slabs", "双T板", "double_t_slab"),
        _code("timber", "Timber components", "木结构构件", "timber"),
        _code("other", "Other", "其他", "其它", "other"),
    )),
    "capacity_unit": Enumeration("capacity_units", (
        _code("m3/yr", "Cubic metres per year", "m3/yr", "m³/yr", "m3/年", "m³/年", "立方米/年",
              zh="立方米/年", measure="volume"),
        _code("t/yr", "Tonnes per year", "t/yr", "吨/年", "t/年", zh="吨/年", measure="mass"),
        _code("m2/yr", "Square metres per year", "m2/yr", "m²/yr", "m2/年", "m²/年", "平方米/年",
              zh="平方米/年", measure="area"),
    ), first_sort_order=None),
    "status": Enumeration("base_statuses", (
        _code("operating", "Operating", "在产", "operating"),
        _code("under_construction", "Under construction", "在建", "under_construction"),
        _code("closed", "Closed", "停产", "closed"),
    )),
    # Codes the warehouse assigns, not submitters (no template field reads them): here so that their labels, too,
    # have one source, and reach analysts as the published dimensions dim_grade and dim_submission_status.
    "grade": Enumeration("grades", (  # GB/T 51129-2017 evaluation grades of recognised buildings
        _code("A", "Grade A", "A级", "A"),
        _code("AA", "Grade AA", "AA级", "AA"),
        _code("AAA", "Grade AAA", "AAA级", "AAA"),
    )),
    "submission_status": Enumeration("submission_statuses", (  # a unit-month's buildings file (fct_submission_status)
        _code("received", "Received", "已报送", "received"),
        _code("zero_report", "Zero report", "零报告", "zero_report"),
        _code("rejected", "Rejected", "已退回", "rejected"),
        _code("missing", "Missing", "未报送", "missing"),
    )),
}

# Canonical code -> every accepted spelling, per enumeration.
ENUMS: dict[str, dict[str, tuple[str, ...]]] = {name: {c.code: c.words for c in e.codes}
                                                 for name, e in ENUMERATIONS.items()}
# The word a template file writes for each code (sample data, messages): the first spelling.
ENUM_LABELS_ZH: dict[str, dict[str, str]] = {name: {code: words[0] for code, words in spec.items()}
                                             for name, spec in ENUMS.items()}

TRUE_WORDS = ("是", "y", "yes", "true", "1")
FALSE_WORDS = ("否", "n", "no", "false", "0")
# The largest area (m²) or capacity a row may state: ten thousand km², beyond any building, base or province's
# target, and far inside what the warehouse's DECIMAL(18, 2) columns hold (a larger value would abort the load).
MAX_AREA = 1e10

MISSING_WORDS = ("", "—", "-", "/", "无", "－", "——", "nan", "none", "null")

KIND_FIELDS: dict[str, tuple[Field, ...]] = {
    "buildings": (
        Field("unit_code", "填报单位代码", "code", True, aliases=("单位代码", "行政区划代码")),
        Field("period", "统计期", "period", True, aliases=("统计期间", "统计月份", "报告期")),
        Field("project_code", "项目代码", "text", True),
        Field("project_name", "项目名称", "text", True),
        Field("building_no", "单体编号", "text", True),
        Field("permit_no", "施工许可证号", "text"),
        Field("start_date", "开工日期", "date", True, aliases=("开工时间",)),
        Field("building_use", "建筑类别", "enum", True, enum="building_use"),
        Field("structure_system", "结构体系", "enum", True, enum="structure_system"),
        Field("total_floor_area_m2", "总建筑面积", "area", True, minimum=0, maximum=MAX_AREA),
        Field("prefab_floor_area_m2", "装配式建筑面积", "area", True, minimum=0, maximum=MAX_AREA),
        Field("score_q1", "主体结构得分", "number", minimum=0, maximum=50),
        Field("score_q2", "围护墙和内隔墙得分", "number", minimum=0, maximum=20),
        Field("score_q3", "装修和设备管线得分", "number", minimum=0, maximum=30),
        Field("score_q4", "缺少评价项分值", "number", minimum=0, maximum=100),
        Field("assembly_rate_pct", "装配率", "percent", minimum=0, maximum=100),
        Field("evaluation_standard", "评价标准", "text"),
        Field("full_decoration", "全装修", "bool", True, aliases=("是否全装修",)),
        Field("green_star", "绿色建筑星级", "enum", enum="green_star", aliases=("绿色建筑等级",)),
        Field("developer", "建设单位", "text"),
        Field("remarks", "备注", "text"),
    ),
    "production_bases": (
        Field("unit_code", "填报单位代码", "code", True),
        Field("base_name", "基地名称", "text", True),
        Field("base_type", "基地类型", "enum", True, enum="base_type"),
        Field("design_capacity", "设计产能", "number", minimum=0, maximum=MAX_AREA),
        Field("capacity_unit", "产能单位", "enum", enum="capacity_unit"),
        Field("commissioned_on", "投产日期", "date", aliases=("投产时间",)),
        Field("status", "状态", "enum", True, enum="status"),
    ),
    "targets": (
        Field("unit_code", "单位代码", "code", True, aliases=("填报单位代码",)),
        Field("year", "年度", "year", True, aliases=("年份",)),
        Field("target_prefab_floor_area_m2", "新开工装配式建筑面积任务", "area", True, minimum=0, maximum=MAX_AREA),
        Field("target_res_pub_floor_area_m2", "住宅和公共建筑装配式面积任务", "area", minimum=0, maximum=MAX_AREA),
        Field("target_prefab_share_pct", "装配式建筑占比目标", "percent", minimum=0, maximum=100),
    ),
}

# Sheet names accepted for each kind in an XLSX workbook (else the first sheet).
SHEET_NAMES: dict[str, tuple[str, ...]] = {
    "buildings": ("buildings", "装配式建筑"),
    "production_bases": ("production_bases", "生产基地"),
    "targets": ("targets", "年度目标任务", "目标任务"),
}

# File name pattern per kind: <unit_code>_<YYYY-MM>[_<free text>] or <unit_code>_<YYYY>[_<free text>].
PERIOD_GRAIN: dict[str, str] = {"buildings": "month", "production_bases": "year", "targets": "year"}

TOTALS_WORDS = ("合计", "小计", "总计", "total", "subtotal")
NOTE_PREFIXES = ("注：", "注:", "说明：", "说明:", "note:", "notes:", "填表说明", "填报说明",
                 # signature lines under Chinese statistical tables
                 "填表人", "制表人", "审核人", "负责人", "单位负责人", "联系人", "联系电话", "填报日期", "制表日期")


def fields(kind: str) -> tuple[Field, ...]:
    return KIND_FIELDS[kind]


def field_names(kind: str) -> list[str]:
    return [f.name for f in KIND_FIELDS[kind]]
