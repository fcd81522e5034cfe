"""The decompression-bomb guard for XLSX files: refuses before inflating, in bounded memory."""

from __future__ import annotations

import tracemalloc

import pytest

from ingestion.errors import RejectedFile
from ingestion.read import read_submission
from ingestion.xlsx_guard import check_workbook
from tests.corpus import build

MiB = 1 << 20


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return build.xlsx_bomb_ratio(None, None)


def _write(tmp_path, data: bytes, name: str = "330402_2020-03.xlsx"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_an_ordinary_workbook_passes_and_reads(tmp_path):
    path = _write(tmp_path, build.xlsx_second_sheet(None, None))
    check_workbook(path, 2 << 30)
    assert len(read_submission(path, "buildings").frame) == 2


def test_a_bomb_is_refused_from_its_declared_ratio(tmp_path, bomb):
    path = _write(tmp_path, bomb)
    assert path.stat().st_size < 200_000  # 64 MiB of sheet XML inside
    with pytest.raises(RejectedFile, match=r"decompression bomb: part 'xl/worksheets/sheet1.xml' declares 64.0 MiB"):
        check_workbook(path, 2 << 30)


def test_a_bomb_that_understates_its_size_is_caught_inflating_in_bounded_memory(tmp_path, bomb):
    path = _write(tmp_path, build._patch_size(bomb, "xl/worksheets/sheet1.xml", 2000))
    tracemalloc.start()
    try:
        with pytest.raises(RejectedFile, match=r"unpacks to more than the 2,000 bytes its header declares"):
            check_workbook(path, 2 << 30)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * MiB, f"peak {peak / MiB:.1f} MiB while refusing a 64 MiB bomb"


def test_declared_sizes_over_the_limit_are_refused(tmp_path):
    small = build._small_workbook()
    path = _write(tmp_path, small)
    check_workbook(path, 1 * MiB)
    with pytest.raises(RejectedFile, match=r"declare 0.0 MiB unpacked, over the limit of 0.0 MiB"):
        check_workbook(path, 100)
    huge = _write(tmp_path, build._patch_size(small, "xl/worksheets/sheet1.xml", 0xFFFFFFF0), "huge.xlsx")
    with pytest.raises(RejectedFile, match=r"over the limit of 2,048.0 MiB"):
        check_workbook(huge, 2 << 30)


def test_the_reader_refuses_the_bomb_before_parsing(tmp_path, bomb, monkeypatch):
    import python_calamine

    def never(*args, **kwargs):
        raise AssertionError("the workbook was opened")

    monkeypatch.setattr(python_calamine.CalamineWorkbook, "from_path", never)
    with pytest.raises(RejectedFile, match="decompression bomb"):
        read_submission(_write(tmp_path, bomb), "buildings", max_unzipped_bytes=2 << 30)


@pytest.mark.parametrize("maker", ["garbage", "xlsx_truncated"])
def test_not_a_workbook(tmp_path, maker):
    data = getattr(build, maker)(build.Case("buildings/x.xlsx", {}), None)
    with pytest.raises(RejectedFile, match="not a readable XLSX workbook"):
        check_workbook(_write(tmp_path, data), 2 << 30)
