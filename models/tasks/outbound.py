"""What may leave this machine: a remote model never gets pixels that may show a patient's name.

A remote model (the ``remote`` entry: an OpenAI-compatible server) receives the images
themselves. RadLens sends it no DICOM header, but identifiers burned into the pixels would go
with them: a series flagged ``burned_in_annotation`` (BurnedInAnnotation ``YES``, or not declared
by a modality or class that often carries it: ultrasound, secondary capture, photographs) is
refused with a one-line :class:`~models.errors.BurnedInTextError` that says what to do. The
refusal can be lifted with ``RADLENS_REMOTE_ALLOW_BURNED_IN=1`` when the server is one the site
trusts with such images (on the same machine or inside the hospital's network). Local models see
everything: the pixels do not leave the process.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from dicom_io.study import Series
from models.errors import BurnedInTextError
from models.registry.spec import ModelSpec

__all__ = ["ALLOW_BURNED_IN_ENV", "check_outbound"]

ALLOW_BURNED_IN_ENV = "RADLENS_REMOTE_ALLOW_BURNED_IN"


def check_outbound(
    series: Series, spec: ModelSpec, environ: Mapping[str, str] | None = None
) -> None:
    """Refuse to send ``series``' images to a remote ``spec`` when they may carry burned-in
    identifiers (see the module docstring)."""
    env = os.environ if environ is None else environ
    if not spec.is_remote or not series.flags.burned_in_annotation:
        return
    if env.get(ALLOW_BURNED_IN_ENV, "").strip() == "1":
        return
    raise BurnedInTextError(
        f"Series #{series.index + 1} ({series.modality}) may show patient identifiers burned "
        "into its pixels, so its images are not sent to a remote server: use a local model, or "
        f"set {ALLOW_BURNED_IN_ENV}=1 if the server is one you trust with such images."
    )
