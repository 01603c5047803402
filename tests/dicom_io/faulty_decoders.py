"""Decoders that misbehave on purpose, importable by name in spawned worker processes.

Each decodes a job as RadLens does unless the file's name asks for a fault: ``hang`` loops in
the decoder forever, ``crash`` kills the worker process as a crashing C decoder would, ``slow``
takes :data:`SLOW_SECONDS` longer than it should, then decodes.
"""

from __future__ import annotations

import os
import time
from typing import Any

from dicom_io.pixels.plugins import Job, decode_job

SLOW_SECONDS = 2.0


def decode_or_misbehave(job: Job) -> Any:
    if "hang" in job.name:
        while True:
            time.sleep(0.05)
    if "crash" in job.name:
        os._exit(70)
    if "slow" in job.name:
        time.sleep(SLOW_SECONDS)
    return decode_job(job)
