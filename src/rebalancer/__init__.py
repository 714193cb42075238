"""Portfolio rebalancing on a Parquet data lake: local (DuckDB) or AWS (S3, Glue, Athena)."""

from __future__ import annotations

__version__ = "0.1.0"
