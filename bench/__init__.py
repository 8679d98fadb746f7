"""Benchmarks (issue 7): `make bench` runs bench/run.py; see its docstring and docs/starrocks.md's performance section.

Modules: datagen (fixed-seed input), workloads (sizes), measure (a child's wall/CPU/peak RSS), baselines (parse
floor, one INSERT per record), peer (target-starrocks in its own venv), report (JSON keys, targets, table),
profile (py-spy of the connector and the emulator on bulk).
"""
