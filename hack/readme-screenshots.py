"""Copy a few phone screenshots from the last browser test run into docs/screenshots/.

`make screenshots` runs the browser tests (which write tests/e2e/screenshots/) and then this:
the top screen of each chosen page, shrunk to 270 px wide and reduced to a small palette, so
the README shows the current pages without bloating the repository.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "tests" / "e2e" / "screenshots"
TARGET = ROOT / "docs" / "screenshots"
WIDTH = 270
# One phone screen at the tests' 390 x 844 viewport (device scale factor 2).
SCREEN_RATIO = 844 / 390
CHOSEN = [
    ("de-phone", "02-home"),
    ("de-phone", "04-scan-pages"),
    ("de-phone", "05-receipt"),
    ("ar-phone", "02-home"),
    ("ar-phone", "04-scan-pages"),
    ("ar-phone", "05-receipt"),
]


def main() -> None:
    TARGET.mkdir(parents=True, exist_ok=True)
    for folder, name in CHOSEN:
        source = SOURCE / folder / f"{name}.png"
        if not source.exists():
            raise SystemExit(f"{source} is missing: run `make e2e` first")
        with Image.open(source) as shot:
            screen = shot.crop((0, 0, shot.width, round(shot.width * SCREEN_RATIO)))
            small = screen.convert("RGB").resize(
                (WIDTH, round(WIDTH * SCREEN_RATIO)), Image.Resampling.LANCZOS
            )
        target = TARGET / f"{folder.split('-')[0]}-{name[3:]}.png"
        small.quantize(colors=64, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
            target, optimize=True
        )
        print(f"{target.relative_to(ROOT)}: {target.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
