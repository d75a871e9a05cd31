"""Photos on their way into a PDF: re-encoded, shrunk, uprighted, without metadata."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from pypdf import PageObject, PdfReader
from pypdf.generic import DictionaryObject, StreamObject

from dokportal.files.pages import MAX_SIDE, normalise_page
from dokportal.files.pdf_pages import pdf_chunks, pdf_size_bound
from dokportal.lib.errors import TooLarge, UnsupportedType
from tests.support import documents

LIMIT = 40_000_000


def test_metadata_is_gone_and_pixels_stay() -> None:
    photo = documents.camera_photo(color=(10, 200, 30))
    assert documents.has_gps(photo) and b"Dokphone" in photo
    page = normalise_page(photo, name="a.jpg", max_pixels=LIMIT)
    assert not documents.has_gps(page.jpeg)
    for secret in (b"Dokphone", b"secret comment", b"Exif", b"GPS"):
        assert secret not in page.jpeg
    with Image.open(io.BytesIO(page.jpeg)) as image:
        assert image.format == "JPEG" and image.size == (1200, 900)
        red, green, blue = image.convert("RGB").getpixel((600, 450))  # type: ignore[misc]
        assert green > 150 and red < 60 and blue < 80


def test_orientation_is_applied_before_exif_is_dropped() -> None:
    # Orientation 6: the camera held upright wrote a landscape image, "rotate 90° to show".
    page = normalise_page(
        documents.camera_photo(1200, 900, orientation=6), name="a.jpg", max_pixels=LIMIT
    )
    assert (page.width, page.height) == (900, 1200)


def test_big_photos_are_shrunk() -> None:
    page = normalise_page(documents.camera_photo(4000, 3000), name="a.jpg", max_pixels=LIMIT)
    assert max(page.width, page.height) <= MAX_SIDE
    assert len(page.jpeg) < 1_000_000


def test_png_with_transparency_lands_on_white() -> None:
    image = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    page = normalise_page(buffer.getvalue(), name="a.png", max_pixels=LIMIT)
    with Image.open(io.BytesIO(page.jpeg)) as out:
        darkest, _ = out.convert("L").getextrema()
        assert isinstance(darkest, int) and darkest > 240


@pytest.mark.parametrize(("size", "limit"), [(60_000, LIMIT), (7_000, LIMIT), (200, 30_000)])
def test_too_many_pixels_are_refused_before_decoding(size: int, limit: int) -> None:
    with pytest.raises(TooLarge):
        normalise_page(documents.png_claiming(size, size), name="bomb.png", max_pixels=limit)


@pytest.mark.parametrize(
    "raw", [b"%PDF-1.4 not a photo", b"GIF89a......", documents.jpeg(200, 200)[:400], b""]
)
def test_what_is_not_a_readable_photo_is_refused(raw: bytes) -> None:
    with pytest.raises(UnsupportedType):
        normalise_page(raw, name="x", max_pixels=LIMIT)


def test_pages_become_one_valid_pdf_in_order() -> None:
    colours = [(220, 20, 20), (20, 200, 20), (20, 20, 220)]
    pages = [
        normalise_page(documents.camera_photo(600 + 100 * i, 800, c), name="p", max_pixels=LIMIT)
        for i, c in enumerate(colours)
    ]
    pdf = b"".join(pdf_chunks(pages))
    assert len(pdf) <= pdf_size_bound(pages)
    reader = PdfReader(io.BytesIO(pdf), strict=True)
    assert len(reader.pages) == 3
    for page, source, colour in zip(reader.pages, pages, colours, strict=True):
        box = page.mediabox
        assert max(float(box.width), float(box.height)) == pytest.approx(842, abs=0.01)
        assert float(box.width) / float(box.height) == pytest.approx(
            source.width / source.height, rel=0.01
        )
        xobject = _image_of(page)
        assert str(xobject["/Filter"]) == "/DCTDecode"
        assert xobject.get_data() == source.jpeg  # the JPEG goes in unchanged
        with Image.open(io.BytesIO(source.jpeg)) as image:
            pixel = image.convert("RGB").getpixel((10, 10))
        assert isinstance(pixel, tuple)
        assert max(range(3), key=lambda i: pixel[i]) == max(range(3), key=lambda i: colour[i])


def _image_of(page: PageObject) -> StreamObject:
    resources = page["/Resources"].get_object()
    assert isinstance(resources, DictionaryObject)
    xobjects = resources["/XObject"].get_object()
    assert isinstance(xobjects, DictionaryObject)
    image = xobjects["/Im0"].get_object()
    assert isinstance(image, StreamObject)
    return image
