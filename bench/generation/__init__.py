"""The parts of the generation benchmark (``bench/generate.py``).

- :mod:`bench.generation.configs`: the full-size architectures' configs, with their sources;
- :mod:`bench.generation.checkpoints`: writing random-weight checkpoints, tiny or full-size;
- :mod:`bench.generation.cases`: the radiograph and CT requests, through the production path;
- :mod:`bench.generation.memory`: peak memory of a case, on CUDA or the CPU;
- :mod:`bench.generation.measure`: first-token and decode timings of one case;
- :mod:`bench.generation.report`: the report, the targets, the table and its record.
"""
