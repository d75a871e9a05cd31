"""The images `make images` builds: their config agrees with the Dockerfiles, they carry only
their own code, and the portal image really runs under the chart's security context (runc,
no daemon): migrate, serve, a customer's upload, nothing written outside /tmp and /data.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import documents
from tests.support.appliance import free_port
from tests.support.images import (
    PROBE,
    ROOT,
    Mount,
    assert_confined,
    image_manifest,
    run_once,
    runc_spec,
    running,
    unpacked,
)

CSRF_RE = re.compile(r'name="_csrf" value="([0-9a-f]+)"')
CODE_RE = re.compile(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}")
MARKER = b"DOKPORTAL-IMAGE-PLAINTEXT-MARKER"


def dockerfile_runtime(path: Path) -> dict[str, Any]:
    """USER, WORKDIR, ENTRYPOINT, CMD, EXPOSE and ENV of a Dockerfile's last stage."""
    text = re.sub(r"\\\n\s*", " ", path.read_text())
    stage = text.split("\nFROM ")[-1]
    found: dict[str, Any] = {"env": {}, "ports": set(), "cmd": None}
    for line in stage.splitlines():
        word, _, rest = line.partition(" ")
        if word == "ENV":
            found["env"].update(dict(item.split("=", 1) for item in shlex.split(rest)))
        elif word == "EXPOSE":
            found["ports"].update(f"{port}/tcp" for port in rest.split())
        elif word == "USER":
            found["user"] = rest.strip()
        elif word == "WORKDIR":
            found["workdir"] = rest.strip()
        elif word == "ENTRYPOINT":
            found["entrypoint"] = json.loads(rest)
        elif word == "CMD":
            found["cmd"] = json.loads(rest)
    return found


@pytest.mark.parametrize("name", ["portal", "operator"])
def test_dockerfile_and_recipe_agree(images: dict[str, Path], name: str) -> None:
    docker = dockerfile_runtime(ROOT / name / "Dockerfile")
    config = image_manifest(images[name])[1]["config"]
    assert config["User"] == docker["user"] == "10001:10001"
    assert config["WorkingDir"] == docker["workdir"] == "/data"
    assert config["Entrypoint"] == docker["entrypoint"]
    assert config.get("Cmd") == docker["cmd"]
    assert set(config["ExposedPorts"]) == docker["ports"]
    assert dict(item.split("=", 1) for item in config["Env"]) == docker["env"]


@pytest.mark.parametrize("name", ["portal", "operator"])
def test_labels_and_sbom(images: dict[str, Path], name: str) -> None:
    labels = image_manifest(images[name])[1]["config"]["Labels"]
    assert labels["org.opencontainers.image.version"] == "0.1.0"
    assert re.fullmatch(r"[0-9a-f]{40}", labels["org.opencontainers.image.revision"])
    sbom = json.loads(images[name].with_name(f"dokportal-{name}.cdx.json").read_text())
    assert sbom["bomFormat"] == "CycloneDX"
    lock = (ROOT / "locks" / f"{name}.txt").read_text()
    pypi = [c for c in sbom["components"] if c["purl"].startswith("pkg:pypi/")]
    locked = re.findall(r"^([A-Za-z0-9._-]+)==", lock, flags=re.M)
    assert {c["name"] for c in pypi} == {re.sub(r"[-_.]+", "-", n).lower() for n in locked}
    for component in pypi:
        assert component["hashes"][0]["content"] in lock
    assert any(c["name"] == "python3.11" for c in sbom["components"])


def test_portal_image_is_small_enough(images: dict[str, Path]) -> None:
    manifest, _ = image_manifest(images["portal"])
    compressed = sum(layer["size"] for layer in manifest["layers"])
    assert compressed < 200 * 1024 * 1024, f"{compressed / 2**20:.0f} MiB"


@pytest.fixture(scope="module")
def rootfs(images: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("images")
    return {name: unpacked(archive, work / name) for name, archive in images.items()}


def test_each_image_carries_only_its_own_code(rootfs: dict[str, Path]) -> None:
    def site(name: str) -> Path:
        (found,) = (rootfs[name] / "opt" / "venv" / "lib").glob("python3*/site-packages")
        return found

    portal, operator = site("portal"), site("operator")
    assert (portal / "dokportal" / "export" / "xdomea-subset.xsd").is_file()
    assert not (portal / "dokportal_operator").exists()
    assert not (portal / "kopf").exists() and not (portal / "pip").exists()
    assert (operator / "dokportal_operator").is_dir() and (operator / "kopf").is_dir()
    assert not (operator / "dokportal").exists() and not (operator / "litestar").exists()
    assert (rootfs["operator"] / "usr/local/bin/helm").is_file()
    assert (rootfs["operator"] / "opt/dokportal/charts/portal/Chart.yaml").is_file()
    for root in rootfs.values():  # no compilers, no test tools
        for tool in ("usr/bin/gcc", "usr/bin/cc", "opt/venv/bin/pytest", "opt/venv/bin/ruff"):
            assert not (root / tool).exists(), tool
        data = (root / "data").stat()
        assert (data.st_uid, data.st_gid) == (10001, 10001)


class Pod:
    """The portal image under runc with the chart's layout: /data volume, keyring Secret."""

    def __init__(self, rootfs: Path, image: dict[str, Any], work: Path) -> None:
        self.rootfs, self.image, self.work = rootfs, image, work
        self.data = work / "data"
        self.data.mkdir()
        os.chown(self.data, 10001, 10001)
        self.keyring = work / "keyring"
        self.keyring.mkdir()
        self.port = free_port()
        self.env = {
            "DOKPORTAL_STORAGE__KIND": "folder",
            "DOKPORTAL_STORAGE__FOLDER": "/data/blobs",
            "DOKPORTAL_DATABASE_URL": "sqlite:////data/dokportal.sqlite3",
            "DOKPORTAL_KEYRING_PATH": "/etc/dokportal/keyring/keyring.json",
            # As the chart: a Secret mounted with fsGroup is group-readable (0440) by design.
            "DOKPORTAL_KEYRING_ALLOW_SHARED": "true",
            "DOKPORTAL_SESSION_SECRET": "s" * 40,
            "DOKPORTAL_PUBLIC_BASE_URL": f"http://127.0.0.1:{self.port}",
        }

    def spec(self, args: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
        mounts = [
            Mount(self.data, "/data"),
            Mount(self.keyring, "/etc/dokportal/keyring", read_only=True),
        ]
        return runc_spec(self.rootfs, args, {**self.env, **(env or {})}, mounts, image=self.image)

    def run(self, *args: str, env: dict[str, str] | None = None) -> str:
        result = run_once(self.work, self.spec(list(args), env))
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout + result.stderr


@pytest.fixture(scope="module")
def pod(
    rootfs: dict[str, Path], images: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Pod:
    pod = Pod(rootfs["portal"], image_manifest(images["portal"])[1], tmp_path_factory.mktemp("pod"))
    # The keyring Secret: made once by the same image, as an administrator would.
    made = run_once(
        pod.work,
        runc_spec(
            pod.rootfs,
            ["dokportal", "keys", "init"],
            {"DOKPORTAL_KEYRING_PATH": "/data/keyring.json"},
            [Mount(pod.data, "/data")],
            image=pod.image,
        ),
    )
    assert made.returncode == 0, made.stderr
    (pod.data / "keyring.json").rename(pod.keyring / "keyring.json")
    os.chmod(pod.keyring / "keyring.json", 0o440)
    os.chown(pod.keyring / "keyring.json", 0, 10001)
    return pod


@pytest.fixture(scope="module")
def serving(pod: Pod) -> Iterator[str]:
    pod.run("dokportal", "migrate")
    url = f"http://127.0.0.1:{pod.port}"
    args = ["dokportal", "serve", "--host", "127.0.0.1", "--port", str(pod.port)]
    log = pod.work / "serve.log"
    with running(pod.work, pod.spec(args), log):
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield url


def test_portal_image_serves_a_customer_under_the_security_context(pod: Pod, serving: str) -> None:
    created = pod.run("dokportal", "customer", "create", "--number", "123D000777", "--name", "Ada")
    match = CODE_RE.search(created)
    assert match, created
    password = "Sonnenblume-2026"
    letter = documents.pdf() + b"\n% " + MARKER + b"\n"
    with httpx.Client(base_url=serving, follow_redirects=True, timeout=30) as browser:

        def csrf(path: str) -> str:
            found = CSRF_RE.search(browser.get(path).text)
            assert found
            return found.group(1)

        page = browser.post(
            "/activate",
            data={
                "_csrf": csrf("/activate"),
                "customer_number": "123D000777",
                "code": match.group(0),
                "password": password,
                "password_repeat": password,
            },
        )
        assert page.status_code == 200 and "Ada" in page.text
        receipt = browser.post(
            "/documents",
            data={"_csrf": csrf("/documents/new"), "category": "payslip"},
            files=[("files", ("lohn.pdf", letter, "application/pdf"))],
        )
        assert receipt.status_code == 200 and "BG-" in receipt.text, receipt.text[-1500:]
    blobs = [p for p in (pod.data / "blobs").rglob("*") if p.is_file()]
    assert blobs and all(MARKER not in p.read_bytes() for p in blobs)
    assert all(p.stat().st_uid == 10001 for p in blobs)


def test_the_process_is_confined_and_writes_only_to_tmp_and_data(pod: Pod) -> None:
    # Only what the image sets: the defaults an administrator gets without any setting.
    spec = pod.spec(["python", "-c", PROBE])
    spec["process"]["env"] = [
        item for item in spec["process"]["env"] if not item.startswith("DOKPORTAL_")
    ]
    result = run_once(pod.work, spec)
    assert result.returncode == 0, result.stderr
    assert_confined(json.loads(result.stdout.strip().splitlines()[-1]))


def test_every_native_extension_loads_in_the_image(pod: Pod) -> None:
    """Wheels with compiled code need their system libraries in the image (pikepdf and
    pypdfium2 need libstdc++): a missing one fails only when that code first runs — for the
    PDF renderer, the first safe copy. Import them all here, the lazy ones included."""
    modules = [
        "pikepdf",
        "pypdfium2",
        "PIL.Image",
        "lxml.etree",
        "argon2",
        "cryptography.hazmat.primitives.ciphers.aead",
        "uharfbuzz",
        "asyncpg",
        "httptools",
        "dokportal.files.render_child",
        "dokportal.app",
    ]
    out = pod.run("python", "-c", f"import {', '.join(modules)}; print('loaded')")
    assert "loaded" in out
