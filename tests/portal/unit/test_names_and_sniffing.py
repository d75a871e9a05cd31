"""Display names and content sniffing: the two guards on what a user claims a file is."""

from __future__ import annotations

import pytest

from dokportal.files.names import display_name, with_type_extension
from dokportal.files.sniffing import extension_contradicts, sniff
from tests.support import documents


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("scan.pdf", "scan.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\x\\Bild.JPG", "Bild.JPG"),
        ("a\x00b\x1fc\r\n.pdf", "abc.pdf"),
        ("\u202eevil\u202dfdp.exe", "evilfdp.exe"),
        ("", "document"),
        ("...", "document"),
        ("كشف حساب.pdf", "كشف حساب.pdf"),
        ("فیش\u200cحقوقی.pdf", "فیش\u200cحقوقی.pdf"),  # ZWNJ is part of Persian spelling
        (
            "Familie \U0001f468\u200d\U0001f469\u200d\U0001f467.pdf",
            "Familie \U0001f468\u200d\U0001f469\u200d\U0001f467.pdf",
        ),
        ("Re\u0301sume\u0301.pdf", "R\u00e9sum\u00e9.pdf"),  # NFD from macOS becomes NFC
        ("A\u2028B\u200eC\u2067D\u061c.pdf", "ABCD.pdf"),
    ],
)
def test_display_name(raw: str, expected: str) -> None:
    assert display_name(raw) == expected


def test_long_names_keep_their_extension() -> None:
    name = display_name("x" * 500 + ".pdf")
    assert len(name) == 255 and name.endswith(".pdf")


def test_sniff_real_documents() -> None:
    assert sniff(documents.pdf()[:8]) == "application/pdf"
    assert sniff(documents.jpeg()[:8]) == "image/jpeg"
    assert sniff(documents.png()[:8]) == "image/png"
    assert sniff(b"MZ\x90\x00\x03\x00\x00\x00") is None
    assert sniff(b"") is None


def test_extension_contradiction() -> None:
    assert extension_contradicts("photo.png", "image/jpeg")
    assert not extension_contradicts("photo.JPEG", "image/jpeg")
    assert not extension_contradicts("scan", "application/pdf")
    assert not extension_contradicts("IMG_0001.HEIC", "image/jpeg")


@pytest.mark.parametrize(
    ("name", "content_type", "expected"),
    [
        ("Lohnabrechnung.hta", "image/jpeg", "Lohnabrechnung.hta.jpg"),
        ("brief.html", "application/pdf", "brief.html.pdf"),
        ("logo.svg", "image/png", "logo.svg.png"),
        ("scan", "application/pdf", "scan.pdf"),
        ("Foto.JPEG", "image/jpeg", "Foto.JPEG"),
        ("Bild.jfif", "image/jpeg", "Bild.jfif"),
        ("x" * 200, "image/png", "x" * 196 + ".png"),
    ],
)
def test_the_extension_follows_the_content(name: str, content_type: str, expected: str) -> None:
    result = with_type_extension(name, content_type)
    assert result == expected and len(result) <= 200
