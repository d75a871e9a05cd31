"""locks/*.txt against pyproject.toml: a dependency changed in one but not the other fails.

The locks are what `make install`, the images and the Dockerfiles install (hack/lock.py).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9._-]+)(?:\[[^\]]*\])?==([^ ;\\]+)")


def lock_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lock", ROOT / "hack" / "lock.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lines: list[str]) -> dict[str, str]:
    found = {}
    for line in lines:
        match = PIN.match(line)
        if match:
            found[normalize(match.group(1))] = match.group(2)
    return found


def read(name: str) -> tuple[list[str], list[str]]:
    """(inputs recorded in the header, requirement lines) of locks/<name>.txt."""
    text = (ROOT / "locks" / f"{name}.txt").read_text().splitlines()
    recorded = [line.removeprefix("# input: ") for line in text if line.startswith("# input: ")]
    return recorded, [line for line in text if line and not line[0].isspace() and line[0] != "#"]


LOCKS = ["portal", "operator", "dev"]


@pytest.mark.parametrize("name", LOCKS)
def test_lock_was_made_from_todays_pyproject(name: str) -> None:
    wanted = lock_script().inputs()[name]
    recorded, _ = read(name)
    assert recorded == wanted, f"pyproject.toml changed: run `make lock` ({name})"


@pytest.mark.parametrize("name", LOCKS)
def test_every_direct_pin_is_locked_at_its_version_with_hashes(name: str) -> None:
    recorded, requirements = read(name)
    locked = pins(requirements)
    for line in recorded:
        assert pins([line]).items() <= locked.items(), f"{line} not locked as such in {name}"
    text = (ROOT / "locks" / f"{name}.txt").read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", len(recorded) + 2)[-1])
    unhashed = [entry.split()[0] for entry in entries if "--hash=sha256:" not in entry]
    assert not unhashed, unhashed


@pytest.mark.parametrize("name", ["portal", "operator"])
def test_images_get_the_versions_the_tests_ran_with(name: str) -> None:
    dev = pins(read("dev")[1])
    image = pins(read(name)[1])
    assert {package: dev.get(package) for package in image} == image


def test_the_installed_venv_matches_the_dev_lock() -> None:
    from importlib.metadata import distributions

    installed = {normalize(d.metadata["Name"]): d.version for d in distributions()}
    wanted = pins(read("dev")[1])
    differing = {
        name: (v, installed.get(name)) for name, v in wanted.items() if installed.get(name) != v
    }
    assert not differing, f"run `make install`: (locked, installed) {differing}"
