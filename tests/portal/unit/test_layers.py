"""The shared layers know no domain: lib/ and sessions/ import no accounts, staff, … code.

lib/web.py once imported accounts.services to find the customer's session; a domain change
then rippled into every page. The app now hands lib the resolver instead.
"""

from __future__ import annotations

import ast
from pathlib import Path

import dokportal

PACKAGE = Path(dokportal.__file__).parent
DOMAINS = frozenset(
    {
        "accounts",
        "staff",
        "documents",
        "notices",
        "workspace",
        "api",
        "audit",
        "mail",
        "export",
        "retention",
        "info",
        "webapp",
        "files",
    }
)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_lib_and_sessions_import_no_domain() -> None:
    offenders = []
    for layer in ("lib", "sessions"):
        for path in sorted((PACKAGE / layer).rglob("*.py")):
            for module in _imports(path):
                parts = module.split(".")
                if parts[0] == "dokportal" and len(parts) > 1 and parts[1] in DOMAINS:
                    offenders.append(f"{path.relative_to(PACKAGE)} imports {module}")
    assert offenders == []
