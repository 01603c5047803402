"""Is a finding normal, abnormal or uncertain? NegEx scoping with negspacy, offline.

Library: negspacy 1.1 (https://github.com/jenojp/negspacy, README "Installation and usage" and
"NegEx Patterns"; PyPI https://pypi.org/project/negspacy), a spaCy component implementing NegEx
(Chapman et al. 2001, https://doi.org/10.1006/jbin.2001.1029) over ``doc.ents``, with the
``en_clinical`` termset of preceding / following / pseudo negations and terminations. It runs on
a blank ``spacy.blank("en")`` pipeline, so nothing is downloaded. medspaCy (ConText) was tried
first: medspacy 1.3.1 pins ``spacy<3.8`` on Python 3.11, whose thinc needs ``numpy<2``, and
RadLens's DICOM decoders (pylibjpeg) need numpy 2, so it does not install cleanly here.

The pipeline (built once, :func:`_pipeline`):
- ``sentencizer``, then an ``entity_ruler`` that marks the target concepts: :data:`FINDINGS`
  (our own vocabulary of radiology findings, label ``FINDING``);
- ``negex`` with the ``en_clinical`` termset plus radiology cues it lacks ("without", "clear of",
  "negative for", "no evidence of", following "is seen"-less forms like "not seen", "absent");
- a second ``negex`` instance under another extension name (``hedged``) whose termset holds
  ConText-style *uncertainty* cues ("may represent", "cannot exclude", "possible",
  "suggestive of", "likely"...) instead of negations: the same NegEx scoping (cue, window to
  the end of the sentence or a termination word) marks hedged targets. negspacy has no
  uncertainty category of its own; reusing its scoping keeps one method for both.

A statement is *uncertain* when a target is hedged, else *abnormal* when a target is affirmed
(neither negated nor hedged), else *normal* when every target is negated. Without any target it
is normal when it says so ("The lungs are clear", "normal heart size", "unremarkable", "within
normal limits", "None."), else abnormal: a statement RadLens cannot read is kept for checking
rather than silently waved through.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

__all__ = ["ABNORMAL", "ASSERTIONS", "FINDINGS", "NORMAL", "UNCERTAIN", "classify"]

NORMAL, ABNORMAL, UNCERTAIN = "normal", "abnormal", "uncertain"
ASSERTIONS = (NORMAL, ABNORMAL, UNCERTAIN)

# Target concepts (our list): findings a radiologist reports present or absent, CXR/CT/MR.
FINDINGS = (
    "abnormality",
    "abnormalities",
    "acute abnormality",
    "acute process",
    "acute cardiopulmonary process",
    "acute cardiopulmonary abnormality",
    "acute intracranial abnormality",
    "acute intracranial process",
    "acute osseous abnormality",
    "acute fracture",
    "fracture",
    "fractures",
    "dislocation",
    "subluxation",
    "effusion",
    "effusions",
    "pleural effusion",
    "pleural effusions",
    "pericardial effusion",
    "joint effusion",
    "pneumothorax",
    "hydropneumothorax",
    "hemothorax",
    "consolidation",
    "consolidations",
    "focal consolidation",
    "airspace disease",
    "airspace opacity",
    "opacity",
    "opacities",
    "opacification",
    "infiltrate",
    "infiltrates",
    "pneumonia",
    "atelectasis",
    "edema",
    "pulmonary edema",
    "interstitial edema",
    "vascular congestion",
    "pulmonary vascular congestion",
    "congestion",
    "nodule",
    "nodules",
    "pulmonary nodule",
    "mass",
    "masses",
    "lesion",
    "lesions",
    "tumor",
    "tumour",
    "neoplasm",
    "metastasis",
    "metastases",
    "malignancy",
    "cardiomegaly",
    "enlarged cardiac silhouette",
    "enlargement",
    "widening",
    "mediastinal widening",
    "lymphadenopathy",
    "adenopathy",
    "lymph node enlargement",
    "emphysema",
    "fibrosis",
    "scarring",
    "bronchiectasis",
    "hyperinflation",
    "granuloma",
    "granulomas",
    "calcification",
    "calcifications",
    "cavitation",
    "cavity",
    "hernia",
    "hiatal hernia",
    "free air",
    "pneumoperitoneum",
    "free fluid",
    "ascites",
    "obstruction",
    "bowel obstruction",
    "dilatation",
    "dilation",
    "thickening",
    "wall thickening",
    "collection",
    "abscess",
    "stone",
    "stones",
    "calculus",
    "calculi",
    "hydronephrosis",
    "cyst",
    "cysts",
    "hemorrhage",
    "haemorrhage",
    "bleed",
    "hematoma",
    "infarct",
    "infarction",
    "ischemia",
    "stroke",
    "mass effect",
    "midline shift",
    "herniation",
    "hydrocephalus",
    "ventriculomegaly",
    "atrophy",
    "white matter lesions",
    "hyperintensity",
    "hyperintensities",
    "enhancement",
    "abnormal enhancement",
    "restricted diffusion",
    "extra-axial collection",
    "subdural",
    "aneurysm",
    "dissection",
    "embolism",
    "pulmonary embolism",
    "thrombus",
    "thrombosis",
    "stenosis",
    "occlusion",
    "herniated disc",
    "disc herniation",
    "disc bulge",
    "protrusion",
    "extrusion",
    "canal stenosis",
    "foraminal stenosis",
    "cord compression",
    "compression",
    "degenerative change",
    "degenerative changes",
    "spondylosis",
    "osteophytes",
    "sclerosis",
    "erosion",
    "erosions",
    "tear",
    "tears",
    "rupture",
    "sprain",
    "contusion",
    "bone bruise",
    "marrow edema",
    "osteopenia",
    "deformity",
    "scoliosis",
    "kyphosis",
    "tortuosity",
    "elevation",
    "blunting",
    "costophrenic angle blunting",
    "shift",
    "displacement",
    "foreign body",
    "pneumomediastinum",
    "subcutaneous emphysema",
    "collapse",
    "inflammation",
    "infection",
    "colitis",
    "appendicitis",
    "diverticulitis",
    "cholecystitis",
    "steatosis",
    "hepatomegaly",
    "splenomegaly",
    "sinusitis",
    "mucosal thickening",
    "air-fluid level",
    "air fluid level",
    "malposition",
    "misplaced",
    "disease",
    "small vessel disease",
    "heart failure",
    "airspace disease",
)

# ConText-style hypothetical / possible cues, in the shape of a negspacy termset.
_HEDGE_TERMSET: dict[str, list[str]] = {
    "pseudo_negations": ["no change", "not likely", "unlikely"],
    "preceding_negations": [
        "possible",
        "possibly",
        "probable",
        "probably",
        "likely",
        "may represent",
        "may be",
        "may reflect",
        "might represent",
        "might be",
        "could represent",
        "could be",
        "could reflect",
        "suggestive of",
        "suggesting",
        "suggests",
        "suspicious for",
        "suspicious of",
        "concerning for",
        "worrisome for",
        "cannot exclude",
        "can not exclude",
        "cannot rule out",
        "can not rule out",
        "cannot be excluded",
        "questionable",
        "question of",
        "equivocal",
        "suspected",
        "suspect",
        "presumed",
        "differential includes",
        "differential diagnosis includes",
        "consistent with possible",
        "raising the possibility of",
        "concern for",
        "vs",
        "versus",
        "or",
        "either",
        "indeterminate",
        "borderline",
    ],
    "following_negations": [
        "cannot be excluded",
        "can not be excluded",
        "not excluded",
        "not ruled out",
        "cannot be ruled out",
        "is suspected",
        "are suspected",
        "is possible",
        "is likely",
        "is questioned",
        "is not excluded",
        "may be present",
        "may be seen",
        "may be noted",
        "?",
        "versus",
        "vs",
    ],
    "termination": ["but", "however", "although", "though", "which", "otherwise", ";"],
}
# Radiology negation cues the en_clinical termset lacks.
_MORE_NEGATIONS: dict[str, list[str]] = {
    "preceding_negations": [
        "without",
        "without evidence of",
        "clear of",
        "negative for",
        "no evidence of",
        "no signs of",
        "no sign of",
        "no definite",
        "no acute",
        "no focal",
        "no obvious",
        "no significant",
        "no suspicious",
        "no large",
        "no visible",
        "no radiographic evidence of",
        "absence of",
        "there is no",
        "there are no",
        "no",
        "nor",
        "resolution of",
    ],
    "following_negations": [
        "not seen",
        "not identified",
        "not demonstrated",
        "not visualized",
        "not present",
        "absent",
        "is absent",
        "are absent",
        "has resolved",
        "have resolved",
        "resolved",
        "not appreciated",
        "not evident",
    ],
    "pseudo_negations": [
        "no change in",
        "not only",
        "no interval change in",
        "cannot exclude",
        "can not exclude",
        "cannot be excluded",
        "cannot rule out",
        "cannot be ruled out",
        "not excluded",
    ],
}
_NORMAL_PHRASES = re.compile(
    r"\b(?:unremarkable|normal|normally|within normal limits|wnl|clear|intact|patent|"
    r"preserved|maintained|symmetric|symmetrical|aerated|expanded|well[- ]expanded|"
    r"well[- ]defined|well[- ]delineated|sharp|sharply defined|"
    r"no acute|none|nil|negative|appropriate|satisfactory|midline|stable|unchanged|"
    r"not enlarged|not dilated|not displaced|in (?:good |normal )?position|"
    r"appropriately positioned|well[- ]positioned|age[- ]appropriate|grossly normal)\b",
    re.IGNORECASE,
)
_ABNORMAL_WORDS = re.compile(r"\babnormal(?:ly|ity|ities)?\b", re.IGNORECASE)


@lru_cache(maxsize=1)
def _pipeline() -> Any:
    """The spaCy pipeline, built once: blank English, sentences, targets, negation, hedges."""
    import spacy
    from negspacy import termsets
    from negspacy.negation import Negex  # noqa: F401  (registers the "negex" factory)

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    ruler: Any = nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": "LOWER"})
    ruler.add_patterns([{"label": "FINDING", "pattern": term} for term in FINDINGS])
    # A copy of negspacy's en_clinical termset with our cues added (its termset.add_patterns
    # would change the library's shared default in place).
    make_termset: Any = termsets.termset
    negations = {k: list(v) for k, v in make_termset("en_clinical").get_patterns().items()}
    for key, more in _MORE_NEGATIONS.items():
        negations[key] = list(dict.fromkeys(negations[key] + more))
    nlp.add_pipe("negex", name="negex", config={"neg_termset": negations})
    nlp.add_pipe(
        "negex",
        name="hedge",
        config={"neg_termset": _HEDGE_TERMSET, "extension_name": "hedged"},
    )
    return nlp


@lru_cache(maxsize=4096)
def classify(text: str) -> str:
    """``"normal"``, ``"abnormal"`` or ``"uncertain"`` for one finding's text."""
    clean = text.strip()
    if not clean:
        return ABNORMAL
    doc = _pipeline()(clean)
    targets = [ent for ent in doc.ents if ent.label_ == "FINDING"]
    if any(ent._.hedged and not ent._.negex for ent in targets):
        return UNCERTAIN
    if any(not ent._.negex for ent in targets):
        return ABNORMAL
    if targets:
        return NORMAL
    if _ABNORMAL_WORDS.search(clean) and not re.search(r"\bno\b|\bwithout\b", clean, re.I):
        return ABNORMAL
    return NORMAL if _NORMAL_PHRASES.search(clean) else ABNORMAL
