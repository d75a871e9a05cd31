"""Rendering charts/portal with `helm template` (a subprocess; no cluster access)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from dokportal_operator import constants as c
from dokportal_operator.errors import NeedsHuman


def chart_fingerprint(chart: Path) -> str:
    """Changes when a file of the chart changes (name, size, modification time)."""
    entries = []
    for path in sorted(chart.rglob("*")):
        if path.is_file():
            info = path.stat()
            entries.append((str(path.relative_to(chart)), info.st_size, info.st_mtime_ns))
    return hashlib.sha256(json.dumps(entries).encode()).hexdigest()


async def template(
    helm: str, chart: Path, namespace: str, values: dict[str, Any], kube_version: str | None
) -> list[dict[str, Any]]:
    """The chart's objects for these values, hooks included (the operator orders them)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="values-") as handle:
        # Values never hold secrets (only Secret names), but keep the file private anyway.
        os.fchmod(handle.fileno(), 0o600)
        json.dump(values, handle)
        handle.flush()
        command = [
            helm,
            "template",
            c.RELEASE,
            str(chart),
            "--namespace",
            namespace,
            "--values",
            handle.name,
        ]
        if kube_version:
            command += ["--kube-version", kube_version]
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await process.communicate()
    if process.returncode != 0:
        lines = [line for line in stderr.decode(errors="replace").splitlines() if line.strip()]
        detail = next(
            (line for line in lines if line.startswith("Error")), lines[-1] if lines else ""
        )
        raise NeedsHuman("RenderFailed", f"charts/portal cannot be rendered: {detail[:500]}")
    return [doc for doc in yaml.safe_load_all(stdout.decode()) if isinstance(doc, dict)]
