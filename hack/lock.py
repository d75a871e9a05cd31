"""Write locks/*.txt: the whole dependency tree, every version pinned, every file hashed.

pyproject.toml pins Dokportal's direct dependencies; the locks pin everything below them
too, with hashes, so `make install`, the images and the Dockerfiles install the same bytes.

    portal.txt    what the portal image runs (project.dependencies)
    operator.txt  what the operator image runs (the `operator` extra only: no web stack)
    dev.txt       the test and development venv (`make install`): portal + operator + dev

Each lock starts with its inputs (``# input: name==version``), so
tests/test_locks.py can tell offline when pyproject.toml and a lock disagree.
Run `make lock` after changing a dependency in pyproject.toml.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCKS = ROOT / "locks"
PYTHON = "3.11"
PLATFORM = "x86_64-manylinux_2_28"  # Debian bookworm's glibc 2.36 is newer


def inputs() -> dict[str, list[str]]:
    """The requirement lines of each lock, from pyproject.toml."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    return {
        "portal": sorted(project["dependencies"]),
        "operator": sorted(extras["operator"]),
        "dev": sorted(project["dependencies"] + extras["operator"] + extras["dev"]),
    }


def compile_lock(name: str, requirements: list[str], uv: str, *constraints: Path) -> None:
    with tempfile.TemporaryDirectory() as work:
        source = Path(work) / f"{name}.in"
        source.write_text("\n".join(requirements) + "\n")
        output = Path(work) / f"{name}.txt"
        subprocess.run(
            [uv, "pip", "compile", str(source), "--quiet", "--generate-hashes"]
            + ["--python-version", PYTHON, "--python-platform", PLATFORM]
            + ["--no-header", "--no-annotate", "--output-file", str(output)]
            + [f"--constraint={path}" for path in constraints],
            check=True,
        )
        header = [
            f"# Dokportal {name} lock: written by `make lock` (hack/lock.py) from pyproject.toml.",
            "# Install with: pip install --require-hashes -r this-file",
            *(f"# input: {line}" for line in requirements),
        ]
        (LOCKS / f"{name}.txt").write_text("\n".join(header) + "\n" + output.read_text())


def main() -> None:
    uv = str(Path(sys.executable).with_name("uv"))
    LOCKS.mkdir(exist_ok=True)
    wanted = inputs()
    # The tests run in the dev venv: each image gets exactly the versions they ran with.
    compile_lock("dev", wanted.pop("dev"), uv)
    for name, requirements in wanted.items():
        compile_lock(name, requirements, uv, LOCKS / "dev.txt")
    print("wrote", ", ".join(f"locks/{name}.txt" for name in ("dev", *wanted)))


if __name__ == "__main__":
    main()
