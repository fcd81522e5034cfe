"""Guard for XLSX workbooks (zip archives), run before any reader inflates them.

A file named .xlsx that is an OLE2 compound file (magic D0 CF 11 E0 A1 B1 1A E1) is refused first, with
the reason that fits: a password-protected workbook (Excel encrypts the whole .xlsx into an OLE2 file
holding the streams EncryptionInfo and EncryptedPackage), an old Excel 97-2003 .xls workbook (a stream
named Workbook or Book), or another old Office document.

A workbook is refused, with a steward-readable reason, when its zip entries
- declare more unpacked bytes in all than the configured limit (`PREFAB_MAX_UNZIPPED_BYTES`),
- declare a compression ratio no spreadsheet has (a large entry packed over MAX_RATIO to 1), or
- inflate to more bytes than they declare (headers that lie to slip past the first two checks).

The last check inflates each entry in bounded chunks and stops one byte past what the entry declares, so
memory stays bounded whatever the archive holds, and the work is bounded by the declared sizes (which the
first two checks have bounded). Entries are read from the file's own bytes, never through the reader that
will parse the workbook afterwards.

Last, each worksheet's declared and actual extent is checked (`ingestion.xlsx_extent`): a sheet spanning
more rows, columns or cells than a submission can need is refused before a reader lays it out in memory.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from pathlib import Path

from foundation.bilingual import join
from ingestion.errors import RejectedFile, unreadable_xlsx
from ingestion.xlsx_extent import check_extent

MAX_RATIO = 200  # real sheet XML packs 5-30 to 1; deflate's ceiling is about 1030 to 1
RATIO_FLOOR = 8 << 20  # entries smaller than this unpack harmlessly, whatever their ratio
CHUNK = 1 << 16
_LOCAL_HEADER = struct.Struct("<4s5H3I2H")  # signature ... file name length, extra field length
OLE2_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
# Stream names in an OLE2 directory are UTF-16LE; the directory may sit anywhere in the file.
_ENCRYPTED = ("EncryptedPackage".encode("utf-16-le"), "EncryptionInfo".encode("utf-16-le"))
_XLS_STREAMS = ("Workbook".encode("utf-16-le"), "Book\0".encode("utf-16-le"))


def _bomb(path: Path, detail_zh: str, detail: str) -> RejectedFile:
    return RejectedFile(join(f"工作簿“{path.name}”疑似解压炸弹：{detail_zh}，未解压（请在 Excel 中重新保存，"
                             "不要嵌入对象）",
                             f"the workbook '{path.name}' looks like a decompression bomb: {detail}; it was not "
                             "unpacked (save it again from Excel, without embedded objects)"))


def _mib(n: int) -> str:
    return f"{n / (1 << 20):,.1f} MiB"


def check_workbook(path: Path, max_unzipped_bytes: int | None) -> None:
    """Raise RejectedFile if `path` is not a zip archive, may unpack to more than is safe to read, or has a
    sheet larger than a submission can need."""
    _refuse_ole2(path)
    try:
        with zipfile.ZipFile(path) as zf:
            entries = [i for i in zf.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        found = f"{type(exc).__name__}: {exc}"
        raise unreadable_xlsx(found, found) from None
    declared = sum(i.file_size for i in entries)
    if max_unzipped_bytes is not None and declared > max_unzipped_bytes:
        raise _bomb(path, f"各部件声明解压后共 {_mib(declared)}，超过上限 {_mib(max_unzipped_bytes)}",
                    f"its parts declare {_mib(declared)} unpacked, over the limit of {_mib(max_unzipped_bytes)}")
    for info in entries:
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            ratio = f"{info.file_size // max(info.compress_size, 1):,}"
            raise _bomb(path, f"部件“{info.filename}”声明由 {info.compress_size:,} 字节解压为 {_mib(info.file_size)}"
                              f"（{ratio} 比 1）",
                        f"part '{info.filename}' declares {_mib(info.file_size)} unpacked from "
                        f"{info.compress_size:,} bytes ({ratio} to 1)")
    with path.open("rb") as fh:
        for info in entries:
            actual = _inflated_size(fh, info)
            if actual > info.file_size:
                raise _bomb(path, f"部件“{info.filename}”解压后超过其文件头声明的 {info.file_size:,} 字节",
                            f"part '{info.filename}' unpacks to more than the {info.file_size:,} bytes its header "
                            "declares")
    try:
        with zipfile.ZipFile(path) as zf:  # every part now inflates to what it declares, which is bounded
            check_extent(zf, path.name)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
        found = f"{type(exc).__name__}: {exc}"
        raise unreadable_xlsx(found, found) from None


def _refuse_ole2(path: Path) -> None:
    """Raise RejectedFile, with what to do, if the file is an OLE2 compound file rather than a zip archive."""
    with path.open("rb") as fh:
        if fh.read(len(OLE2_MAGIC)) != OLE2_MAGIC:
            return
        found = _stream_names(fh)
    if found & set(_ENCRYPTED):
        raise RejectedFile(join(f"工作簿“{path.name}”已加密（受密码保护），无法读取：请去掉密码（Excel：文件 > 信息 > "
                                "保护工作簿 > 用密码进行加密，清空密码），另存为 .xlsx 后重新报送",
                                f"password protected: the workbook '{path.name}' is encrypted with a password, so it "
                                "cannot be read; remove the password (Excel: File > Info > Protect Workbook > Encrypt "
                                "with Password, clear it), save it as .xlsx and send it again"))
    if found & set(_XLS_STREAMS):
        raise RejectedFile(join(f"文件“{path.name}”是改名为 .xlsx 的旧版 Excel 97-2003 .xls 工作簿：请在 Excel 或 WPS "
                                "中打开，另存为 Excel 工作簿（.xlsx）后重新报送",
                                f"old .xls format: the file '{path.name}' is an Excel 97-2003 .xls workbook renamed "
                                ".xlsx; open it in Excel or WPS and save it as an Excel workbook (.xlsx), then send it "
                                "again"))
    raise RejectedFile(join(f"文件“{path.name}”是旧版 Office（OLE2）文档，不是 Excel .xlsx 工作簿：请在 Excel 中另存为 "
                            ".xlsx 后重新报送",
                            f"not an .xlsx workbook: the file '{path.name}' is an old Office (OLE2) document, not an "
                            "Excel .xlsx workbook; save it from Excel as .xlsx and send it again"))


def _stream_names(fh) -> set[bytes]:
    """Which of the stream names that matter occur in the rest of the file (read in chunks)."""
    wanted = (*_ENCRYPTED, *_XLS_STREAMS)
    overlap = max(len(w) for w in wanted)
    found: set[bytes] = set()
    tail = b""
    while chunk := fh.read(1 << 20):
        buf = tail + chunk
        found.update(w for w in wanted if w in buf)
        tail = buf[-overlap:]
    return found


def _inflated_size(fh, info: zipfile.ZipInfo) -> int:
    """Bytes the entry really inflates to, counting at most one past its declared size."""
    fh.seek(info.header_offset)
    header = fh.read(_LOCAL_HEADER.size)
    if len(header) < _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
        raise unreadable_xlsx(f"部件“{info.filename}”没有本地文件头", f"part '{info.filename}' has no local header")
    name_len, extra_len = _LOCAL_HEADER.unpack(header)[-2:]
    fh.seek(info.header_offset + _LOCAL_HEADER.size + name_len + extra_len)
    remaining = info.compress_size
    limit = info.file_size + 1
    if info.compress_type == zipfile.ZIP_STORED:
        return info.compress_size
    if info.compress_type != zipfile.ZIP_DEFLATED:
        raise unreadable_xlsx(f"部件“{info.filename}”使用了压缩方法 {info.compress_type}",
                              f"part '{info.filename}' uses compression method {info.compress_type}")
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
        raise unreadable_xlsx(f"部件“{info.filename}”已损坏：{exc}",
                              f"part '{info.filename}' is corrupt: {exc}") from None
    return total
