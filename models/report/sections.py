"""Which section a heading names, by meaning rather than spelling, and what is not report text.

Real models seldom write the outline's ``Findings:`` / ``Impression:`` verbatim. The MedGemma
model card's example answer uses ``**Findings:**`` and ``**Impression:**``; users' MedGemma
issues (google-health/medgemma) show ``**Key Findings:**``, ``**Overall Impression:**``,
``## Findings`` and upper-case ``FINDINGS:``; LLaVA-Med-style answers echo ``[/INST]`` and run
the heading into the paragraph. :data:`SECTION_VARIANTS` maps each section to the headings seen
or plausible for it; :func:`section_of` reads a heading with its Markdown (``**``, ``_``, ``#``),
numbering, case and trailing colon removed.

"Comparison and key takeaways" (and any "Comparison ..." heading with more words) is read as
impression-like content, not as the Comparison section: RadLens's Comparison section is the
prior study's technique and overall change, which a plain report has no prior for; a model that
writes "Comparison and key takeaways" is summarising, so its lines belong with the Impression.
A bare "Comparison" heading is still the Comparison section.

:func:`is_instruction` recognises an echoed prompt: RadLens's own outline lines (read from the
packaged templates in ``prompts/templates/*.json``, placeholders ``<...>`` and ``{...}``
included) and generic instruction lines ("2-4 bullet points", "1-2 lines", "Write ...").
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = [
    "SECTION_VARIANTS",
    "clean_heading",
    "is_chatter",
    "is_disclaimer",
    "is_instruction",
    "is_recommendation",
    "section_of",
]

# section -> heading variants (lower case, no markup). Order matters only for reading.
SECTION_VARIANTS: dict[str, tuple[str, ...]] = {
    "technique": (
        "technique",
        "techniques",
        "procedure",
        "protocol",
        "exam",
        "examination",
        "study",
        "imaging technique",
        "view",
        "views",
    ),
    "indication": (
        "indication",
        "indications",
        "clinical indication",
        "history",
        "clinical history",
        "reason for exam",
        "clinical information",
    ),
    "comparison": ("comparison", "comparisons", "prior studies", "prior study", "priors"),
    "findings": (
        "findings",
        "finding",
        "key findings",
        "specific findings",
        "main findings",
        "detailed findings",
        "radiological findings",
        "radiographic findings",
        "imaging findings",
        "potential issues",
        "potential findings",
        "observations",
        "observation",
        "key observations",
        "description",
        "image description",
        "image analysis",
        "analysis",
        "report",
        "abnormalities",
        "notable findings",
        "possible findings",
    ),
    "impression": (
        "impression",
        "impressions",
        "overall impression",
        "conclusion",
        "conclusions",
        "summary",
        "interpretation",
        "assessment",
        "diagnosis",
        "differential diagnosis",
        "differential",
        "key takeaways",
        "takeaways",
        "final impression",
        "overall assessment",
        "opinion",
        "result",
        "results",
        "comparison and key takeaways",
        "summary of findings",
    ),
    "recommendations": (
        "recommendation",
        "recommendations",
        "next steps",
        "next step",
        "follow-up",
        "follow up",
        "followup",
        "suggestions",
        "recommended follow-up",
        "plan",
        "further evaluation",
        "recommendations and next steps",
    ),
    # The model's caveats about its own reading, not findings: kept as notes, never probed or
    # localized. The MedGemma quick-start answers (Google-Health/medgemma
    # notebooks/quick_start_with_dicom.ipynb, cells h57n3PWsznxy and zauLBJo2lb_P) end with
    # "**Important Considerations:**" and "**Disclaimer:**"; its longitudinal notebook
    # (cxr_longitudinal_comparison_with_hugging_face.ipynb, cell 1S8x3TYZpY4X) with
    # "**Important Considerations for Students:**".
    "caveats": (
        "disclaimer",
        "important disclaimer",
        "important note",
        "important notes",
        "important considerations",
        "considerations",
        "additional considerations",
        "limitations",
        "caveats",
    ),
    "other": (
        "explanation",
        "notes",
        "note",
        "additional notes",
        "reasoning",
    ),
}
_BY_NAME = {name: section for section, names in SECTION_VARIANTS.items() for name in names}
_MARKUP = re.compile(r"[*_`#]+")
_NUMBERING = re.compile(r"^\s*(?:\d+[.)]|[ivx]+[.)]|[a-z][.)]|[-+•])\s+", re.IGNORECASE)


def clean_heading(text: str) -> str:
    """``"## **1. Key Findings:**"`` -> ``"key findings"``."""
    text = _MARKUP.sub("", text).strip()
    text = _NUMBERING.sub("", text).strip()
    return re.sub(r"\s+", " ", text.rstrip(":").strip()).lower()


def section_of(heading: str) -> str | None:
    """The section ``heading`` names (``findings``, ``impression``, ...), or None."""
    name = clean_heading(heading)
    if name in _BY_NAME:
        return _BY_NAME[name]
    if name.startswith("comparison "):  # "Comparison and key takeaways": see the docstring
        return "impression"
    if name.startswith(("important considerations ", "considerations for ", "limitations of ")):
        return "caveats"  # "Important Considerations for Students"
    return None


# --- what is not clinical text --------------------------------------------------------------

_PLACEHOLDER = re.compile(r"<[^<>]{3,}>|\{[a-z_]+\}")
_GENERIC_INSTRUCTION = re.compile(
    r"^\s*(?:\d+\s*(?:-|\u2013|to)\s*\d+|one|two|three|a few)\s+"
    r"(?:bullet points?|bullets?|lines?|sentences?|items?|words?|paragraphs?)\b"
    r"|^\s*(?:write|describe|list|give|provide|follow|keep|use|do not|don't|answer|respond|"
    r"please|include|under (?:technique|findings|impression))\b.*"
    r"\b(?:report|heading|outline|findings|impression|line|bullet|format|english)\b",
    re.IGNORECASE,
)
_RADLENS_TITLE = re.compile(r"^draft (?:comparison )?report: ", re.IGNORECASE)
_ROLE = re.compile(
    r"^\s*(?:\[/?INST\]|<\|?/?(?:im_start|im_end|user|assistant)\|?>|"
    r"(?:USER|ASSISTANT|Human|GPT)\s*:)\s*",
    re.IGNORECASE,
)


@lru_cache(maxsize=1)
def _template_lines() -> frozenset[str]:
    """RadLens's own prompt lines, placeholders cut off, lower case (for echo detection)."""
    from prompts import load_catalogue

    lines: set[str] = set()
    for template in load_catalogue().templates:
        for text in (template.user, template.instruction, template.system):
            for line in str(text).split("\n"):
                stem = re.split(r"[{<]", line, maxsplit=1)[0].strip().lower()
                if len(stem) >= 24:  # long enough not to match a real finding by chance
                    lines.add(stem)
    return frozenset(lines)


def strip_role(line: str) -> str:
    """A line without an echoed chat marker (``[/INST]``, ``ASSISTANT:``)."""
    return _ROLE.sub("", line)


def is_instruction(text: str) -> bool:
    """True for an echoed instruction: an outline placeholder, one of RadLens's prompt lines,
    or a generic instruction ("2-4 bullet points.", "Write one line per heading")."""
    stripped = text.strip()
    if not stripped:
        return False
    if _PLACEHOLDER.search(stripped) or _GENERIC_INSTRUCTION.search(stripped):
        return True
    if _RADLENS_TITLE.match(stripped):  # the title line of RadLens's own editable text
        return True
    low = stripped.lower()
    return any(low.startswith(line) for line in _template_lines())


_DISCLAIMER = re.compile(
    r"\b(?:not (?:a substitute for|intended (?:as|to be|for)|meant to)|not medical advice|"
    r"(?:i am|i'm) (?:an ai|not a (?:doctor|radiologist|medical))|as an ai\b|"
    r"(?:consult|seek) (?:a|an|your|with a) (?:qualified|medical|healthcare|health care|"
    r"doctor|physician|radiologist|professional)|for (?:educational|informational) purposes|"
    r"should (?:be reviewed|always be (?:reviewed|confirmed|interpreted)) by|"
    r"cannot (?:provide|make|give) (?:a )?(?:medical |definitive )?diagnos|"
    r"(?:ai|model)[- ]generated|professional medical (?:advice|evaluation))",
    re.IGNORECASE,
)
_RECOMMENDATION = re.compile(
    r"^\s*(?:i |we )?(?:would )?(?:recommend|suggest|advise|consider|follow[- ]?up|"
    r"further (?:evaluation|imaging|assessment|workup|investigation)|clinical correlation|"
    r"correlat(?:e|ion)|(?:a |an )?(?:ct|mri|ultrasound|repeat|short[- ]term|dedicated)\b.*"
    r"\b(?:is|are|may be|would be|could be) (?:recommended|advised|suggested|warranted|helpful))",
    re.IGNORECASE,
)
_CHATTER = re.compile(
    r"^\s*(?:okay|ok|sure|certainly|of course|alright|here(?:'s| is| are)|"
    r"based on (?:the|this|these) (?:provided |given )?(?:image|images|x-ray|scan|study|ct|mri)"
    r"[^.]*[:,]\s*$|let me|i will|i'll|below is|"
    # a refusal: nothing clinical in it
    r"(?:i'm|i am) sorry|(?:i|we) (?:cannot|can't|can not|am unable to|'m unable to) "
    r"(?:provide|interpret|analy[sz]e|view|see|access|give|make|read))\b.*[:.!]?\s*$",
    re.IGNORECASE,
)


def is_disclaimer(text: str) -> bool:
    """A model's own disclaimer ("This is not medical advice..."): kept as a note."""
    return bool(_DISCLAIMER.search(text))


def is_recommendation(text: str) -> bool:
    """A recommendation sentence ("Recommend CT for further evaluation.")."""
    return bool(_RECOMMENDATION.search(text))


def is_chatter(text: str) -> bool:
    """The model talking about its answer ("Okay, here's a description of the X-ray:")."""
    return bool(_CHATTER.match(text)) and len(text) < 200
