"""Results: the tables a search writes (parquet, atomically) and how they are loaded."""
