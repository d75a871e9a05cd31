"""PDFs opened with pikepdf before they are accepted, and searched for active content."""

from __future__ import annotations

import io

import pikepdf
import pytest

from dokportal.files.checks import Unreadable
from dokportal.files.pdf_check import inspect_pdf
from tests.support import documents

LETTER = documents.pdf()


def saved(pdf: pikepdf.Pdf, **options: object) -> bytes:
    out = io.BytesIO()
    pdf.save(out, **options)  # type: ignore[arg-type]
    return out.getvalue()


def test_a_plain_letter_has_no_active_content() -> None:
    assert inspect_pdf(LETTER) == ()
    assert inspect_pdf(documents.padded_pdf(100_000)) == ()


def test_a_go_to_open_action_is_harmless_a_script_is_not() -> None:
    with pikepdf.open(io.BytesIO(LETTER)) as pdf:
        pdf.Root.OpenAction = pikepdf.Dictionary(S=pikepdf.Name.GoTo, D=pikepdf.Array())
        assert inspect_pdf(saved(pdf)) == ()
        pdf.Root.OpenAction = pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS="app.alert(1)")
        # Hidden in a compressed object stream, as many writers store objects.
        data = saved(pdf, object_stream_mode=pikepdf.ObjectStreamMode.generate)
    assert b"JavaScript" not in data  # not findable by searching the bytes
    assert inspect_pdf(data) == ("javascript", "open-action")


def test_an_escaped_name_is_still_found() -> None:
    with pikepdf.open(io.BytesIO(LETTER)) as pdf:
        pdf.pages[0].obj.AA = pikepdf.Dictionary(
            O=pikepdf.Dictionary(S=pikepdf.Name.Launch, F="calc.exe")
        )
        data = saved(pdf, compress_streams=False)
    escaped = data.replace(b"/Launch", b"/L#61unch")
    assert inspect_pdf(escaped) == ("additional-actions", "launch")


@pytest.mark.parametrize(
    "raw",
    [
        LETTER[: len(LETTER) // 2],
        LETTER[:-7],
        LETTER + b"\0" * 2000,  # a payload after the end: the end marker is too far back
        b"%PDF-1.7\n" + b"garbage " * 100 + b"\n%%EOF\n",
    ],
)
def test_damaged_pdfs_are_unreadable(raw: bytes) -> None:
    with pytest.raises(Unreadable):
        inspect_pdf(raw)
