"""The enumerations' dbt seeds against the template: the committed CSVs are the ones `foundation.seeds`
generates, and, read on their own, list the template's codes in order with a Chinese label it accepts."""

from __future__ import annotations

import csv

import yaml

from foundation.config import DBT_PROJECT_DIR
from foundation.seeds import seed_files
from foundation.template import ENUM_LABELS_ZH, ENUMERATIONS, ENUMS

SEEDS = DBT_PROJECT_DIR / "seeds"


def _rows(seed: str) -> list[dict[str, str]]:
    with (SEEDS / f"{seed}.csv").open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_committed_seeds_are_the_generated_ones():
    for path, text in seed_files().items():
        assert path.read_text(encoding="utf-8") == text, f"{path.name}: run `python -m foundation.seeds`"


def test_seeds_list_the_template_codes_with_labels_it_accepts():
    for name, enum in ENUMERATIONS.items():
        rows = _rows(enum.seed)
        assert [r["code"] for r in rows] == list(ENUMS[name]), enum.seed
        for r in rows:
            assert r["name_zh"] in ENUMS[name][r["code"]], (enum.seed, r)
            assert r["name_en"], (enum.seed, r)
            if name != "capacity_unit":  # files write a unit of measure as its symbol, the seed names it in Chinese
                assert r["name_zh"] == ENUM_LABELS_ZH[name][r["code"]], (enum.seed, r)


def test_every_code_of_an_enumeration_has_the_same_attributes():
    for enum in ENUMERATIONS.values():
        assert len({tuple(k for k, _ in c.attrs) for c in enum.codes}) == 1, enum.seed


def test_seed_columns_are_the_typed_columns_of_seeds_yml():
    declared = {s["name"]: list(s["config"]["column_types"])
                for s in yaml.safe_load((SEEDS / "_seeds.yml").read_text(encoding="utf-8"))["seeds"]}
    for enum in ENUMERATIONS.values():
        assert list(_rows(enum.seed)[0]) == declared[enum.seed]
