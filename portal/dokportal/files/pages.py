"""A photographed page, made safe to put into a PDF: decoded, shrunk, re-encoded, no metadata.

Re-encoding from pixels (security.md item 5) drops whatever else the upload carried: EXIF with
GPS position and camera serial, XMP, comments, and any polyglot payload appended to the image.
The pixel count is checked from the header before anything is decoded, so a small file that
claims to be a gigapixel image (a decompression bomb) costs nothing.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from dokportal.lib.errors import TooLarge, UnsupportedType

# Long side after shrinking: an A4 page at about 190 dpi, sharp enough for small print and
# a few hundred kilobytes per page as JPEG.
MAX_SIDE = 2200
JPEG_QUALITY = 80
FORMATS = ("JPEG", "PNG")


@dataclass(frozen=True)
class Page:
    """One re-encoded page: baseline JPEG bytes and their pixel size."""

    jpeg: bytes
    width: int
    height: int
    gray: bool


def normalise_page(raw: bytes, *, name: str, max_pixels: int) -> Page:
    """Decode ``raw`` (JPEG or PNG), upright it, shrink it and encode a clean JPEG.

    CPU-bound: callers run it in a worker thread.
    """
    with warnings.catch_warnings():
        # Pillow's own bomb guard warns first; treat its warning like its error.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(raw), formats=FORMATS)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise _too_many_pixels(name) from error
        except (UnidentifiedImageError, OSError, ValueError) as error:
            raise _not_a_photo(name) from error
        with image:
            width, height = image.size
            if width < 1 or height < 1 or width * height > max_pixels:
                raise _too_many_pixels(name)
            try:
                # JPEG decodes at 1/2, 1/4 or 1/8 scale when that still exceeds MAX_SIDE.
                image.draft("RGB", (MAX_SIDE, MAX_SIDE))
                upright = ImageOps.exif_transpose(image)
                clean = _flatten(upright)
            except (OSError, ValueError, SyntaxError) as error:
                raise _not_a_photo(name) from error
    clean.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    clean.info = {}  # no comment, XMP, ICC or EXIF is carried into the output
    out = io.BytesIO()
    clean.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return Page(jpeg=out.getvalue(), width=clean.width, height=clean.height, gray=clean.mode == "L")


def _flatten(image: Image.Image) -> Image.Image:
    """RGB or greyscale pixels; transparency goes onto white paper."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        paper = Image.new("RGB", rgba.size, (255, 255, 255))
        paper.paste(rgba, mask=rgba.getchannel("A"))
        return paper
    if image.mode in ("L", "1"):
        return image.convert("L")
    return image.convert("RGB")


def _too_many_pixels(name: str) -> TooLarge:
    return TooLarge(
        "The photo %(name)s has too many pixels. Please take it again with a lower resolution.",
        name=name,
    )


def _not_a_photo(name: str) -> UnsupportedType:
    return UnsupportedType(
        "The file %(name)s is not a photo we can read. Only JPEG and PNG photos can be put "
        "together into one PDF.",
        name=name,
    )
