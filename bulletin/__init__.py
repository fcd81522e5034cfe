"""The bulletin (通报): a unit's published figures as of a date, turned into the report a housing department
issues, as HTML, PDF and chart files under `$PREFAB_DATA_DIR/bulletins/<unit_code>_<date>/`.

It reads only the published `reporting.duckdb` (never the pipeline's warehouse) and names the publication it
was made from: `data` reads, `text` words the figures, `charts` draws them, `render` writes the files.
"""
