"""Benchmarks (bench/README.md), run from the repository root as ``python bench/<script>.py``;
their helper packages (``bench.generation``, ``bench.ingestion``) import as ``bench.*``."""
