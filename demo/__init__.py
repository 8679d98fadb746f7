"""`make demo`: Airbyte's source-faker → destination-starrocks → the bundled emulator (or a real StarRocks).

Modules, one job each: `faker_source` (the source in its own venv), `target` (emulator or real StarRocks, and
the figures read back from it), `pipe` (the sync with progress), `report` (rows, loads, versions vs one INSERT
per record), `__main__` (the steps, in order).
"""
