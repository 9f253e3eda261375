"""labsync: dlt sources for ML experiment trackers, synced incrementally into DuckDB."""
