"""The emulator's storage: StarRocks' catalog, table models, versions, labels, load jobs and users over DuckDB.

Both front ends (the FE/BE HTTP ports and the MySQL query port) call `engine.Engine` and nothing else.
"""
