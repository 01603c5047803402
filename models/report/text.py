"""Read a model's report text into sections, by meaning, keeping every sentence somewhere.

Models are asked for ``Technique:`` / ``Findings:`` (one ``Heading: text`` line per anatomy
heading) / ``Impression:`` (a numbered list). Real models write other headings (``**Key
Findings:**``, ``## Overall Impression``, ``INTERPRETATION``, "Potential issues",
"Recommendations"), put a heading mid-line (after an echoed ``[/INST]``), echo the prompt's
outline, add disclaimers and explanations after the last section, or write the findings as one
paragraph. The reader (issue 11):

- finds sections by meaning with :func:`models.report.sections.section_of` (headings tolerant
  of Markdown, ``#``, numbering, case and a missing colon; inline headings split off);
- drops echoed instructions (RadLens's own outline lines, generic "2-4 bullet points") with a
  note saying what was dropped;
- strips markup (bold, italics, bullets, numbering, ``#``, backticks) from clinical text;
- splits prose into one finding per sentence and places each under the template's anatomy
  heading by anatomy words (:func:`place`); a heading that is a near miss ("Heart/Mediastinum")
  is matched by its words;
- keeps every sentence: Findings, Impression, Recommendations, or "Other" with a note; a
  model's own disclaimer becomes a note, never a finding.

Whether a finding is normal is decided later, per finding, by
:func:`models.report.assertion.classify`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from models.report.sections import (
    SECTION_VARIANTS,
    clean_heading,
    is_chatter,
    is_disclaimer,
    is_instruction,
    is_recommendation,
    section_of,
    strip_role,
)

__all__ = [
    "CHANGE_WORDS",
    "ParsedReport",
    "change_from_wording",
    "clean_text",
    "parse_change",
    "parse_report_text",
    "parse_yes_no",
    "place",
    "split_sentences",
]

CHANGE_WORDS = ("new", "worse", "improved", "unchanged", "resolved")
_MARKUP_LEAD = re.compile(
    r"^\s*(?:#{1,6}\s+|>\s*)?(?:[-*+•▪◦]\s+|\d{1,2}[.)]\s+|\(?[a-z][.)]\s+)?"
)
_HEADING_LINE = re.compile(r"^\s*([A-Za-z][A-Za-z ,/&()'-]{1,60}?)\s*:\s*(.*)$")
_HEAD = re.compile(
    r"^\s*(?:#{1,6}\s*)?(?:\d{1,2}[.)]\s*)?[*_]{0,3}\s*([A-Za-z][A-Za-z /&'-]{0,50}[A-Za-z])"
    r"\s*[*_]{0,3}\s*(:)?\s*[*_]{0,3}\s*(.*)$"
)
_NAMES = sorted({n for names in SECTION_VARIANTS.values() for n in names}, key=len, reverse=True)
_INLINE = re.compile(
    r"(?<=[.!?\]>)])\s*(?=(?:\*\*|__)?(?:#{1,6}\s*)?(?:"
    + "|".join(re.escape(n) for n in _NAMES)
    + r")\s*(?:\*\*|__)?\s*:)",
    re.IGNORECASE,
)
_SENTENCE = re.compile(
    r"(?<=[.!?])\s+(?=[\"'(]?[A-Z0-9])"  # ". The"
    r"|(?<=[a-z]{2}[.!?])\s+(?=[a-z]{2})"  # lower-case prose: ". the"
    r"|\s+\.\s+(?=\S)"  # tokenised prose (R2Gen style): " . the"
)
_LIST_ITEM = re.compile(r"^\s*(?:[-*+•▪◦]\s+|\d{1,2}[.)]\s+)")
_SUMMARY_LEAD = re.compile(
    r"^\s*(?:in summary|in conclusion|to summari[sz]e|in short)\s*[,:]\s*(?=\S)", re.IGNORECASE
)
_ECHO_END = re.compile(r"^.*(\[/INST\]|<\|im_start\|>assistant|\bASSISTANT:)", re.DOTALL)
_CHANGE = re.compile(r"\[\s*(new|worse|improved|unchanged|resolved)\s*\]", re.IGNORECASE)
_FINAL = re.compile(r"final\s+answer\s*:?\s*\**\s*(yes|no)\b", re.IGNORECASE)
_YES_NO = re.compile(r"\b(yes|no)\b", re.IGNORECASE)


@dataclass(frozen=True)
class ParsedReport:
    """Sections found in a model's report text."""

    technique: str
    comparison: str
    findings: tuple[tuple[str, str], ...]  # (heading, text) in the order written; "Other" too
    impression: tuple[str, ...]
    notes: tuple[str, ...]
    recommendations: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.findings and not self.impression


def clean_text(line: str) -> str:
    """Clinical text without Markdown: bullets, numbering, ``#``, bold, italics, backticks."""
    text = _MARKUP_LEAD.sub("", line)
    text = re.sub(r"\*\*|__|`+", "", text)
    text = re.sub(r"(?<![\w*])\*(?=\S)([^*]+?)\*(?!\w)", r"\1", text)  # *italic*
    text = re.sub(r"(?<!\w)_(?=\S)([^_]+?)_(?!\w)", r"\1", text)  # _italic_
    text = text.replace("*", "").strip()
    return re.sub(r"\s+", " ", text)


def split_sentences(text: str) -> list[str]:
    """One statement per sentence (``2.5 cm`` and ``e.g.`` are not split)."""
    parts = (re.sub(r"\s+([.!?])$", r"\1", s.strip()) for s in _SENTENCE.split(text))
    return [s for s in parts if s]


# --- anatomy placement ---------------------------------------------------------------------

_SKIP = {
    "and",
    "the",
    "of",
    "in",
    "view",
    "other",
    "with",
    "right",
    "left",
    "upper",
    "lower",
    "structures",
    "organs",
    "spaces",
    "small",
    "mild",
    "bilateral",
}
# heading word (4-letter stem) -> word prefixes in a sentence that belong under it (our list)
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "line": (
        "tube",
        "line",
        "lines",
        "catheter",
        "pacemaker",
        "lead",
        "wire",
        "port",
        "picc",
        "drain",
        "device",
        "stent",
        "endotracheal",
        "nasogastric",
        "enteric",
        "sternotomy",
    ),
    "tube": ("tube", "catheter", "endotracheal", "nasogastric", "enteric"),
    "lung": (
        "lung",
        "pulmon",
        "lobe",
        "lobar",
        "airspace",
        "consolidat",
        "opacit",
        "nodul",
        "atelecta",
        "pneumon",
        "emphysem",
        "bronch",
        "airway",
        "infiltrat",
        "hyperinfl",
        "interstiti",
        "perihilar",
        "granulom",
        "parenchyma",
        "alveol",
    ),
    "airw": ("airway", "bronch", "trachea"),
    "pleu": (
        "pleur",
        "effusion",
        "pneumothora",
        "costophrenic",
        "hydropneumo",
        "hemothora",
        "diaphragm",  # reported with the pleura (costophrenic angles and hemidiaphragms)
        "hemidiaphragm",
    ),
    "hear": ("heart", "cardi", "pericard", "cardiomediast", "aort"),
    "medi": ("mediastin", "hila", "hilum", "hilar", "trachea", "cardiomediast", "lymph"),
    "hila": ("hila", "hilum", "hilar", "lymph"),
    "grea": ("aort", "vessel", "arter", "vena", "pulmonary arter"),
    "bone": (
        "bone",
        "osseous",
        "rib",
        "ribs",
        "clavic",
        "spine",
        "spinal",
        "vertebr",
        "fracture",
        "skelet",
        "scapul",
        "humer",
        "stern",
        "osteo",
        "lytic",
        "sclerotic",
        "degenerative",
        "marrow",
        "thoracic spine",
        "bony",
    ),
    "soft": ("soft tissue", "subcutaneous", "soft-tissue", "breast"),
    "ches": ("chest wall", "rib", "ribs", "stern", "clavic"),
    "wall": ("chest wall",),
    "abdo": ("abdom", "liver", "spleen", "adrenal", "kidney", "stomach", "subdiaphragm"),
    "brai": (
        "brain",
        "parenchym",
        "cortex",
        "cortical",
        "gray",
        "grey",
        "infarct",
        "hemorrhag",
        "haemorrhag",
        "mass effect",
        "midline shift",
        "cerebr",
        "cerebell",
        "basal ganglia",
        "thalam",
        "lacun",
        "gyri",
    ),
    "pare": ("parenchym",),
    "whit": ("white matter", "periventric", "hyperintens", "demyelin", "leukoaraios"),
    "vent": ("ventric", "cistern", "hydroceph", "sulci"),
    "cist": ("cistern",),
    "extr": ("extra-axial", "extraaxial", "subdural", "epidural", "subarachnoid"),
    "skul": ("skull", "calvari", "scalp"),
    "sinu": ("sinus", "mastoid", "orbit", "paranasal"),
    "mast": ("mastoid",),
    "orbi": ("orbit", "globe"),
    "vasc": ("flow void", "vascular", "arter", "aneurysm"),
    "pitu": ("pituitar", "sella", "midline", "corpus callos"),
    "live": ("liver", "hepat"),
    "gall": ("gallbladder", "biliary", "bile", "cholecyst", "gallstone"),
    "panc": ("pancrea",),
    "sple": ("splen", "spleen"),
    "adre": ("adrenal",),
    "kidn": ("kidney", "renal", "ureter", "hydroneph"),
    "blad": ("bladder", "uter", "prostat", "ovar", "pelvi"),
    "bowe": ("bowel", "colon", "append", "diverticul", "mesenter", "stomach", "duoden"),
    "lymp": ("lymph", "adenopathy", "node", "nodes", "peritone", "ascites"),
    "vess": ("aort", "vessel", "arter", "vein", "venous", "vascular", "iliac"),
    "alig": ("alignment", "lordosis", "kyphosis", "scoliosis", "listhesis"),
    "vert": ("vertebr", "marrow", "endplate", "body height"),
    "disc": ("disc", "disk", "intervertebral"),
    "cana": ("canal", "cord", "thecal", "conus"),
    "fora": ("foramin", "foramen", "nerve root"),
    "para": ("paraspinal", "paravertebral"),
    "cart": ("cartilage", "chondral", "chondro"),
    "meni": ("menisc", "labr"),
    "liga": ("ligament", "tendon", "acl", "pcl", "rotator cuff"),
    "flui": ("effusion", "synov", "fluid", "baker"),
    "musc": ("muscle", "muscul"),
}


# heading words too generic to place a sentence by themselves (their synonyms still do)
_GENERIC = {
    "chest",
    "wall",
    "soft",
    "tissues",
    "tissue",
    "great",
    "pelvic",
    "space",
    "midline",
    "bones",
}


def _stems(words: str) -> list[str]:
    return [w[:4] for w in re.findall(r"[a-z]+", words.lower()) if w not in _SKIP and len(w) > 2]


def _keywords(heading: str) -> tuple[str, ...]:
    words = [w for w in re.findall(r"[a-z]+", heading.lower()) if w not in _SKIP and len(w) > 2]
    found: list[str] = [w[: max(4, len(w) - 2)] for w in words if w not in _GENERIC]
    for w in words:
        found.extend(_SYNONYMS.get(w[:4], ()))
    return tuple(dict.fromkeys(found))


def _score(text: str, heading: str) -> tuple[int, int] | None:
    """(where the first anatomy word of ``heading`` is in ``text``, how many there are)."""
    low = text.lower()
    hits: list[int] = []
    for key in _keywords(heading):
        pattern = r"\b" + re.escape(key) + ("" if " " in key else r"[a-z-]*")
        hits.extend(m.start() for m in re.finditer(pattern, low))
    return (min(hits), -len(hits)) if hits else None


def place(text: str, headings: Sequence[str]) -> str | None:
    """The anatomy heading ``text`` belongs under, or None: the heading whose anatomy words
    come first in the sentence (its subject, usually), then the one with most of them."""
    best, score = None, None
    for heading in headings:
        s = _score(text, heading)
        if s is not None and (score is None or s < score):
            best, score = heading, s
    return best


def _match_heading(name: str, headings: Sequence[str]) -> str | None:
    """``name`` as one of ``headings``: exact, else by its own words ("Heart/Mediastinum" ->
    "Heart and mediastinum", "Right lung" -> "Lungs")."""
    key = name.strip().lower()
    for heading in headings:
        if heading.lower() == key:
            return heading
    mine = set(_stems(key))
    if not mine:
        return None
    best, overlap = None, 0
    for heading in headings:
        common = len(mine & set(_stems(heading)))
        if common > overlap:
            best, overlap = heading, common
    if overlap * 2 >= len(mine):
        return best
    # A one-word organ heading that names none of the outline's words ("Diaphragm:", as the
    # MedGemma quick-start answer writes it): placed by the anatomy table, as a sentence is.
    return place(key, headings) if len(mine) == 1 else None


# --- sections --------------------------------------------------------------------------------


def _split_inline(line: str) -> list[str]:
    """A line with headings inside it, split before each (``[/INST] **Findings:** ...``)."""
    line = strip_role(line)
    parts = [p for p in _INLINE.split(line) if p and p.strip()]
    return [strip_role(p) for p in parts] or [line]


def _heading(line: str, headings: Sequence[str]) -> tuple[str, str, str] | None:
    """(section, heading as written, rest of the line) when ``line`` starts with a section
    heading: followed by a colon, or alone on its line."""
    match = _HEAD.match(line)
    if not match:
        return None
    name, colon, rest = match.group(1), match.group(2), match.group(3)
    section = section_of(name)
    markdown = line.lstrip().startswith(("#", "**", "__"))
    if section is None and markdown and not rest.strip(" *_#:"):
        # "## X-ray Report Findings": a Markdown heading named by its last words; any other
        # Markdown heading alone on its line opens an "other" block (kept, with a note)
        words = clean_heading(name).split()
        tail = [section_of(" ".join(words[-k:])) for k in (2, 1) if len(words) > k]
        section = next((s for s in tail if s), None) or "other"
        if section == "other" and _match_heading(name, headings):
            return None  # an anatomy heading, read by the Findings block
    if section is None or (not colon and rest.strip(" *_#:")):
        return None
    return section, name.strip(), rest.strip()


# "**Image 1 (Left):**" / "**Image 2 (Right):**": MedGemma 1.5's longitudinal notebook answer
# (Google-Health/medgemma cxr_longitudinal_comparison_with_hugging_face.ipynb, cell
# 1S8x3TYZpY4X) describes each image under its own heading, the prior first as it was sent
# (and as RadLens sends a comparison: models.tasks.prepare._prior_first).
_IMAGE_HEAD = re.compile(
    r"^\s*(?:#{1,6}\s*)?[*_]{0,3}\s*(?P<name>(?:image|film|radiograph|x-?ray|study|exam|cxr)"
    r"\s*#?\s*(?P<number>[12])|(?P<word>first|second|prior|previous|earlier|current|latest|"
    r"most recent|follow-up)\s+(?:image|film|radiograph|x-?ray|study|exam|cxr))\b[^:\n]{0,30}?"
    r"[*_]{0,3}\s*:\s*[*_]{0,3}\s*(?P<rest>.*)$",
    re.IGNORECASE,
)
_PRIOR_WORDS = ("first", "prior", "previous", "earlier")


def _image_heading(line: str) -> tuple[str, str, str] | None:
    """("prior image" or "current image", heading, rest) for a per-image heading."""
    match = _IMAGE_HEAD.match(line)
    if not match:
        return None
    word = (match.group("word") or "").lower()
    prior = match.group("number") == "1" or word in _PRIOR_WORDS
    name = clean_heading(match.group("name"))
    return ("prior image" if prior else "current image"), name, match.group("rest").strip()


def _sections(text: str, headings: Sequence[str]) -> list[tuple[str, str, list[str]]]:
    blocks: list[tuple[str, str, list[str]]] = [("preamble", "", [])]
    for raw in text.replace("\r\n", "\n").split("\n"):
        for line in _split_inline(raw):
            found = _image_heading(line) or _heading(line, headings)
            if found:
                section, name, rest = found
                blocks.append((section, name, [rest] if rest else []))
            elif line.strip():
                blocks[-1][2].append(line)
    return blocks


class _Reader:
    def __init__(self, headings: Sequence[str], compare: bool = False) -> None:
        self.headings = list(headings)
        self.compare = compare
        self.findings: list[tuple[str, str]] = []
        self.impression: list[str] = []
        self.recommendations: list[str] = []
        self.technique: list[str] = []
        self.comparison: list[str] = []
        self.notes: list[str] = []
        self.dropped: list[str] = []
        self.disclaimers: list[str] = []
        self.empty_headings: list[str] = []

    def keep(self, line: str) -> str | None:
        """The clean text of ``line``, or None when it is an instruction or a disclaimer (each
        recorded)."""
        text = clean_text(line)
        if not text or not re.search(r"[A-Za-z0-9]", text):
            return None
        if is_instruction(line) or is_instruction(text):
            self.dropped.append(text)
            return None
        if is_disclaimer(text) and len(split_sentences(text)) == 1:
            self.disclaimers.append(text)  # longer lines are split by the caller
            return None
        return text

    def other(self, text: str, why: str) -> None:
        self.findings.append(("Other", text))
        self.notes.append(f"{why} kept under Other: {text[:60]}")

    def prose(self, text: str, under: str | None = None) -> None:
        """Sentences of a paragraph, each placed by anatomy (or under ``under``); a summary
        sentence ("In summary, the chest X-ray is normal.", as MedGemma's quick-start answers
        close their findings) goes to the Impression."""
        for sentence in split_sentences(text):
            if summary := _SUMMARY_LEAD.match(sentence):
                rest = sentence[summary.end() :]
                self.impression.append(rest[:1].upper() + rest[1:])
            elif is_recommendation(sentence):
                self.recommendations.append(sentence)
            elif is_disclaimer(sentence):
                self.disclaimers.append(sentence)
            elif under:
                self.findings.append((under, sentence))
            else:
                heading = place(sentence, self.headings)
                if heading:
                    self.findings.append((heading, sentence))
                else:
                    self.other(sentence, "finding line outside the expected headings")

    def findings_block(self, lines: list[str]) -> None:
        current: str | None = None
        open_line = False  # the last finding may run on (no full stop yet)
        for raw in lines:
            text = self.keep(raw)
            if text is None:
                continue
            match = _HEADING_LINE.match(text)
            heading = _match_heading(match.group(1), self.headings) if match else None
            if match and heading:
                rest = match.group(2).strip()
                if rest:
                    self.findings.append((heading, rest))
                    current, open_line = None, not rest.endswith((".", "!", "?"))
                else:
                    current, open_line = heading, False
                    self.empty_headings.append(heading)
                continue
            standalone = _match_heading(text.rstrip(":"), self.headings)
            if standalone and len(text) <= 60 and not text.endswith("."):
                current, open_line = standalone, False  # "**Lungs**" alone on its line
                self.empty_headings.append(standalone)
                continue
            if self.findings and open_line and (text[0].islower() or not match):
                prev_heading, prev_text = self.findings[-1]  # a heading's text run on
                if text[0].islower():
                    self.findings[-1] = (prev_heading, f"{prev_text} {text}".strip())
                    open_line = not text.endswith((".", "!", "?"))
                    continue
            if current:
                if current in self.empty_headings:
                    self.empty_headings.remove(current)
                self.prose(text, under=current)
            else:
                self.prose(text)
            open_line = False

    def impression_block(self, lines: list[str]) -> None:
        for raw in lines:
            text = self.keep(raw)
            if text is None:
                continue
            if self.impression and text[0].islower():
                self.impression[-1] = f"{self.impression[-1]} {text}"
                continue
            kept: list[str] = []  # one item per line; its disclaimer and advice go elsewhere
            self.sentences(text, kept.append)
            if kept:
                self.impression.append(" ".join(kept))

    def preamble(self, lines: list[str], has_findings: bool) -> None:
        """Text before the first heading: chatter becomes a note; clinical text is read as
        findings when there is no Findings heading, else kept under Other."""
        clinical = []
        for raw in lines:
            text = clean_text(raw)
            if text and is_chatter(text):
                self.notes.append(f"the model's preamble kept as a note: {text[:80]}")
            else:
                clinical.append(raw)
        if not has_findings:
            self.findings_block(clinical)
            return
        for raw in clinical:
            kept = self.keep(raw)
            if kept:
                self.other(kept, "text before the first heading")

    def block(self, section: str, name: str, lines: list[str]) -> None:
        if section == "prior image" and self.compare:  # what the prior showed: Comparison
            kept = [t for t in (self.keep(raw) for raw in lines) if t]
            if kept:
                self.comparison.append(f"Prior image: {' '.join(kept)}")
        elif section in ("findings", "prior image", "current image"):
            self.findings_block(lines)
        elif section == "impression":
            self.impression_block(lines)
        elif section == "caveats":
            self.caveats_block(lines)
        else:
            self.plain_block(section, name, lines)

    def plain_block(self, section: str, name: str, lines: list[str]) -> None:
        lists = {
            "recommendations": self.recommendations,
            "technique": self.technique,
            "comparison": self.comparison,
        }
        for raw in lines:
            text = self.keep(raw)
            if not text:
                continue
            if section in lists:
                lists[section].append(text)
            elif section == "indication":  # RadLens takes the indication from the user
                self.notes.append(f"the model's indication kept as a note: {text}")
            else:  # "other": an explanation, notes, an unknown Markdown heading
                self.sentences(text, lambda t: self.other(t, f"text under {name!r}"))

    def caveats_block(self, lines: list[str]) -> None:
        """The model's caveats about its reading, not the patient (see models.report.sections):
        notes; a plain paragraph after the caveat list is read as prose again."""
        listed = False
        for raw in lines:
            text = self.keep(raw)
            if not text:
                continue
            item = bool(_LIST_ITEM.match(raw))
            if listed and not item:
                self.prose(text)
                continue
            listed = listed or item
            self.sentences(
                text, lambda t: self.notes.append(f"the model's caveat kept as a note: {t}")
            )

    def sentences(self, text: str, rest: Callable[[str], None]) -> None:
        """Disclaimers and recommendations to their places; every other sentence to ``rest``."""
        for sentence in split_sentences(text):
            if is_disclaimer(sentence):
                self.disclaimers.append(sentence)
            elif is_recommendation(sentence):
                self.recommendations.append(sentence)
            else:
                rest(sentence)

    def finish(self, seen: set[str]) -> ParsedReport:
        if self.dropped:
            self.notes.append(
                f"{len(self.dropped)} echoed instruction line(s) dropped: "
                + "; ".join(d[:50] for d in self.dropped)
            )
        self.notes += [f"the model's disclaimer kept as a note: {t}" for t in self.disclaimers]
        if self.empty_headings:
            self.notes.append(
                f"{len(self.empty_headings)} heading(s) without text: "
                + ", ".join(self.empty_headings)
            )
        if "findings" not in seen:
            self.notes.append("no Findings section in the model's text")
        if "impression" not in seen:
            self.notes.append("no Impression section in the model's text")
        return ParsedReport(
            technique=" ".join(self.technique),
            comparison=" ".join(self.comparison),
            findings=tuple((h, t) for h, t in self.findings if t),
            impression=tuple(self.impression),
            notes=tuple(self.notes),
            recommendations=tuple(self.recommendations),
        )

    def read(self, blocks: list[tuple[str, str, list[str]]]) -> ParsedReport:
        seen = {section for section, _, _ in blocks if section != "preamble"}
        if "current image" in seen or ("prior image" in seen and not self.compare):
            seen.add("findings")  # per-image headings hold the findings
        for section, name, lines in blocks:
            if section == "preamble":
                self.preamble(lines, "findings" in seen)
            else:
                self.block(section, name, lines)
        return self.finish(seen)


def parse_report_text(
    text: str, headings: Sequence[str], *, compare: bool = False
) -> ParsedReport:
    """Split ``text`` into Technique, Comparison, Findings (by ``headings``), Impression and
    Recommendations; what fits none is kept under "Other" with a note. ``compare``: the text
    answers a comparison, whose first image is the prior (its description goes to Comparison)."""
    reader = _Reader(headings, compare)
    echoed = _ECHO_END.search(text)
    if echoed:  # LLaVA-style "[INST] <the prompt> [/INST] <the answer>": the prompt is dropped
        prompt = text[: echoed.end()]
        text = text[echoed.end() :]
        count = sum(1 for line in prompt.split("\n") if clean_text(strip_role(line)))
        reader.notes.append(f"echoed prompt before {echoed.group(1)} dropped ({count} line(s))")
    return reader.read(_sections(text, headings))


def parse_change(text: str) -> tuple[str, str | None]:
    """``"effusion [improved]"`` -> ``("effusion", "improved")``; the last bracket wins."""
    matches = list(_CHANGE.finditer(text))
    if not matches:
        return text.strip(), None
    cleaned = _CHANGE.sub("", text)
    cleaned = re.sub(r"\s+([.,;:!?])", r"\1", cleaned)  # "effusion [improved]." -> "effusion."
    cleaned = re.sub(r"\s{2,}", " ", cleaned).strip().rstrip(",;").strip()
    return cleaned, matches[-1].group(1).lower()


# Change words, when a comparison finding carries no [tag]: real longitudinal answers say "more
# pronounced opacity throughout both lungs" (MedGemma 1.5's longitudinal notebook, cell
# 1S8x3TYZpY4X), not "[worse]". MS-CXR-T, on which MedGemma 1.5's card reports comparison
# accuracy, grades change as improved / stable / worsened. Read only when exactly one kind of
# change is named, and never through a negation ("no new", "not increased").
_CHANGE_WORDING: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (change, re.compile(pattern, re.IGNORECASE))
    for change, pattern in (
        ("new", r"\b(?:new(?:ly)?|interval (?:development|appearance))\b"),
        (
            "worse",
            r"\b(?:increas\w*|worsen\w*|progress\w*|enlarg(?:ed|ing)|larger|"
            r"more (?:pronounced|extensive|prominent|widespread|dense|diffuse))\b",
        ),
        (
            "improved",
            r"\b(?:decreas\w*|improv\w*|regress\w*|smaller|less (?:pronounced|extensive|"
            r"prominent|widespread|dense)|partial(?:ly)? resol\w*)\b",
        ),
        ("unchanged", r"\b(?:unchanged|stable|no (?:interval |significant )?change|similar)\b"),
        ("resolved", r"\b(?:(?<!partially )resolved|(?<!partial )resolution)\b"),
    )
)
_NEGATED_CHANGE = re.compile(
    r"\b(?:no|not|without)\s+(?:\w+\s+)?(?:new|increas|worsen|enlarg)", re.I
)


def change_from_wording(text: str) -> str | None:
    """The one kind of change ``text`` names in words ("increased", "stable"...), or None."""
    if _NEGATED_CHANGE.search(text):
        return None
    named = [change for change, pattern in _CHANGE_WORDING if pattern.search(text)]
    return named[0] if len(named) == 1 else None


def parse_yes_no(text: str) -> bool | None:
    """The answer of a yes/no probe: the "Final Answer:" line, else a lone yes/no, else None."""
    final: list[str] = _FINAL.findall(text)
    if final:
        return bool(final[-1].lower() == "yes")
    words = {str(w).lower() for w in _YES_NO.findall(text)}
    if len(words) == 1:
        return words.pop() == "yes"
    return None


# --- the editable text of a report, and reading the clinician's edits back -------------------

STATUS_MARKS = {
    "reported": "",
    "verified": "[verified] ",
    "unverified": "[unverified] ",
    "unable_to_assess": "[unable to assess] ",
}
_LEADING_MARK = re.compile(r"^\s*\[(verified|unverified|unable to assess)\]\s*", re.IGNORECASE)
EDITED = "edited by the clinician"


def strip_mark(text: str) -> str:
    """A finding's text without the status mark the editable text puts before it."""
    return _LEADING_MARK.sub("", text).strip()
