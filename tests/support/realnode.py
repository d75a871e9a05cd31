"""A real node for the test control plane: containerd + runc + the CNI bridge + a kubelet.

kwok marks pods Ready without starting anything; on this node the images `make images` built
really run, probes really pass, and a test talks HTTP to the pod. It plugs into the control
plane `tests.support.cluster` already runs: the kubelet registers ``dkp-node-0`` with it.

Layout: everything in one temporary folder (containerd's root, state, socket and config, the
kubelet's root, pod logs and config, the CNI config and IP allocations). Pods get addresses
on a private bridge (``dkp0``, 10.213.0.0/24; the host is 10.213.0.1, the node IP): traffic
goes only to pods this machine created, and to 127.0.0.1. The bridge plugin enforces no
NetworkPolicy (those stay tested at the API level).

Only pods of namespaces made with `RealNode.namespace_annotations` land here: the node is
tainted, and those annotations (the PodNodeSelector and PodTolerationRestriction admission
plugins the control plane enables) add the node selector and the toleration; every other pod
stays on the kwok node.

The machine facts behind the settings (docs/control-plane.md "A real node"):
- the kubelet asks for oom_score_adj -998, which needs CAP_SYS_RESOURCE these machines lack:
  containerd's ``restrict_oom_score_adj`` clamps it;
- on cgroup v1 the kubelet's cgroupRoot must exist in every hierarchy before it starts
  (cpuset with cpus and mems copied from the parent);
- registry.k8s.io is not reachable: a pause image is built here (a static Go binary that
  waits for SIGTERM, one layer) and imported under containerd's ``sandbox_image`` name.

Some paths are fixed whatever the flags (/var/lib/kubelet, /run/containerd, /var/lib/cni,
/run/netns): one real node per machine at a time (a file lock), and teardown removes what it
created there, stops every process, unmounts, removes cgroups and the bridge — also after a
failure.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.support.cluster import Cluster, spawn, stop

NODE_NAME = "dkp-node-0"
BRIDGE = "dkp0"
SUBNET = "10.213.0.0/24"
NODE_IP = "10.213.0.1"
TAINT_KEY = "dokportal.test/real-node"
NODE_LABEL = "dokportal.test/node"
PAUSE_IMAGE = "dokportal.local/pause:1"
CNI_BIN = Path("/usr/lib/cni")
CGROUP_V1 = Path("/sys/fs/cgroup")
CGROUP_ROOT = "dokportal-node"
LOCK_FILE = Path("/run/lock/dokportal-real-node.lock")
FIXED_PATHS = (Path("/var/lib/kubelet"), Path("/run/containerd"), Path("/var/lib/cni"))
IMAGES_DIR = (
    Path(os.environ.get("DOKPORTAL_CACHE", Path.home() / ".cache" / "dokportal")) / "images"
)
# Image names as the charts ask for them (repository:appVersion): pullPolicy IfNotPresent
# finds them in containerd's store, nothing is ever pulled.
IMAGE_NAMES = {"portal": "ghcr.io/dokportal/portal", "operator": "ghcr.io/dokportal/operator"}

PAUSE_SOURCE = """package main

import (
\t"os"
\t"os/signal"
\t"syscall"
)

// The pod sandbox's process: holds the namespaces, waits for the end.
func main() {
\tstop := make(chan os.Signal, 1)
\tsignal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
\t<-stop
}
"""


def missing_pieces(bin_dir: Path) -> list[str]:
    """What this machine lacks for a real node (empty: it can run one)."""
    missing = [
        tool for tool in ("containerd", "ctr", "runc", "umoci", "ip") if shutil.which(tool) is None
    ]
    missing += [
        f"{CNI_BIN}/{p}" for p in ("bridge", "host-local", "loopback") if not (CNI_BIN / p).exists()
    ]
    if not os.access(bin_dir / "kubelet", os.X_OK):
        missing.append(f"{bin_dir}/kubelet (hack/build-control-plane.sh)")
    if _go() is None:
        missing.append("go (for the pause image)")
    if os.geteuid() != 0:
        missing.append("root")
    if not (CGROUP_V1 / "memory").is_dir():
        missing.append("cgroup v1 hierarchies")
    return missing


def _go() -> str | None:
    return shutil.which("go") or (
        "/usr/local/go/bin/go" if os.access("/usr/local/go/bin/go", os.X_OK) else None
    )


@dataclass
class RealNode:
    name: str
    directory: Path
    node_ip: str
    socket: Path
    cluster: Cluster
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @staticmethod
    def namespace_annotations() -> dict[str, str]:
        """Annotations that send every pod of a namespace to this node."""
        return {
            "scheduler.alpha.kubernetes.io/node-selector": f"{NODE_LABEL}=real",
            "scheduler.alpha.kubernetes.io/defaultTolerations": json.dumps(
                [{"key": TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}]
            ),
        }

    @staticmethod
    def portal_placement() -> dict[str, object]:
        """`spec.app` fields that send a Portal's pods and Jobs to this node."""
        return {
            "nodeSelector": {NODE_LABEL: "real"},
            "tolerations": [{"key": TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}],
        }

    def create_namespace(self, name: str) -> None:
        manifest = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "annotations": self.namespace_annotations()},
        }
        self.cluster.kubectl("apply", "-f", "-", input_text=yaml.safe_dump(manifest))

    def ctr(self, *args: str, check: bool = True) -> str:
        result = subprocess.run(
            ["ctr", "--address", str(self.socket), "--namespace", "k8s.io", *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"ctr {' '.join(args)}: {result.stderr}")
        return result.stdout

    def import_image(self, archive: Path, repository: str) -> None:
        """Import an OCI archive (tagged with its version) as ``repository:version``."""
        self.ctr("images", "import", "--base-name", repository, "--digests", str(archive))

    def pod_log(self, namespace: str, pod: str) -> str:
        """What a pod's containers wrote, read from the kubelet's log folder (no API hop).

        The files are in the CRI format, ``<time> <stream> <P|F> <text>``: P marks a partial
        line that the next entry continues.
        """
        lines: list[str] = []
        for path in sorted((self.directory / "pod-logs").glob(f"{namespace}_{pod}_*/*/*.log")):
            partial = ""
            for entry in path.read_text(errors="replace").splitlines():
                parts = entry.split(" ", 3)
                if len(parts) < 3:
                    continue
                text = parts[3] if len(parts) == 4 else ""
                if parts[2] == "P":
                    partial += text
                else:
                    lines.append(partial + text)
                    partial = ""
        return "\n".join(lines)

    def log_tail(self, component: str, lines: int = 40) -> str:
        try:
            text = (self.directory / f"{component}.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


# -- the pause image -----------------------------------------------------------------------------


def pause_image() -> Path:
    """A one-layer OCI archive of a static Go binary that waits for SIGTERM (cached)."""
    key = hashlib.sha256(PAUSE_SOURCE.encode()).hexdigest()[:12]
    archive = IMAGES_DIR / f"pause-{key}.oci.tar"
    if archive.exists():
        return archive
    go = _go()
    assert go is not None
    IMAGES_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=IMAGES_DIR) as work_dir:
        work = Path(work_dir)
        (work / "main.go").write_text(PAUSE_SOURCE)
        (work / "go.mod").write_text("module dokportal.local/pause\n\ngo 1.22\n")
        rootfs = work / "rootfs"
        rootfs.mkdir()
        env = {**os.environ, "CGO_ENABLED": "0", "GOTOOLCHAIN": "local", "GOWORK": "off"}
        subprocess.run(
            [go, "build", "-trimpath", "-ldflags=-s -w", "-o", str(rootfs / "pause"), "."],
            cwd=work,
            env=env,
            check=True,
            capture_output=True,
        )
        with tarfile.open(work / "layer.tar", "w") as layer:
            info = layer.gettarinfo(str(rootfs / "pause"), arcname="pause")
            info.uid = info.gid = 0
            info.mtime = 0
            with (rootfs / "pause").open("rb") as handle:
                layer.addfile(info, handle)
        layout = work / "oci"
        image = f"{layout}:1"
        for command in (
            ["umoci", "init", "--layout", str(layout)],
            ["umoci", "new", "--image", image],
            ["umoci", "raw", "add-layer", "--image", image, str(work / "layer.tar")],
            [
                "umoci",
                "config",
                "--image",
                image,
                "--config.entrypoint=/pause",
                "--config.user=65535",
            ],
            ["umoci", "gc", "--layout", str(layout)],
        ):
            subprocess.run(command, check=True, capture_output=True)
        with tarfile.open(work / "pause.tar", "w") as out:
            for child in sorted(layout.iterdir()):
                out.add(child, arcname=f"./{child.name}")
        (work / "pause.tar").rename(archive)
    return archive


# -- configuration -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _containerd_config(directory: Path) -> Path:
    d = directory / "containerd"
    config = f"""version = 2
root = "{d}/root"
state = "{d}/state"
[grpc]
  address = "{d}/containerd.sock"
[ttrpc]
  address = "{d}/containerd.sock.ttrpc"
[debug]
  level = "warn"
[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN}"
    conf_dir = "{directory}/cni/net.d"
"""
    d.mkdir(parents=True)
    path = d / "config.toml"
    path.write_text(config)
    (directory / "cni" / "net.d").mkdir(parents=True)
    conflist = {
        "cniVersion": "1.0.0",
        "name": "dokportal-real-node",
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": SUBNET, "gateway": NODE_IP}]],
                    "dataDir": str(directory / "cni" / "ipam"),
                },
            }
        ],
    }
    (directory / "cni" / "net.d" / "10-dokportal.conflist").write_text(json.dumps(conflist))
    return path


def _kubelet_config(directory: Path, socket_path: Path) -> Path:
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": "127.0.0.1",
        "port": _free_port(),
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": _free_port(),
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": f"/{CGROUP_ROOT}",
        "failCgroupV1": False,
        "failSwapOn": False,
        "makeIPTablesUtilChains": False,
        "containerRuntimeEndpoint": f"unix://{socket_path}",
        "podLogsDir": str(directory / "pod-logs"),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": False},
            "x509": {},
        },
        "authorization": {"mode": "AlwaysAllow"},
        "registerWithTaints": [{"key": TAINT_KEY, "value": "true", "effect": "NoSchedule"}],
        # Imported images are the only copy: never collect them; never evict for disk space
        # on a shared disk.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
        },
        "serializeImagePulls": False,
        "syncFrequency": "5s",
        "fileCheckFrequency": "5s",
        "nodeStatusUpdateFrequency": "5s",
        "resolvConf": "/etc/resolv.conf",
        "localStorageCapacityIsolation": True,
        "enableControllerAttachDetach": True,
    }
    path = directory / "kubelet-config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


# -- set-up steps, each registering its undo ------------------------------------------------------


def _bridge(undo: contextlib.ExitStack) -> None:
    subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True, check=False)
    subprocess.run(["ip", "link", "add", BRIDGE, "type", "bridge"], check=True)
    undo.callback(subprocess.run, ["ip", "link", "del", BRIDGE], capture_output=True, check=False)
    subprocess.run(["ip", "addr", "add", f"{NODE_IP}/24", "dev", BRIDGE], check=True)
    subprocess.run(["ip", "link", "set", BRIDGE, "up"], check=True)


def _cgroup_hierarchies() -> list[Path]:
    return [
        p
        for p in sorted(CGROUP_V1.iterdir())
        if p.is_dir() and p.name != "unified" and (p / "cgroup.procs").exists()
    ]


def _cgroups(undo: contextlib.ExitStack) -> None:
    for hierarchy in _cgroup_hierarchies():
        group = hierarchy / CGROUP_ROOT
        _remove_cgroup(group)
        group.mkdir(exist_ok=True)
        if hierarchy.name == "cpuset" or (hierarchy / "cpuset.cpus").exists():
            for name in ("cpuset.cpus", "cpuset.mems"):
                (group / name).write_text((hierarchy / name).read_text())

    def remove() -> None:
        for hierarchy in _cgroup_hierarchies():
            _remove_cgroup(hierarchy / CGROUP_ROOT)

    undo.callback(remove)


def _remove_cgroup(group: Path) -> None:
    """Kill what is left inside, then remove the tree depth-first."""
    if not group.is_dir():
        return
    for _ in range(50):
        alive = False
        for procs in group.rglob("cgroup.procs"):
            for pid in procs.read_text().split():
                alive = True
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
        folders = sorted((p for p in group.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts))
        for folder in [*folders, group]:
            with contextlib.suppress(OSError):
                folder.rmdir()
        if not group.exists():
            return
        time.sleep(0.1 if alive else 0.05)  # the kernel frees a cgroup after its last task


def _fixed_paths(undo: contextlib.ExitStack) -> None:
    """Remove afterwards whichever of the fixed paths did not exist before."""
    for path in FIXED_PATHS:
        if not path.exists():
            undo.callback(shutil.rmtree, path, ignore_errors=True)
    netns_dir = Path("/run/netns")
    existed = netns_dir.is_dir()
    before = set(netns_dir.glob("cni-*")) if existed else set()

    def netns() -> None:
        for path in set(netns_dir.glob("cni-*")) - before:
            subprocess.run(["umount", str(path)], capture_output=True, check=False)
            path.unlink(missing_ok=True)
        if not existed:
            with contextlib.suppress(OSError):
                netns_dir.rmdir()  # only if empty: `ip netns` users may have added theirs

    undo.callback(netns)


def _unmount_below(directory: Path) -> None:
    mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    for target in sorted((m for m in mounts if m.startswith(f"{directory}/")), reverse=True):
        subprocess.run(["umount", "-l", target], capture_output=True, check=False)


def _kill_shims(directory: Path) -> None:
    """containerd's shims outlive it by design: end those started for this node."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "containerd-shim" in cmdline and str(directory) in cmdline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(proc.name), signal.SIGKILL)


def _wait(what: str, check: Callable[[], bool], timeout: float, logs: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"real node: timed out waiting for {what}\n{logs()}")
        time.sleep(0.2)


@contextlib.contextmanager
def run_real_node(
    cluster: Cluster, images: dict[str, Path], timeout: float = 120
) -> Iterator[RealNode]:
    """Start containerd and a kubelet registered with `cluster`; import `images`; clean up."""
    LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
    with LOCK_FILE.open("w") as lock, contextlib.ExitStack() as undo:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one real node per machine: wait for the other
        directory = Path(tempfile.mkdtemp(prefix="dokportal-node-", dir="/var/tmp"))
        undo.callback(shutil.rmtree, directory, ignore_errors=True)
        undo.callback(_unmount_below, directory)
        _fixed_paths(undo)
        _bridge(undo)
        _cgroups(undo)
        pause = pause_image()

        socket_path = directory / "containerd" / "containerd.sock"
        node = RealNode(NODE_NAME, directory, NODE_IP, socket_path, cluster)
        undo.callback(_kill_shims, directory)
        containerd = spawn(
            ["containerd", "--config", str(_containerd_config(directory))],
            directory / "containerd.log",
        )
        node.processes["containerd"] = containerd
        undo.callback(stop, containerd)
        _wait(
            "containerd",
            lambda: node.ctr("version", check=False) != "",
            30,
            lambda: node.log_tail("containerd"),
        )
        imports = [(pause, PAUSE_IMAGE.rsplit(":", 1)[0])]
        imports += [(archive, IMAGE_NAMES[name]) for name, archive in images.items()]
        with ThreadPoolExecutor(len(imports)) as pool:  # ~18 s for the portal image alone
            list(pool.map(lambda item: node.import_image(*item), imports))

        kubeconfig = directory / "kubelet.kubeconfig"
        shutil.copy(cluster.admin_kubeconfig, kubeconfig)
        (directory / "kubelet").mkdir()
        kubelet = spawn(
            [
                str(cluster.bin_dir / "kubelet"),
                f"--config={_kubelet_config(directory, socket_path)}",
                f"--kubeconfig={kubeconfig}",
                f"--root-dir={directory / 'kubelet'}",
                f"--cert-dir={directory / 'kubelet-pki'}",
                f"--hostname-override={NODE_NAME}",
                f"--node-ip={NODE_IP}",
                f"--node-labels={NODE_LABEL}=real",
                "--v=1",
            ],
            directory / "kubelet.log",
        )
        node.processes["kubelet"] = kubelet
        undo.callback(_delete_node, cluster)
        undo.callback(_remove_pods, node)
        undo.callback(stop, kubelet)

        def ready() -> bool:
            if kubelet.poll() is not None:
                raise RuntimeError(f"kubelet exited:\n{node.log_tail('kubelet')}")
            status = cluster.kubectl(
                "get",
                "node",
                NODE_NAME,
                "-o",
                "jsonpath={.status.conditions[?(@.type=='Ready')].status}",
                check=False,
            )
            return status == "True"

        _wait("the node to be Ready", ready, timeout, lambda: node.log_tail("kubelet"))
        yield node


def _remove_pods(node: RealNode) -> None:
    """After the kubelet: stop every pod's containers and sandboxes (their netns go too)."""
    if node.processes["containerd"].poll() is not None:
        return
    for task in node.ctr("tasks", "ls", "-q", check=False).split():
        node.ctr("tasks", "kill", "-s", "SIGKILL", task, check=False)
    deadline = time.monotonic() + 20
    while node.ctr("tasks", "ls", "-q", check=False).split() and time.monotonic() < deadline:
        time.sleep(0.2)
    for task in node.ctr("tasks", "ls", "-q", check=False).split():
        node.ctr("tasks", "rm", "-f", task, check=False)
    for container in node.ctr("containers", "ls", "-q", check=False).split():
        node.ctr("containers", "rm", container, check=False)


def _delete_node(cluster: Cluster) -> None:
    cluster.kubectl("delete", "node", NODE_NAME, "--wait=false", "--ignore-not-found", check=False)


def pod_ip(cluster: Cluster, namespace: str, selector: str) -> str:
    """The IP of the one Ready pod matching `selector`."""
    out = cluster.kubectl(
        "get",
        "pods",
        "-n",
        namespace,
        "-l",
        selector,
        "-o",
        "json",
    )
    pods = [
        p
        for p in json.loads(out)["items"]
        if p["metadata"].get("deletionTimestamp") is None
        and any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in p.get("status", {}).get("conditions", [])
        )
    ]
    assert pods, f"no Ready pod for {selector} in {namespace}"
    return str(pods[0]["status"]["podIP"])


def wait_until(what: str, check: Callable[[], Any], timeout: float, logs: Callable[[], str]) -> Any:
    """Poll `check` until it returns something truthy (which is returned)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{logs()}")
        time.sleep(0.5)
