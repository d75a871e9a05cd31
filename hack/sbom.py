"""A CycloneDX 1.5 SBOM (JSON) of one image: the wheels installed from its lock, the Debian
packages of its rootfs, and Dokportal itself. Called by hack/build-images.sh.

Each Python component carries the SHA-256 of the very wheel that went into the image (one
of the hashes the lock allows), so the SBOM names bytes, not only versions.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

WHEEL = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)-")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def python_components(lock: Path, wheels: Path) -> list[dict[str, Any]]:
    allowed = set(re.findall(r"--hash=sha256:([0-9a-f]{64})", lock.read_text()))
    components = []
    for wheel in sorted(wheels.glob("*.whl")):
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        match = WHEEL.match(wheel.name)
        assert match, wheel.name
        name, version = normalize(match["name"]), match["version"]
        if name == "dokportal":
            continue
        if digest not in allowed:
            sys.exit(f"sbom: {wheel.name} is not in {lock}")
        components.append(
            {
                "type": "library",
                "bom-ref": f"pkg:pypi/{name}@{version}",
                "name": name,
                "version": version,
                "purl": f"pkg:pypi/{name}@{version}",
                "hashes": [{"alg": "SHA-256", "content": digest}],
                "properties": [{"name": "dokportal:wheel", "value": wheel.name}],
            }
        )
    return components


def debian_components(dpkg: Path) -> list[dict[str, Any]]:
    components = []
    for line in dpkg.read_text().splitlines():
        name, version, arch = line.split("\t")
        purl = f"pkg:deb/debian/{name}@{version}?arch={arch}&distro=debian-12"
        components.append(
            {
                "type": "library",
                "bom-ref": purl,
                "name": name,
                "version": version,
                "purl": purl,
            }
        )
    return components


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for option in ("name", "version", "revision"):
        parser.add_argument(f"--{option}", required=True)
    for option in ("lock", "wheels", "dpkg"):
        parser.add_argument(f"--{option}", required=True, type=Path)
    args = parser.parse_args()
    bom = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": f"urn:uuid:{uuid.uuid4()}",
        "version": 1,
        "metadata": {
            "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
            "tools": {"components": [{"type": "application", "name": "hack/sbom.py"}]},
            "component": {
                "type": "container",
                "bom-ref": args.name,
                "name": args.name,
                "version": args.version,
                "properties": [
                    {"name": "org.opencontainers.image.revision", "value": args.revision}
                ],
            },
        },
        "components": python_components(args.lock, args.wheels) + debian_components(args.dpkg),
    }
    json.dump(bom, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
