"""RadLens prompts: task and modality templates as data files, chosen and rendered here.

>>> from prompts import render, select_template
>>> template = select_template("report", "CT", "HEAD", box_format="gemma_box_2d")
>>> template.id, template.findings_sections[0]
('report/ct_head', 'Brain parenchyma')
>>> prompt = render(template, technique="CT head without contrast, 32 axial slices.")
>>> prompt.provenance
'report/ct_head 2026.12.1 (prompts 2026.12.2)'

This package imports nothing from models or app, and from dicom_io only the root error
(``dicom_io.errors.RadLensError``, which every :class:`PromptError` derives from).
"""

from __future__ import annotations

from prompts.errors import PromptError, PromptFieldError, TemplateDataError
from prompts.loader import PROMPTS_VERSION, load_catalogue
from prompts.rendering import RenderedPrompt, render
from prompts.selection import select_template
from prompts.templates import AppliesTo, Catalogue, Exam, FieldSpec, Template

__all__ = [
    "PROMPTS_VERSION",
    "AppliesTo",
    "Catalogue",
    "Exam",
    "FieldSpec",
    "PromptError",
    "PromptFieldError",
    "RenderedPrompt",
    "Template",
    "TemplateDataError",
    "load_catalogue",
    "render",
    "select_template",
]
