"""Draw the web app icons (a white letter on the portal's blue) into static/icons/.

Run once after changing the design: `.venv/bin/python hack/make-icons.py`. The PNGs are
committed (a few KB each), so neither the build nor the tests depend on this script.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

BLUE = (11, 83, 148, 255)
WHITE = (255, 255, 255, 255)
LINE = (11, 83, 148, 255)
FOLD = (190, 208, 228, 255)
OUT = Path(__file__).resolve().parent.parent / "portal" / "dokportal" / "static" / "icons"


def draw(size: int, *, maskable: bool) -> Image.Image:
    """``maskable`` fills the square and keeps the glyph inside the 80 % safe zone."""
    scale = 4  # draw large, then shrink: smooth edges without anti-aliasing support
    big = size * scale
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    pen = ImageDraw.Draw(image)
    if maskable:
        pen.rectangle((0, 0, big, big), fill=BLUE)
        inset = big * 0.24
    else:
        pen.rounded_rectangle((0, 0, big - 1, big - 1), radius=big * 0.18, fill=BLUE)
        inset = big * 0.18
    left, top, right, bottom = inset * 1.15, inset, big - inset * 1.15, big - inset
    fold = (right - left) * 0.3
    pen.polygon(
        [(left, top), (right - fold, top), (right, top + fold), (right, bottom), (left, bottom)],
        fill=WHITE,
    )
    pen.polygon([(right - fold, top), (right - fold, top + fold), (right, top + fold)], fill=FOLD)
    width = (right - left) * 0.08
    for row in range(4):
        y = top + fold * 1.4 + row * (bottom - top - fold * 1.8) / 4
        end = right - (right - left) * (0.15 if row < 3 else 0.4)
        pen.line((left + (right - left) * 0.15, y, end, y), fill=LINE, width=int(width))
    return image.resize((size, size), Image.Resampling.LANCZOS)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, size, maskable in (
        ("icon-192.png", 192, False),
        ("icon-512.png", 512, False),
        ("icon-maskable-512.png", 512, True),
        ("apple-touch-icon.png", 180, True),
    ):
        icon = draw(size, maskable=maskable)
        icon.quantize(colors=32, method=Image.Quantize.FASTOCTREE).save(OUT / name, optimize=True)
        print(OUT / name, (OUT / name).stat().st_size, "bytes")


if __name__ == "__main__":
    main()
