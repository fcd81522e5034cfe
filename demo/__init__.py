"""`make demo`: the nightly job once on the embedded default (sample landing zone, DuckDB, Airflow's SQLite
metadata), and the Airflow environment it and the tests run in."""
