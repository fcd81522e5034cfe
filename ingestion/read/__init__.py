"""Read submission files (CSV or XLSX) into a normalised frame, per the county submission template.

`read_submission(path, kind)` finds the header row (up to 10 title lines above it), matches headers in
Chinese or English, sets aside totals rows (合计/小计/总计) and footnotes (注：...), and normalises every
template field (see `ingestion.normalise` for the dtypes). Cell-level problems become reasons per row
number; file-level problems raise `RejectedFile`.

CSV fast path: the bytes are validated as UTF-8 (or transcoded from UTF-16/GB18030 to UTF-8), the header
is found with the csv module on the first lines, and the data rows are parsed by pyarrow's multi-threaded
CSV reader with every column as text, then normalised column-wise (in two threads). Files with irregular
rows (more or fewer cells than the header, whitespace-only lines, blank lines in a file that also has
quoted values, bare CR line ends) take an exact but slower path through the csv module.

Many files: `read_batch(paths, kind)` does the per-file part (decoding, header, row classification) file
by file and then normalises each field's cells of all the files in one vectorised pass, into one frame:
a run of thousands of small files does not pay the normalisation's fixed cost per file.
`read_submission` is a batch of one.

Row numbers are those a spreadsheet user sees: 1-based, counting title lines, the header and blank lines
(a quoted value with a line break stays one row). Blank rows (every cell empty, or only a 序号 number)
are skipped and are not rows received.

The modules:

- `batch`: `read_submission` and `read_batch` (the per-file part file by file, then each field's cells of
  all the files normalised in one pass); `FileRead`, what reading one file found, and `BatchRead`;
- `encoding` (bytes to UTF-8) and `csv_file` (delimiter, header row, fast and exact parsing), `xlsx_file`
  (sheet, cells as text, % formats): each gives a `grid.Grid`, a file's cells as text;
- `header_row`: the header row among the first lines (header matching is `ingestion.headers`);
- `layout`: columns matched to fields, rows classified (blank, totals, notes, data), totals rows checked;
- `raw_json`: the raw JSON of the data rows, for all of them or only for the quarantined ones.
"""

from __future__ import annotations

from ingestion.read.batch import BatchRead, FileRead, read_batch, read_submission
from ingestion.read.layout import IgnoredRow

__all__ = ["BatchRead", "FileRead", "IgnoredRow", "read_batch", "read_submission"]
