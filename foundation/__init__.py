"""The ground every stage stands on: settings, DuckDB connections, the DDL of what the pipeline writes, the
writer lock, the submission template, the reporting units and a run's work folder. Imports nothing else of
the project."""
