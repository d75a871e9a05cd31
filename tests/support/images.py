"""The OCI images `make images` builds (hack/build-images.sh), read and run without a daemon.

`built_images` runs the (cached) build; `image_config` reads an archive's OCI config;
`unpacked` turns an archive into a root file system with umoci; `run_container` runs a
command in it with runc under the security context charts/portal gives its pods.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
IMAGES_DIR = (
    Path(os.environ.get("DOKPORTAL_CACHE", Path.home() / ".cache" / "dokportal")) / "images"
)
TOOLS = ("mmdebstrap", "umoci", "runc")


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def built_images() -> dict[str, Path]:
    """Build (or reuse) both images; {"portal": archive, "operator": archive}."""
    result = subprocess.run(
        ["bash", str(ROOT / "hack" / "build-images.sh")],
        cwd=ROOT,
        env={**os.environ, "IMAGES_REQUIRED": "1"},
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return {name: IMAGES_DIR / f"dokportal-{name}.oci.tar" for name in ("portal", "operator")}


def _blob(archive: tarfile.TarFile, digest: str) -> bytes:
    handle = archive.extractfile(f"./blobs/{digest.replace(':', '/')}")
    assert handle is not None
    return handle.read()


def image_manifest(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(manifest, config) of the single image in an OCI archive."""
    with tarfile.open(path) as archive:
        index = json.loads(_blob_named(archive, "./index.json"))
        (entry,) = index["manifests"]
        manifest = json.loads(_blob(archive, entry["digest"]))
        config = json.loads(_blob(archive, manifest["config"]["digest"]))
    return manifest, config


def _blob_named(archive: tarfile.TarFile, name: str) -> bytes:
    handle = archive.extractfile(name)
    assert handle is not None
    return handle.read()


def image_config(path: Path) -> dict[str, Any]:
    return image_manifest(path)[1]


def unpacked(archive: Path, dest: Path) -> Path:
    """The image's root file system below `dest` (umoci unpack, owners kept)."""
    layout = dest / "layout"
    layout.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        tar.extractall(layout, filter="data")  # our own archive; "data" refuses odd members
    tag = image_config(archive)["config"]["Labels"]["org.opencontainers.image.version"]
    subprocess.run(
        ["umoci", "unpack", "--image", f"{layout}:{tag}", str(dest / "bundle")],
        check=True,
        capture_output=True,
    )
    shutil.rmtree(layout)
    return dest / "bundle" / "rootfs"


@dataclass
class Mount:
    source: Path
    target: str
    read_only: bool = False


def runc_spec(
    rootfs: Path,
    args: list[str],
    env: dict[str, str],
    mounts: list[Mount],
    *,
    image: dict[str, Any],
    memory_mib: int = 512,
) -> dict[str, Any]:
    """An OCI runtime spec with what charts/portal asks of a pod.

    uid/gid 10001 (fsGroup 10001), no capabilities, no new privileges, read-only root, a
    tmpfs at /tmp, the chart's memory limit; the host's network namespace so the test
    reaches the server on 127.0.0.1 (the real-node tests cover pod networking).
    """
    config = image["config"]
    base_env = dict(item.split("=", 1) for item in config.get("Env", []))
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": 10001, "gid": 10001, "additionalGids": [10001]},
            "args": args,
            "env": [f"{k}={v}" for k, v in {**base_env, **env}.items()],
            "cwd": config.get("WorkingDir") or "/",
            "capabilities": {
                "bounding": [],
                "effective": [],
                "inheritable": [],
                "permitted": [],
                "ambient": [],
            },
            "noNewPrivileges": True,
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 4096, "soft": 4096}],
        },
        "root": {"path": str(rootfs), "readonly": True},
        "hostname": "dokportal",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {
                "destination": "/dev",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
            },
            {
                "destination": "/dev/pts",
                "type": "devpts",
                "source": "devpts",
                "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"],
            },
            {
                "destination": "/dev/shm",
                "type": "tmpfs",
                "source": "shm",
                "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
            },
            {
                "destination": "/sys",
                "type": "sysfs",
                "source": "sysfs",
                "options": ["nosuid", "noexec", "nodev", "ro"],
            },
            {
                "destination": "/tmp",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "nodev", "mode=1777", "size=262144k"],
            },
            {
                "destination": "/etc/resolv.conf",
                "type": "bind",
                "source": "/etc/resolv.conf",
                "options": ["rbind", "ro"],
            },
            *(
                {
                    "destination": mount.target,
                    "type": "bind",
                    "source": str(mount.source),
                    "options": ["rbind", "ro" if mount.read_only else "rw"],
                }
                for mount in mounts
            ),
        ],
        "linux": {
            "namespaces": [{"type": t} for t in ("pid", "ipc", "uts", "mount")],
            "resources": {
                "memory": {"limit": memory_mib * 1024 * 1024},
                "cpu": {"quota": 100000, "period": 100000},
            },
            "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
            "readonlyPaths": [
                "/proc/bus",
                "/proc/fs",
                "/proc/irq",
                "/proc/sys",
                "/proc/sysrq-trigger",
            ],
        },
    }


def _bundle(workdir: Path, spec: dict[str, Any]) -> tuple[Path, str]:
    name = f"dkp-{uuid.uuid4().hex[:10]}"
    bundle = workdir / name
    bundle.mkdir(parents=True)
    (bundle / "config.json").write_text(json.dumps(spec))
    return bundle, name


def run_once(
    workdir: Path, spec: dict[str, Any], timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """Run the spec's process to its end (runc run, foreground)."""
    bundle, name = _bundle(workdir, spec)
    try:
        return subprocess.run(
            ["runc", "run", "--bundle", str(bundle), name],
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    finally:
        subprocess.run(["runc", "delete", "--force", name], capture_output=True, check=False)


@contextmanager
def running(workdir: Path, spec: dict[str, Any], log: Path) -> Iterator[str]:
    """Run the spec's process in the background; yield its container name; stop it after."""
    bundle, name = _bundle(workdir, spec)
    with log.open("wb") as output:
        process = subprocess.Popen(
            ["runc", "run", "--bundle", str(bundle), name],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield name
    finally:
        subprocess.run(["runc", "kill", name, "TERM"], capture_output=True, check=False)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        subprocess.run(["runc", "delete", "--force", name], capture_output=True, check=False)


# Run inside a container (python -c): who it runs as, its capabilities, where it may write,
# and where the settings' default paths resolve. One JSON line out; see `assert_confined`.
PROBE = r"""
import json, os, pathlib
lines = open("/proc/self/status").read().splitlines()
status = dict(line.split(":\t", 1) for line in lines if ":\t" in line)
result = {"uid": os.getuid(), "gid": os.getgid(), "cap_eff": status["CapEff"].strip(),
          "cap_bnd": status["CapBnd"].strip(), "no_new_privs": status["NoNewPrivs"].strip()}
writes = {}
for path in ["/tmp/x", "/data/x", "/x", "/etc/x", "/opt/venv/x", "/usr/local/x", "/var/tmp/x",
             "/nonexistent/x"]:
    try:
        pathlib.Path(path).write_text("x")
        writes[path] = "ok"
        os.unlink(path)
    except OSError as error:
        writes[path] = error.strerror
result["writes"] = writes
from dokportal.settings import Settings
s = Settings()
url = s.database_url.get_secret_value()
result["paths"] = {
    "blobs": str(s.storage.folder.resolve()),
    "mail": str(s.mail.folder.resolve()),
    "keyring": str(s.keyring_path.resolve()),
    "session-secret": str(s.keyring_path.parent.resolve() / "session-secret"),
    "sqlite": str(pathlib.Path(url.removeprefix("sqlite:///")).resolve()),
}
print(json.dumps(result))
"""


def assert_confined(probe: dict[str, Any]) -> None:
    """The chart's security context in force, and nothing written outside /tmp and /data."""
    assert (probe["uid"], probe["gid"]) == (10001, 10001)
    assert int(probe["cap_eff"], 16) == 0 and int(probe["cap_bnd"], 16) == 0
    assert probe["no_new_privs"] == "1"
    writes = dict(probe["writes"])
    assert writes.pop("/tmp/x") == "ok" and writes.pop("/data/x") == "ok"
    assert set(writes.values()) <= {"Read-only file system", "No such file or directory"}, writes
    for what, path in probe["paths"].items():
        assert path.startswith(("/data/", "/tmp/")), (what, path)
