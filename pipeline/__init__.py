"""The nightly run as one ordered list of stages (what the DAG and the benchmark both run), its summary and
its failure alerts."""
