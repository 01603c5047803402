"""Decoders that misbehave on purpose, importable by name in spawned worker processes.

Each decodes a job as RadLens does unless the file's name asks for a fault: ``hang`` loops in
the decoder forever, ``crash`` kills the worker process as a crashing C decoder would.
"""

from __future__ import annotations

import os
import time
from typing import Any

from dicom_io.pixels.plugins import Job, decode_job


def decode_or_misbehave(job: Job) -> Any:
    if "hang" in job.name:
        while True:
            time.sleep(0.05)
    if "crash" in job.name:
        os._exit(70)
    return decode_job(job)
