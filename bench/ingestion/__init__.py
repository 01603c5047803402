"""The parts of the ingest benchmark (``bench/ingest.py``).

- :mod:`bench.ingestion.cases`: the synthetic CT series, written once (or reused) per encoding;
- :mod:`bench.ingestion.python_tools`: RadLens, SimpleITK and MONAI, measured in this process;
- :mod:`bench.ingestion.dcm2niix`: dcm2niix, measured as a child process;
- :mod:`bench.ingestion.summary`: what a load produced, and whether it holds the phantom;
- :mod:`bench.ingestion.table`: the best runs, the table and the targets.
"""
