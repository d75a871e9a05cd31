"""The activation letter: letterhead, one-time code, portal URL and its QR code, and short
instructions in the customer's language and in German."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fpdf import FPDF

from dokportal.i18n import N_
from dokportal.staff.totp import qr_png

TITLE = N_("Your access to the document portal")
VALIDITY = N_("The code works once and until %(date)s.")
STEPS = (
    N_("Open the address below or scan the QR code with your phone."),
    N_("Enter your customer number and the activation code."),
    N_("Choose your own password. From then on you sign in with your customer number and it."),
)


@dataclass(frozen=True)
class LetterData:
    tenant: str
    letterhead: str
    customer_name: str
    customer_number: str
    code: str
    url: str
    valid_until: str
    valid_until_de: str
    date: str


def activation_letter(
    data: LetterData,
    *,
    lang: str,
    rtl: bool,
    font_path: Path,
    tr: Callable[[str], str],
    tr_de: Callable[[str], str],
) -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_title(tr_de(TITLE))
    pdf.set_author(data.tenant)
    pdf.set_creator("Dokportal")
    pdf.add_page()
    shaped = font_path.exists()
    if shaped:
        pdf.add_font("body", fname=str(font_path))
        pdf.set_font("body", size=11)
    else:  # pragma: no cover - only without Debian's fonts
        pdf.set_font("helvetica", size=11)
    width = pdf.epw

    def direction(right_to_left: bool) -> str:
        if shaped:
            pdf.set_text_shaping(
                use_shaping_engine=True, direction="rtl" if right_to_left else "ltr"
            )
        return "R" if right_to_left else "L"

    def line(text: str, *, size: int = 11, height: float = 6, align: str = "L") -> None:
        pdf.set_font_size(size)
        pdf.multi_cell(width, height, text, align=align, new_x="LMARGIN", new_y="NEXT")

    # Letterhead.
    direction(False)
    line(data.tenant, size=16, height=8)
    for part in data.letterhead.split("|"):
        if part.strip():
            line(part.strip(), size=9, height=4.5)
    pdf.ln(2)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + width, pdf.get_y())
    pdf.ln(6)
    line(data.customer_name)
    line(f"{tr_de('Customer number')}: {data.customer_number}")
    line(data.date, align="R")
    pdf.ln(4)

    def block(t: Callable[[str], str], valid_until: str, right_to_left: bool) -> None:
        align = direction(right_to_left)
        line(t(TITLE), size=14, height=8, align=align)
        for number, step in enumerate(STEPS, start=1):
            # fpdf2 shapes runs but has no paragraph direction: in right-to-left text the
            # number goes last in logical order so that it shows on the right.
            text = f"{t(step)} .{number}" if right_to_left else f"{number}. {t(step)}"
            line(text, align=align)
        line(
            t(VALIDITY) % {"date": valid_until},
            align=align,
        )
        pdf.ln(3)

    if lang != "de":
        block(tr, data.valid_until, rtl)
    block(tr_de, data.valid_until_de, False)

    direction(False)
    line(f"{tr_de('Activation code')}:", size=11)
    line(data.code, size=22, height=12)
    line(f"{tr_de('Customer number')}: {data.customer_number}", size=13, height=8)
    pdf.ln(2)
    line(data.url, size=12, height=7)
    y = pdf.get_y() + 2
    pdf.image(io.BytesIO(qr_png(data.url)), x=pdf.l_margin, y=y, w=40, h=40)
    return bytes(pdf.output())
