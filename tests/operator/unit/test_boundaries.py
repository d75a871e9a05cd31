"""The operator and the portal stay independent, and only kube.py talks to the API."""

from __future__ import annotations

import ast
from pathlib import Path

import dokportal_operator

PACKAGE = Path(dokportal_operator.__file__).parent


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_operator_never_imports_the_portal() -> None:
    for path in PACKAGE.rglob("*.py"):
        assert not {n for n in _imports(path) if n == "dokportal" or n.startswith("dokportal.")}, (
            path
        )


def test_only_kube_py_uses_the_kubernetes_client() -> None:
    users = {
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if any(name.startswith("lightkube") for name in _imports(path))
    }
    assert users == {"kube.py"}


def test_render_is_pure() -> None:
    io_modules = {"asyncio", "subprocess", "lightkube", "boto3", "kopf", "os", "socket"}
    imported = {name.split(".")[0] for name in _imports(PACKAGE / "render.py")}
    assert not imported & io_modules
