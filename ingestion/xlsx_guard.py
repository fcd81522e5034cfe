"""Decompression-bomb guard for XLSX workbooks (zip archives), run before any reader inflates them.

A workbook is refused, with a steward-readable reason, when its zip entries
- declare more unpacked bytes in all than the configured limit (`PREFAB_MAX_UNZIPPED_BYTES`),
- declare a compression ratio no spreadsheet has (a large entry packed over MAX_RATIO to 1), or
- inflate to more bytes than they declare (headers that lie to slip past the first two checks).

The last check inflates each entry in bounded chunks and stops one byte past what the entry declares, so
memory stays bounded whatever the archive holds, and the work is bounded by the declared sizes (which the
first two checks have bounded). Entries are read from the file's own bytes, never through the reader that
will parse the workbook afterwards.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from pathlib import Path

from ingestion.errors import RejectedFile

MAX_RATIO = 200  # real sheet XML packs 5-30 to 1; deflate's ceiling is about 1030 to 1
RATIO_FLOOR = 8 << 20  # entries smaller than this unpack harmlessly, whatever their ratio
CHUNK = 1 << 16
_LOCAL_HEADER = struct.Struct("<4s5H3I2H")  # signature ... file name length, extra field length


def _bomb(path: Path, detail: str) -> RejectedFile:
    return RejectedFile(f"the workbook '{path.name}' looks like a decompression bomb: {detail}; it was not "
                        "unpacked (save it again from Excel, without embedded objects)")


def _mib(n: int) -> str:
    return f"{n / (1 << 20):,.1f} MiB"


def check_workbook(path: Path, max_unzipped_bytes: int | None) -> None:
    """Raise RejectedFile if `path` is not a zip archive or may unpack to more than is safe to read."""
    try:
        with zipfile.ZipFile(path) as zf:
            entries = [i for i in zf.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise RejectedFile(f"not a readable XLSX workbook ({type(exc).__name__}: {exc}): expected an Excel "
                           ".xlsx file") from None
    declared = sum(i.file_size for i in entries)
    if max_unzipped_bytes is not None and declared > max_unzipped_bytes:
        raise _bomb(path, f"its parts declare {_mib(declared)} unpacked, over the limit of "
                          f"{_mib(max_unzipped_bytes)}")
    for info in entries:
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise _bomb(path, f"part '{info.filename}' declares {_mib(info.file_size)} unpacked from "
                              f"{info.compress_size:,} bytes ({info.file_size // max(info.compress_size, 1):,} to 1)")
    with path.open("rb") as fh:
        for info in entries:
            actual = _inflated_size(fh, info)
            if actual > info.file_size:
                raise _bomb(path, f"part '{info.filename}' unpacks to more than the {info.file_size:,} bytes "
                                  "its header declares")


def _inflated_size(fh, info: zipfile.ZipInfo) -> int:
    """Bytes the entry really inflates to, counting at most one past its declared size."""
    fh.seek(info.header_offset)
    header = fh.read(_LOCAL_HEADER.size)
    if len(header) < _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
        raise RejectedFile(f"not a readable XLSX workbook (part '{info.filename}' has no local header): "
                           "expected an Excel .xlsx file")
    name_len, extra_len = _LOCAL_HEADER.unpack(header)[-2:]
    fh.seek(info.header_offset + _LOCAL_HEADER.size + name_len + extra_len)
    remaining = info.compress_size
    limit = info.file_size + 1
    if info.compress_type == zipfile.ZIP_STORED:
        return info.compress_size
    if info.compress_type != zipfile.ZIP_DEFLATED:
        raise RejectedFile(f"not a readable XLSX workbook (part '{info.filename}' uses compression method "
                           f"{info.compress_type}): expected an Excel .xlsx file")
    inflater = zlib.decompressobj(-15)
    total = 0
    try:
        while remaining > 0 and total < limit and not inflater.eof:
            data = fh.read(min(CHUNK, remaining))
            if not data:
                break
            remaining -= len(data)
            while data and total < limit:
                total += len(inflater.decompress(data, CHUNK))
                data = inflater.unconsumed_tail
        while total < limit and not inflater.eof and (out := inflater.decompress(b"", CHUNK)):
            total += len(out)
    except zlib.error as exc:
        raise RejectedFile(f"not a readable XLSX workbook (part '{info.filename}' is corrupt: {exc}): expected "
                           "an Excel .xlsx file") from None
    return total
