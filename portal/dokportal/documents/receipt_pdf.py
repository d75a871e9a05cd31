"""The downloadable receipt: proof of what was sent, when, and each file's fingerprint."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fpdf import FPDF

from dokportal.documents.services import Receipt


def receipt_pdf(
    receipt: Receipt,
    *,
    tenant: str,
    rtl: bool,
    font_path: Path,
    tr: Callable[[str], str],
    when: str,
    category: str,
    size: Callable[[int], str],
) -> bytes:
    """Render the receipt in the reader's language (DejaVu covers Arabic, Farsi, Cyrillic)."""
    pdf = FPDF(format="A4")
    pdf.set_title(f"{tr('Receipt')} {receipt.reference}")
    pdf.set_author(tenant)
    pdf.set_creator("Dokportal")
    pdf.add_page()
    if font_path.exists():
        pdf.add_font("body", fname=str(font_path))
        pdf.set_font("body", size=11)
        pdf.set_text_shaping(use_shaping_engine=True, direction="rtl" if rtl else "ltr")
    else:  # pragma: no cover - only without Debian's fonts; Latin text still works
        pdf.set_font("helvetica", size=11)
    align = "R" if rtl else "L"
    width = pdf.epw

    def line(text: str, height: float = 7, size_pt: int = 11) -> None:
        pdf.set_font_size(size_pt)
        pdf.multi_cell(width, height, text, align=align, new_x="LMARGIN", new_y="NEXT")

    line(tenant, size_pt=12)
    pdf.ln(4)
    line(tr("Receipt"), height=10, size_pt=18)
    line(f"{tr('Reference number')}: {receipt.reference}")
    line(f"{tr('Received')}: {when}")
    line(f"{tr('Kind of document')}: {category}")
    if receipt.message:
        line(f"{tr('Your message')}: {receipt.message}")
    pdf.ln(4)
    line(tr("Files"), size_pt=13)
    for number, item in enumerate(receipt.files, start=1):
        line(f"{number}. {item.name} ({size(item.size)})")
        pdf.set_font_size(8)
        pdf.multi_cell(
            width, 5, f"SHA-256: {item.sha256}", align="L", new_x="LMARGIN", new_y="NEXT"
        )
        if item.rejected:  # the virus scan refused it: the office will not open it
            line(tr("We could not accept the file %(name)s.") % {"name": item.name}, size_pt=9)
        elif item.content_type in ("image/jpeg", "image/png"):
            line(
                tr(
                    "Location data and camera details were removed from this photo before it "
                    "was stored."
                ),
                height=5,
                size_pt=8,
            )
        pdf.ln(1)
    pdf.ln(4)
    line(
        tr("Keep this receipt. The SHA-256 fingerprint shows that a file arrived unchanged."),
        size_pt=9,
    )
    return bytes(pdf.output())
