"""Data aggregation (数据汇聚): uploads read into typed, content-addressed Parquet versions.

Files arrive through the page, the API (multipart or resumable chunks) or ``gongshu ingest``;
:mod:`sources` reads any supported format as text columns, :mod:`mapping` matches them to the
entry's fields, :mod:`coerce` types every cell with located errors, :mod:`lake` keeps the file
under its content hash, and :mod:`ingest` makes the version visible in one metadata commit.
"""
