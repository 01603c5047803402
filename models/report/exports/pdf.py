"""A report as PDF (reportlab): the Markdown's content, laid out for print, with key images.

Every page carries the disclaimer, the model and the prompt version in its footer. With a
``series``, each slice that has boxes (the first four, in report order) is shown as the viewer
shows it (:func:`dicom_io.display.render.render_slice`, the series' default window, square pixels)
with its boxes drawn and numbered; a caption lists the numbers' labels. Without a series the PDF is
text only. Box corners are source pixel edges; the rendered slice may be resampled to square
pixels, so corners are scaled by the rendered size over the stored size, axis by axis.

Pixels are shown as stored: text burned into them (a patient's name on an ultrasound or a
secondary capture) stays, and the caption says so when the series is flagged for it.
The file is reproducible (reportlab's ``invariant`` mode: no timestamp, a fixed document ID).
:data:`EXPORTER` is its entry in :data:`models.report.exports.EXPORTERS` (``.pdf``).
"""

from __future__ import annotations

import html
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.registry.capabilities import not_offered_notes
from models.report.draft import Finding, FindingStatus, Report
from models.report.exports.base import ExportContext, Exporter
from models.report.exports.markdown import (
    change_suffix,
    finding_details,
    grouped,
    provenance_lines,
    status_prefix,
)

if TYPE_CHECKING:
    from PIL import Image as PILImage

    from dicom_io.study import Series
    from models.grounding.box import Box

__all__ = ["EXPORTER", "MAX_KEY_IMAGES", "key_slices", "render_key_image", "to_pdf"]

MAX_KEY_IMAGES = 4
_IMAGE_SIDE = 512  # px: key images are drawn at least this large before they are placed
_COLOURS = ((255, 64, 64), (255, 200, 0), (0, 200, 255), (120, 255, 120), (255, 120, 255))
_FONT_PATHS = (
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "DejaVuSans"),
    ("/usr/share/fonts/TTF/DejaVuSans.ttf", "DejaVuSans"),
    ("/Library/Fonts/DejaVuSans.ttf", "DejaVuSans"),
)


def _fonts() -> tuple[str, str]:
    """(regular, bold) font names: DejaVu Sans when installed, else reportlab's Vera (both are
    TrueType, embedded, with far more than Latin-1)."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    registered = pdfmetrics.getRegisteredFontNames()
    for path, name in _FONT_PATHS:
        bold = path.replace(".ttf", "-Bold.ttf")
        if Path(path).is_file() and Path(bold).is_file():
            if name not in registered:
                pdfmetrics.registerFont(TTFont(name, path))
                pdfmetrics.registerFont(TTFont(f"{name}-Bold", bold))
            return name, f"{name}-Bold"
    if "Vera" not in registered:
        pdfmetrics.registerFont(TTFont("Vera", "Vera.ttf"))
        pdfmetrics.registerFont(TTFont("VeraBd", "VeraBd.ttf"))
    return "Vera", "VeraBd"


def _styles(regular: str, bold: str) -> dict[str, Any]:
    from reportlab.lib import colors
    from reportlab.lib.styles import ParagraphStyle

    base = ParagraphStyle("body", fontName=regular, fontSize=10, leading=13, spaceAfter=3)
    return {
        "body": base,
        "title": ParagraphStyle("title", base, fontName=bold, fontSize=16, leading=20),
        "h2": ParagraphStyle("h2", base, fontName=bold, fontSize=13, leading=16, spaceBefore=8),
        "h3": ParagraphStyle("h3", base, fontName=bold, fontSize=11, leading=14, spaceBefore=4),
        "item": ParagraphStyle("item", base, leftIndent=14, bulletIndent=2),
        "detail": ParagraphStyle(
            "detail", base, fontSize=8.5, leading=11, leftIndent=28, textColor=colors.dimgrey
        ),
        "small": ParagraphStyle("small", base, fontSize=8.5, leading=11),
        "warning": ParagraphStyle(
            "warning",
            base,
            fontName=bold,
            textColor=colors.HexColor("#9b0000"),
            borderColor=colors.HexColor("#9b0000"),
            borderWidth=0.8,
            borderPadding=4,
            spaceBefore=4,
            spaceAfter=8,
        ),
    }


def _esc(text: str) -> str:
    return html.escape(text, quote=False)


def _display_order(report: Report) -> list[Finding]:
    """Findings as the document shows them: grouped by section, then the impression."""
    return [f for _, group in grouped(report.findings) for f in group] + list(report.impression)


def _numbered_boxes(report: Report) -> list[tuple[int, Box]]:
    """Every box with its number (1-based, in the order the document lists them)."""
    boxes = [box for finding in _display_order(report) for box in finding.boxes]
    return list(enumerate(boxes, start=1))


def key_slices(report: Report, limit: int = MAX_KEY_IMAGES) -> list[int]:
    """The slices that have boxes, in the order the document lists them, at most ``limit``."""
    slices: list[int] = []
    for _, box in _numbered_boxes(report):
        if box.slice not in slices:
            slices.append(box.slice)
    return slices[:limit]


def _merged(boxes: list[tuple[int, Box]]) -> list[tuple[str, Box]]:
    """Boxes with the same corners drawn once, tagged with all their numbers ("1,3")."""
    tags: dict[tuple[float, float, float, float], list[int]] = {}
    first: dict[tuple[float, float, float, float], Box] = {}
    for number, box in boxes:
        key = (box.x0, box.y0, box.x1, box.y1)
        tags.setdefault(key, []).append(number)
        first.setdefault(key, box)
    return [(",".join(map(str, tags[key])), box) for key, box in first.items()]


def render_key_image(series: Series, index: int, boxes: list[tuple[int, Box]]) -> PILImage.Image:
    """Slice ``index`` as the viewer shows it, enlarged, with ``boxes`` drawn and numbered."""
    from PIL import Image, ImageDraw, ImageFont

    from dicom_io.display.render import render_slice

    image = Image.fromarray(render_slice(series, index)).convert("RGB")
    rows, columns = series.shape[1], series.shape[2]
    zoom = max(1.0, _IMAGE_SIDE / max(image.width, image.height))
    if zoom > 1.0:
        size = (round(image.width * zoom), round(image.height * zoom))
        image = image.resize(size, Image.Resampling.BILINEAR)
    sx, sy = image.width / columns, image.height / rows  # source pixels -> drawn pixels
    draw = ImageDraw.Draw(image)
    line = max(2, round(max(image.size) / 200))
    font = ImageFont.load_default(size=max(14, max(image.size) // 18))
    for n, (tag, box) in enumerate(_merged(boxes)):
        colour = _COLOURS[n % len(_COLOURS)]
        corners = (box.x0 * sx, box.y0 * sy, box.x1 * sx - 1, box.y1 * sy - 1)
        draw.rectangle(corners, outline=colour, width=line)
        left, top, right, bottom = draw.textbbox((0, 0), tag, font=font)
        w, h = right - left + 6, bottom - top + 6
        x = min(max(corners[0], 0), image.width - w)
        y = (
            corners[1] - h - 2
            if corners[1] - h - 2 >= 0
            else min(corners[3] + 2, image.height - h)
        )
        draw.rectangle((x, y, x + w, y + h), fill=(0, 0, 0))
        draw.text((x + 3 - left, y + 3 - top), tag, fill=colour, font=font)
    return image


def _finding_paragraphs(
    finding: Finding, bullet: str, first_box: int, styles: dict[str, Any]
) -> list[Any]:
    """The finding's line, then its flags and its boxes numbered from ``first_box``."""
    from reportlab.platypus import Paragraph

    prefix = status_prefix(finding, symbols=False)
    if prefix:
        colour = "#9b0000" if finding.status is not FindingStatus.VERIFIED else "#1b6e20"
        prefix = f'<font color="{colour}"><b>{_esc(prefix.strip())}</b></font> '
    text = _esc(" ".join(finding.text.split()) + change_suffix(finding))
    items = [Paragraph(prefix + text, styles["item"], bulletText=bullet)]
    details = finding_details(finding)
    flags = len(details) - len(finding.boxes)
    for k, line in enumerate(details):
        number = f"[{first_box + k - flags}] " if k >= flags else ""
        items.append(Paragraph(_esc(number + line), styles["detail"]))
    return items


def _text_flowables(report: Report, styles: dict[str, Any]) -> list[Any]:
    from reportlab.platypus import Paragraph

    body, h2 = styles["body"], styles["h2"]
    story: list[Any] = [
        Paragraph(_esc(report.title.strip() or "Draft report"), styles["title"]),
        Paragraph(_esc(report.disclaimer), styles["warning"]),
        Paragraph(f"<b>Technique:</b> {_esc(report.technique.strip() or 'not recorded')}", body),
    ]
    story += [Paragraph(f"<b>Boxes:</b> {_esc(n)}", body) for n in not_offered_notes(report.notes)]
    if report.indication.strip():
        story.append(Paragraph(f"<b>Indication:</b> {_esc(report.indication.strip())}", body))
    if report.comparison.strip():
        story.append(Paragraph(f"<b>Comparison:</b> {_esc(report.comparison.strip())}", body))
    story.append(Paragraph("Findings", h2))
    if not report.findings:
        story.append(Paragraph("No findings were reported.", body))
    box = 1
    for section, findings in grouped(report.findings):
        story.append(Paragraph(_esc(section), styles["h3"]))
        for finding in findings:
            story += _finding_paragraphs(finding, "•", box, styles)
            box += len(finding.boxes)
    story.append(Paragraph("Impression", h2))
    if not report.impression:
        story.append(Paragraph("No impression was given.", body))
    for number, finding in enumerate(report.impression, start=1):
        story += _finding_paragraphs(finding, f"{number}.", box, styles)
        box += len(finding.boxes)
    if report.recommendations:
        story.append(Paragraph("Recommendations", h2))
        for finding in report.recommendations:
            story += _finding_paragraphs(finding, "•", box, styles)
    return story


def _image_flowables(report: Report, series: Series, styles: dict[str, Any]) -> list[Any]:
    from reportlab.lib.units import cm
    from reportlab.platypus import Image, KeepTogether, Paragraph, Spacer

    slices = key_slices(report)
    if not slices:
        return []
    numbered = _numbered_boxes(report)
    story: list[Any] = [Paragraph("Key images", styles["h2"])]
    for index in slices:
        on_slice = [(n, b) for n, b in numbered if b.slice == index]
        picture = render_key_image(series, index, on_slice)
        buffer = BytesIO()
        picture.save(buffer, format="PNG")
        buffer.seek(0)
        side = 8.5 * cm
        scale = side / max(picture.width, picture.height)
        labels = "; ".join(f"[{n}] {b.label or 'box'}" for n, b in on_slice)
        caption = f"Slice {index} of {series.slice_count} (default window): {labels}."
        if series.flags.burned_in_annotation:
            caption += " The pixels may hold burned-in text; check before sharing."
        story.append(
            KeepTogether(
                [
                    Image(buffer, width=picture.width * scale, height=picture.height * scale),
                    Paragraph(_esc(caption), styles["small"]),
                    Spacer(1, 6),
                ]
            )
        )
    if len(key_slices(report, limit=1 << 30)) > MAX_KEY_IMAGES:
        story.append(
            Paragraph(
                f"Only the first {MAX_KEY_IMAGES} slices with boxes are shown.", styles["small"]
            )
        )
    return story


def _footer(report: Report, regular: str, bold: str) -> Any:
    from reportlab.lib import colors

    provenance = f"{report.model_id} · prompt version {report.prompt_version}"

    def draw(canvas: Any, doc: Any) -> None:
        width = doc.pagesize[0]
        canvas.saveState()
        canvas.setStrokeColor(colors.grey)
        canvas.line(doc.leftMargin, 1.55 * 28.35, width - doc.rightMargin, 1.55 * 28.35)
        canvas.setFont(bold, 7.5)
        canvas.setFillColor(colors.HexColor("#9b0000"))
        canvas.drawString(doc.leftMargin, 1.15 * 28.35, report.disclaimer)
        canvas.setFont(regular, 7)
        canvas.setFillColor(colors.black)
        canvas.drawString(doc.leftMargin, 0.8 * 28.35, provenance)
        canvas.drawRightString(width - doc.rightMargin, 0.8 * 28.35, f"Page {doc.page}")
        canvas.restoreState()

    return draw


def to_pdf(report: Report, series: Series | None = None, *, compress: bool = True) -> bytes:
    """The report as PDF bytes (A4); key images need ``series`` (see the module notes).

    ``compress=False`` leaves page content streams uncompressed (to inspect the text).
    """
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import cm
    from reportlab.platypus import Paragraph, SimpleDocTemplate

    regular, bold = _fonts()
    styles = _styles(regular, bold)
    story = _text_flowables(report, styles)
    if series is not None:
        story += _image_flowables(report, series, styles)
    story.append(Paragraph("Provenance", styles["h2"]))
    story += [Paragraph(_esc(line), styles["small"]) for line in provenance_lines(report)]
    buffer = BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=2 * cm,
        rightMargin=2 * cm,
        topMargin=1.8 * cm,
        bottomMargin=2.2 * cm,
        title=f"{report.title or 'Draft report'} (AI-generated draft)",
        author="RadLens",
        creator="RadLens",
        subject=report.disclaimer,
        invariant=True,
        pageCompression=1 if compress else 0,
    )
    footer = _footer(report, regular, bold)
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()


def _render(report: Report, context: ExportContext) -> bytes:
    return to_pdf(report, context.series)


EXPORTER = Exporter(".pdf", "PDF", _render)
