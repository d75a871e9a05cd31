"""Every message is translated in all seven languages, with the same placeholders."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from dokportal.i18n.catalogs import LOCALES_DIR, po_path
from dokportal.settings import SUPPORTED_LANGUAGES

PLACEHOLDER = re.compile(r"%\((\w+)\)s")
ROOT = Path(__file__).resolve().parents[3]


def template_ids() -> set[str]:
    with (LOCALES_DIR / "messages.pot").open("rb") as handle:
        return {str(m.id) for m in read_po(handle) if m.id}


def test_template_is_up_to_date(tmp_path: Path) -> None:
    """The committed .pot matches the source: `make messages` was run after the last change."""
    fresh = tmp_path / "fresh.pot"
    keywords = (ROOT / "Makefile").read_text().split("KEYWORDS := ", 1)[1].split("\nLOCALES", 1)[0]
    args = [k for k in keywords.replace("\\\n", " ").split() if k]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            "babel.cfg",
            *args,
            "--no-location",
            "--sort-output",
            "-o",
            str(fresh),
            ".",
        ],
        cwd=ROOT,
        check=True,
    )
    with fresh.open("rb") as handle:
        current = {str(m.id) for m in read_po(handle) if m.id}
    assert current == template_ids(), "run `make messages` and translate the new strings"


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_catalog_complete(language: str) -> None:
    with po_path(language).open("rb") as handle:
        catalog = read_po(handle, locale=language)
    ids = template_ids()
    messages = {str(m.id): m for m in catalog if m.id}
    missing = sorted(ids - set(messages))
    assert not missing, f"{language}: missing {missing[:5]}"
    for msgid in ids:
        message = messages[msgid]
        assert message.string, f"{language}: untranslated {msgid!r}"
        assert not message.fuzzy, f"{language}: fuzzy {msgid!r}"
        assert sorted(PLACEHOLDER.findall(str(message.string))) == sorted(
            PLACEHOLDER.findall(msgid)
        ), f"{language}: placeholders differ in {msgid!r}"
