"""RadLens prompts: task and modality templates as data files, chosen and rendered here.

>>> from prompts import render, select_template
>>> template = select_template("report", "CT", "HEAD")
>>> template.id, template.findings_sections[0]
('report/ct_head', 'Brain parenchyma')
>>> prompt = render(template, technique="CT head without contrast, 32 axial slices.")
>>> prompt.provenance
'report/ct_head 2026.11.1 (prompts 2026.11.1)'

This package imports nothing from dicom_io, models or app.
"""

from __future__ import annotations

from prompts.errors import PromptError, PromptFieldError, TemplateDataError
from prompts.loader import PROMPTS_VERSION, load_catalogue
from prompts.rendering import RenderedPrompt, render
from prompts.selection import select_template
from prompts.templates import AppliesTo, Catalogue, Exam, FieldSpec, Task, Template

__all__ = [
    "PROMPTS_VERSION",
    "AppliesTo",
    "Catalogue",
    "Exam",
    "FieldSpec",
    "PromptError",
    "PromptFieldError",
    "RenderedPrompt",
    "Task",
    "Template",
    "TemplateDataError",
    "load_catalogue",
    "render",
    "select_template",
]
