"""`make run`'s appliance as a real process: demo data, the printed code, restarts."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.support import documents
from tests.support.appliance import cli, running_appliance

CSRF_RE = re.compile(r'name="_csrf" value="([0-9a-f]+)"')
MARKER = b"DOKPORTAL-PLAINTEXT-MARKER-7d1f0c"
DEMO = "123D000001"
PASSWORD = "Sonnenblume-2026"


def csrf(client: httpx.Client, path: str) -> str:
    match = CSRF_RE.search(client.get(path).text)
    assert match
    return match.group(1)


def every_file(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


@pytest.mark.timeout(180)
def test_demo_journey_survives_a_restart(tmp_path: Path) -> None:
    photo = documents.jpeg(640, 480)
    letter = documents.pdf() + b"\n% " + MARKER + b"\n"
    with running_appliance(tmp_path) as app:
        assert "Jobcenter Bergstraße (Demo)" in app.output
        code = app.activation_code
        assert code, app.output
        with httpx.Client(base_url=app.url, follow_redirects=True) as browser:
            token = csrf(browser, "/activate")
            page = browser.post(
                "/activate",
                data={
                    "_csrf": token,
                    "customer_number": DEMO,
                    "code": code,
                    "password": PASSWORD,
                    "password_repeat": PASSWORD,
                },
            )
            assert page.status_code == 200 and "Erika Mustermann" in page.text
            token = csrf(browser, "/documents/new")
            receipt = browser.post(
                "/documents",
                data={"_csrf": token, "category": "payslip"},
                files=[
                    ("files", ("foto.jpg", photo, "image/jpeg")),
                    ("files", ("lohn.pdf", letter, "application/pdf")),
                ],
            )
            assert receipt.status_code == 200 and "BG-" in receipt.text
        sent = cli(
            tmp_path,
            "notice",
            "send",
            "--customer",
            DEMO,
            "--title",
            "Bescheid März",
            str(_write(tmp_path / "bescheid.pdf", documents.pdf("Bescheid"))),
        )
        assert sent.returncode == 0, sent.stderr

    # The same data after a restart; no new code for an activated customer.
    with running_appliance(tmp_path) as app:
        assert app.activation_code is None
        assert "already activated" in app.output
        with httpx.Client(base_url=app.url, follow_redirects=True) as browser:
            token = csrf(browser, "/signin?lang=ar")
            home = browser.post(
                "/signin", data={"_csrf": token, "customer_number": DEMO, "password": PASSWORD}
            )
            assert '<html lang="ar" dir="rtl">' in home.text
            inbox = browser.get("/notices/")
            assert "Bescheid März" in inbox.text
            assert "BG-" in browser.get("/documents").text

    # No plaintext of the upload anywhere the server writes: var/, blobs, its TMPDIR.
    for path in every_file(tmp_path):
        if path.name in {"bescheid.pdf"}:
            continue
        assert MARKER not in path.read_bytes(), path


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def test_bad_settings_stop_startup_with_one_line_each(tmp_path: Path) -> None:
    import os
    import subprocess

    from tests.support.appliance import DOKPORTAL, clean_env

    env = clean_env(tmp_path)
    env.update(
        {
            "DOKPORTAL_TENANT__LANGUAGES": "de,xx",
            "DOKPORTAL_DATABASE_URL": "mysql://nope",
            "DOKPORTAL_UPLOAD__MAX_FILE_MB": "0",
        }
    )
    result = subprocess.run(
        [DOKPORTAL, "migrate"], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "DOKPORTAL_TENANT__LANGUAGES" in result.stderr and "xx" in result.stderr
    assert "DOKPORTAL_DATABASE_URL" in result.stderr
    assert "DOKPORTAL_UPLOAD__MAX_FILE_MB" in result.stderr
    assert "Traceback" not in result.stderr
    assert os.listdir(tmp_path) == ["tmp"]
