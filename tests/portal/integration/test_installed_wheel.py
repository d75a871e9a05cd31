"""The wheel `pip install .` builds, installed for real: what the images and Dockerfiles run.

The rest of the suite imports the editable checkout, where every file is there whether or
not the wheel carries it; a template, catalog or schema missing from package-data only shows
in an installed copy (the xdomea export once raised there because its XSD was left out).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PIP = [sys.executable, "-m", "pip", "-q"]


def tracked_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "pyproject.toml", "README.md", "portal", "operator"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    )
    return [name for name in listed.stdout.decode().split("\0") if name]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the wheel from a copy of the tracked files (no build/ litter in the checkout)."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "src"
    for name in tracked_files():
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    built = subprocess.run(
        [
            *PIP,
            "wheel",
            "--no-index",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(work / "dist"),
            str(source),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    (found,) = (work / "dist").glob("dokportal-*.whl")
    return found


def test_the_wheel_carries_every_package_file(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        inside = set(archive.namelist())
    wanted = {
        name.split("/", 1)[1]
        for name in tracked_files()
        if name.startswith(("portal/dokportal/", "operator/dokportal_operator/"))
    }
    missing = sorted(wanted - inside)
    assert not missing, f"left out of the wheel: {missing}"
    assert "dokportal/export/xdomea-subset.xsd" in inside


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with only the wheel; its dependencies come from this venv's site-packages.

    A ``.pth`` line appends the suite's site-packages after the new venv's own, so the
    dependencies resolve offline while `dokportal` itself can only come from the wheel (the
    editable install's finder lives in a .pth there that Python does not process twice).
    """
    venv = tmp_path_factory.mktemp("venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(purelib) / "suite-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    done = subprocess.run(
        [*PIP, "--python", str(python), "install", "--no-index", "--no-deps", str(wheel)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return venv


def run_in(venv: Path, workdir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DOKPORTAL_", "PYTHON"))}
    return subprocess.run(
        [str(venv / "bin" / args[0]), *args[1:]],
        cwd=workdir,
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )


SCRIPT = r"""
from datetime import UTC, datetime
from types import SimpleNamespace

import dokportal
assert "/site-packages/dokportal/" in dokportal.__file__, dokportal.__file__

from litestar.testing import TestClient

from dokportal.app import create_app
from dokportal.cli import load_settings
from dokportal.export.xdomea import Handover, manifest

settings = load_settings()
with TestClient(create_app(settings)) as client:
    page = client.get("/signin?lang=uk")
    assert page.status_code == 200, page.text
    assert "<html" in page.text and 'lang="uk"' in page.text, page.text[:400]
    css = client.get("/static/portal.css")
    assert css.status_code == 200 and len(css.content) > 100
stored = SimpleNamespace(
    display_name="lohn.pdf", content_type="application/pdf", size=3, sha256="0" * 64
)
handover = Handover(
    tenant="Jobcenter", reference="BG-2026-000001", subject="Lohn", message="",
    received_at=datetime.now(UTC), customer_number="123D000001", customer_name="Erika",
    files=[("1.pdf", stored)],
)
assert b"BG-2026-000001" in manifest(handover)
print("rendered and exported")
"""


def test_the_installed_wheel_migrates_renders_and_exports(installed: Path, tmp_path: Path) -> None:
    env = {
        "DOKPORTAL_DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
        "DOKPORTAL_STORAGE__FOLDER": str(tmp_path / "blobs"),
        "DOKPORTAL_KEYRING_PATH": str(tmp_path / "keyring.json"),
        "DOKPORTAL_SESSION_SECRET": "s" * 40,
    }
    for step in (("dokportal", "keys", "init"), ("dokportal", "migrate")):
        result = run_in(installed, tmp_path, *step, **env)
        assert result.returncode == 0, result.stderr
    rendered = run_in(installed, tmp_path, "python", "-c", SCRIPT, **env)
    assert rendered.returncode == 0 and "rendered and exported" in rendered.stdout, rendered.stderr
