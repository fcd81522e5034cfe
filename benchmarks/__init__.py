"""Benchmarks of the nightly pipeline: `make bench SCALE=quick|bigfile|province|national`.

See benchmarks/README.md for what each figure means, its baseline and target, and the measured tables.
"""
