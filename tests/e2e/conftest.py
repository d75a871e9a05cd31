"""One Chromium (Debian's) and one real portal process for all browser tests.

The browser is started once per package with the issue's flags and a fresh profile (each
context is a new, empty one). The portal is `dokportal run` as a process of its own, with
SQLite and a blob folder in a temporary directory; customers and notices are made with the
`dokportal` command, just as an office would.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.e2e.text import t
from tests.support import documents
from tests.support.appliance import Appliance, clean_env, cli, running_appliance
from tests.support.services import unavailable

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 900}}
DEVICES = {"phone": PHONE, "desktop": DESKTOP}
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
PASSWORD = "Sonnenblume-2026"
CODE_RE = re.compile(r"Activation code for \S+: ([0-9A-Z-]+)")
_numbers = itertools.count(1)


@dataclass
class Customer:
    number: str
    code: str
    name: str


@dataclass
class StoredDocument:
    name: str
    content_type: str
    content: bytes


@dataclass
class Portal:
    """The running portal and the office-side commands around it."""

    app: Appliance

    @property
    def url(self) -> str:
        return self.app.url

    def customer(self, name: str = "Erika Mustermann") -> Customer:
        number = f"E2E{next(_numbers):07d}"
        result = cli(self.app.workdir, "customer", "create", "--number", number, "--name", name)
        assert result.returncode == 0, result.stderr
        match = CODE_RE.search(result.stdout)
        assert match, result.stdout
        return Customer(number=number, code=match.group(1), name=name)

    def notice(self, number: str, title: str) -> None:
        letter = self.app.workdir / f"{number}.pdf"
        letter.write_bytes(documents.pdf("Bescheid"))  # helvetica: ASCII only
        result = cli(
            self.app.workdir, "notice", "send", "--customer", number, "--title", title, str(letter)
        )
        assert result.returncode == 0, result.stderr

    def stored(self, reference: str) -> list[StoredDocument]:
        """The submission's files as the office would open them (decrypted)."""
        result = subprocess.run(
            [sys.executable, "-m", "tests.e2e.stored", reference],
            cwd=self.app.workdir,
            env={**clean_env(self.app.workdir), "PYTHONPATH": str(Path(__file__).parents[2])},
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return [
            StoredDocument(item["name"], item["content_type"], base64.b64decode(item["content"]))
            for item in json.loads(result.stdout)
        ]


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        unavailable("Chromium", f"{CHROMIUM} not found; run `make system-deps`")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=FLAGS, headless=True
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="package")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    with running_appliance(tmp_path_factory.mktemp("e2e-portal")) as app:
        yield Portal(app)


def new_context(
    browser: Browser, portal: Portal, device: str, lang: str, **options: Any
) -> BrowserContext:
    """A fresh, empty browser profile; the locale sets Accept-Language like a real phone."""
    context = browser.new_context(base_url=portal.url, locale=lang, **DEVICES[device], **options)
    context.set_default_timeout(15_000)
    return context


def intercept_file_choosers(page: Page) -> None:
    """Let Playwright catch file dialogs from now on, not only from expect_file_chooser().

    Playwright switches interception on with a message it does not wait for; registered
    only inside ``expect_file_chooser`` it can lose the race against a fast click under
    load, and headless Chromium then opens a dialog nobody sees. A listener registered
    before the first navigation is in force by the time the page exists.
    """
    page.on("filechooser", lambda _chooser: None)


class Console:
    """Collects errors the page reports (script errors, CSP violations, failed loads)."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("console", lambda message: self._console(message.type, message.text))
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))

    def _console(self, kind: str, text: str) -> None:
        if kind == "error":
            self.errors.append(text)


def screenshot(page: Page, folder: str, name: str, *, full_page: bool = True) -> None:
    """Write a screenshot for people to look at (tests/e2e/screenshots/, not committed)."""
    target = SCREENSHOTS / folder
    target.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target / f"{name}.png"), full_page=full_page)


def fill_activation(page: Page, lang: str, person: Customer) -> None:
    """Open the activation page and fill in what the letter says and a new password."""
    page.goto("/activate")
    expect(page.get_by_role("heading", level=1)).to_have_text(t(lang, "Activate access"))
    page.get_by_label(t(lang, "Customer number")).fill(person.number)
    page.get_by_label(t(lang, "Activation code")).fill(person.code)
    page.get_by_label(t(lang, "New password")).fill(PASSWORD)
    page.get_by_label(t(lang, "Repeat the password")).fill(PASSWORD)


def signed_in(page: Page, lang: str, portal: Portal) -> Customer:
    """A new customer, activated through the page, now on the start page."""
    person = portal.customer()
    fill_activation(page, lang, person)
    page.get_by_role("button", name=t(lang, "Activate"), exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        t(lang, "Hello, %(name)s", name=person.name)
    )
    return person
