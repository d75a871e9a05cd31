"""A real Kubernetes control plane on 127.0.0.1, for the operator tests and `make cluster`.

etcd, kube-apiserver (RBAC on), kube-controller-manager, kube-scheduler and kwok with one fake
node, started as plain processes from the binaries `hack/build-control-plane.sh` builds (see
docs/control-plane.md for every flag and why). Certificates come from `tests.support.pki`.

Identities:
- ``admin.kubeconfig``: ``system:masters``, for the tests, kubectl and helm;
- ``operator.kubeconfig``: a bearer token from the API server's token file, authenticated as
  the operator's ServiceAccount (``system:serviceaccount:dokportal:dokportal-operator``) — it
  can do exactly what the operator chart's RBAC grants, nothing more.

Every process runs in its own process group and gets SIGKILL should pytest die without
teardown (PR_SET_PDEATHSIG); teardown stops them in reverse order and removes the directory.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support.pki import CertificateAuthority, KeyPair, service_account_keys

K8S_VERSION = "1.34.4"
REPO = Path(__file__).resolve().parents[2]
OPERATOR_NAMESPACE = "dokportal"
OPERATOR_ACCOUNT = "dokportal-operator"
OPERATOR_USER = f"system:serviceaccount:{OPERATOR_NAMESPACE}:{OPERATOR_ACCOUNT}"
NODE_NAME = "kwok-node-0"
BINARIES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "helm",
    "kubectl",
)


def default_bin_dir() -> Path:
    """Where hack/build-control-plane.sh puts the binaries (``DOKPORTAL_K8S_BIN`` overrides)."""
    explicit = os.environ.get("DOKPORTAL_K8S_BIN")
    if explicit:
        return Path(explicit)
    cache = Path(os.environ.get("DOKPORTAL_CACHE", Path.home() / ".cache" / "dokportal"))
    return cache / f"k8s-{K8S_VERSION}" / "bin"


def missing_binaries(bin_dir: Path) -> list[str]:
    return [name for name in BINARIES if not os.access(bin_dir / name, os.X_OK)]


@dataclass
class Cluster:
    """A running control plane: where it is, who may use it, how to reach its tools."""

    directory: Path
    bin_dir: Path
    server: str
    ca_cert: Path
    admin_kubeconfig: Path
    operator_kubeconfig: Path
    audit_log: Path | None = None
    """The API server's audit log (JSON lines), when `run_cluster` was asked for one."""
    node_pods: int = 110
    ports: dict[str, int] = field(default_factory=dict)
    commands: dict[str, list[str]] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def tool_env(self) -> dict[str, str]:
        """Environment for kubectl/helm: admin identity, caches inside the cluster directory."""
        return {
            **os.environ,
            "KUBECONFIG": str(self.admin_kubeconfig),
            "KUBECACHEDIR": str(self.directory / "kube-cache"),
            "HELM_CACHE_HOME": str(self.directory / "helm" / "cache"),
            "HELM_CONFIG_HOME": str(self.directory / "helm" / "config"),
            "HELM_DATA_HOME": str(self.directory / "helm" / "data"),
        }

    def run(
        self, tool: str, *args: str, input_text: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl or helm from the bin dir; a failure raises with stderr in the message."""
        result = subprocess.run(
            [str(self.bin_dir / tool), *args],
            input=input_text,
            capture_output=True,
            text=True,
            env=self.tool_env,
            timeout=120,
            check=False,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)} failed:\n{result.stderr}{result.stdout}")
        return result

    def kubectl(self, *args: str, input_text: str | None = None, check: bool = True) -> str:
        return self.run("kubectl", *args, input_text=input_text, check=check).stdout

    def helm(self, *args: str, check: bool = True) -> str:
        return self.run("helm", *args, check=check).stdout

    def log_tail(self, component: str, lines: int = 30) -> str:
        try:
            text = (self.directory / f"{component}.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@contextlib.contextmanager
def run_cluster(
    bin_dir: Path | None = None,
    *,
    hold_job_components: tuple[str, ...] = (),
    audit_users: tuple[str, ...] = (),
    node_pods: int = 110,
    startup_timeout: float = 90.0,
) -> Iterator[Cluster]:
    """Start the control plane, yield it ready (fake node Ready), stop it afterwards.

    ``hold_job_components``: pods of Jobs whose ``app.kubernetes.io/component`` label is listed
    here stay Running instead of being completed by kwok, so a test decides when such a Job
    succeeds (by patching its status).

    ``audit_users``: every request of these users is written to ``Cluster.audit_log`` (JSON
    lines, level Metadata: who, verb, what object, response code — no bodies); the benchmark
    counts the operator's requests this way. Off by default (the tests do not need it).

    ``node_pods``: pod capacity of the fake node (110, a kubelet's default); kwok's pod
    addresses come from a range big enough for it.
    """
    bin_dir = bin_dir or default_bin_dir()
    missing = missing_binaries(bin_dir)
    if missing:
        raise FileNotFoundError(f"missing in {bin_dir}: {', '.join(missing)}")
    shm = Path("/dev/shm")
    directory = Path(tempfile.mkdtemp(prefix="dokportal-cp-", dir=shm if shm.is_dir() else None))
    cluster: Cluster | None = None
    try:
        for attempt in range(1, _ATTEMPTS + 1):
            cluster = _prepare(
                directory / f"attempt-{attempt}",
                bin_dir,
                hold_job_components,
                audit_users,
                node_pods,
            )
            try:
                _start_all(cluster, startup_timeout)
                break
            except _ExitedEarly as error:
                print(f"control plane start {attempt} failed, retrying: {error}", file=sys.stderr)
                # A free port was taken by someone else between our check and the bind
                # (other test runs share the machine): start again on fresh ports.
                _stop_all(cluster)
                if attempt == _ATTEMPTS:
                    raise
        assert cluster is not None
        yield cluster
    finally:
        if cluster is not None:
            _stop_all(cluster)
        shutil.rmtree(directory, ignore_errors=True)


# -- preparation -------------------------------------------------------------------------------


def _free_ports(count: int) -> list[int]:
    """Bind all sockets together so the kernel hands out distinct ports, then release them."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def _kubeconfig(path: Path, server: str, ca: Path, user: dict[str, str]) -> Path:
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "local",
                "cluster": {"server": server, "certificate-authority-data": _b64(ca)},
            }
        ],
        "users": [{"name": "user", "user": user}],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": "user"}}],
        "current-context": "local",
    }
    path.write_text(yaml.safe_dump(document))
    path.chmod(0o600)
    return path


def _client_user(pair: KeyPair) -> dict[str, str]:
    return {
        "client-certificate-data": _b64(pair.cert),
        "client-key-data": _b64(pair.key),
    }


_ATTEMPTS = 3


class _ExitedEarly(RuntimeError):
    """A component exited during start-up (typically: its port was taken meanwhile)."""


def _prepare(
    directory: Path,
    bin_dir: Path,
    hold: tuple[str, ...],
    audit_users: tuple[str, ...] = (),
    node_pods: int = 110,
) -> Cluster:
    directory.mkdir()
    pki = directory / "pki"
    ca = CertificateAuthority(pki)
    serving = ca.issue(
        "apiserver",
        "kube-apiserver",
        server_names=(
            "127.0.0.1",
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "10.0.0.1",
        ),
    )
    admin = ca.issue("admin", "dokportal-admin", organization="system:masters")
    kcm = ca.issue("kcm", "system:kube-controller-manager")
    scheduler = ca.issue("scheduler", "system:kube-scheduler")
    kwok = ca.issue("kwok", "kwok-controller", organization="system:masters")
    sa_private, sa_public = service_account_keys(pki)
    token = secrets.token_urlsafe(32)
    user = OPERATOR_USER
    groups = f"system:serviceaccounts,system:serviceaccounts:{OPERATOR_NAMESPACE}"
    tokens = pki / "tokens.csv"
    tokens.write_text(f'{token},{user},{OPERATOR_ACCOUNT}-uid,"{groups}"\n')
    tokens.chmod(0o600)

    names = ("etcd", "etcd_peer", "apiserver", "kcm", "scheduler", "kwok")
    ports = dict(zip(names, _free_ports(len(names)), strict=True))
    server = f"https://127.0.0.1:{ports['apiserver']}"

    def kubeconfig(name: str, user_entry: dict[str, str]) -> Path:
        return _kubeconfig(directory / f"{name}.kubeconfig", server, ca.cert, user_entry)

    cluster = Cluster(
        directory=directory,
        bin_dir=bin_dir,
        server=server,
        ca_cert=ca.cert,
        admin_kubeconfig=kubeconfig("admin", _client_user(admin)),
        operator_kubeconfig=kubeconfig("operator", {"token": token}),
    )
    stages = _kwok_stages(bin_dir, directory, hold)
    b = str(bin_dir)
    etcd_url = f"http://127.0.0.1:{ports['etcd']}"
    peer_url = f"http://127.0.0.1:{ports['etcd_peer']}"
    commands = {
        "etcd": [
            f"{b}/etcd",
            "--name=dokportal",
            f"--data-dir={directory / 'etcd'}",
            f"--listen-client-urls={etcd_url}",
            f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=dokportal={peer_url}",
            "--unsafe-no-fsync",
            "--log-level=warn",
        ],
        "kube-apiserver": [
            f"{b}/kube-apiserver",
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={ports['apiserver']}",
            f"--tls-cert-file={serving.cert}",
            f"--tls-private-key-file={serving.key}",
            f"--client-ca-file={ca.cert}",
            f"--token-auth-file={tokens}",
            "--authorization-mode=RBAC",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={sa_public}",
            f"--service-account-signing-key-file={sa_private}",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--allow-privileged=true",
            # The real node (tests/support/realnode.py): namespaces annotated for it get its
            # node selector and toleration; others never land on it. Without annotations both
            # plugins change nothing. The kubelet is reached by its node IP, never a DNS name.
            "--enable-admission-plugins=PodNodeSelector,PodTolerationRestriction",
            "--kubelet-preferred-address-types=InternalIP",
            f"--cert-dir={directory / 'apiserver-certs'}",
            # 127.0.0.1 is not a valid endpoint for the kubernetes Service; nothing needs it.
            "--endpoint-reconciler-type=none",
            *_audit_flags(directory, audit_users),
        ],
        "kube-controller-manager": [
            f"{b}/kube-controller-manager",
            f"--kubeconfig={kubeconfig('kcm', _client_user(kcm))}",
            "--bind-address=127.0.0.1",
            f"--secure-port={ports['kcm']}",
            f"--cert-dir={directory / 'kcm-certs'}",
            "--leader-elect=false",
            # Per-controller identities: the bootstrap RBAC of system:kube-controller-manager
            # alone does not cover Deployments, ReplicaSets or Jobs.
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={sa_private}",
            f"--root-ca-file={ca.cert}",
            f"--flex-volume-plugin-dir={directory / 'flexvolume'}",
        ],
        "kube-scheduler": [
            f"{b}/kube-scheduler",
            f"--kubeconfig={kubeconfig('scheduler', _client_user(scheduler))}",
            "--bind-address=127.0.0.1",
            f"--secure-port={ports['scheduler']}",
            f"--cert-dir={directory / 'scheduler-certs'}",
            "--leader-elect=false",
        ],
        "kwok": [
            f"{b}/kwok",
            f"--kubeconfig={kubeconfig('kwok', _client_user(kwok))}",
            f"--config={stages}",
            "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            "--node-lease-duration-seconds=40",
            # One address per pod (never routed anywhere); /24 holds a default node's 110.
            "--cidr=10.244.0.0/24" if node_pods <= 250 else "--cidr=10.244.0.0/16",
            f"--server-address=127.0.0.1:{ports['kwok']}",
        ],
    }
    cluster.ports = ports
    cluster.commands = commands
    cluster.node_pods = node_pods
    if audit_users:
        cluster.audit_log = directory / "audit.log"
    return cluster


def _audit_flags(directory: Path, users: tuple[str, ...]) -> list[str]:
    """kube-apiserver flags for an audit log of `users`' requests (none: no audit log).

    Level Metadata, without the RequestReceived stage: a request appears once when it is
    answered (ResponseComplete) — a watch also when its response starts (ResponseStarted),
    so count distinct auditIDs. Blocking mode: an answered request is already in the file.
    """
    if not users:
        return []
    policy = directory / "audit-policy.yaml"
    policy.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "audit.k8s.io/v1",
                "kind": "Policy",
                "omitStages": ["RequestReceived"],
                "rules": [{"level": "Metadata", "users": list(users)}, {"level": "None"}],
            }
        )
    )
    return [
        f"--audit-policy-file={policy}",
        f"--audit-log-path={directory / 'audit.log'}",
        "--audit-log-format=json",
        "--audit-log-mode=blocking",
    ]


def _kwok_stages(bin_dir: Path, directory: Path, hold: tuple[str, ...]) -> Path:
    """kwok's default stages; pods of held Job components are never completed by kwok."""
    source = bin_dir.parent / "etc" / "kwok-stages.yaml"
    documents = [doc for doc in yaml.safe_load_all(source.read_text()) if doc]
    if hold:
        for doc in documents:
            if doc["metadata"]["name"] == "pod-complete":
                doc["spec"]["selector"]["matchExpressions"].append(
                    {
                        "key": '.metadata.labels["app.kubernetes.io/component"]',
                        "operator": "NotIn",
                        "values": list(hold),
                    }
                )
    target = directory / "kwok-stages.yaml"
    target.write_text(yaml.safe_dump_all(documents))
    return target


# -- start and stop ----------------------------------------------------------------------------

_PR_SET_PDEATHSIG = 1
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None


def _die_with_parent() -> None:
    """In the child: SIGKILL when the parent dies without teardown."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def spawn(
    command: list[str], log_path: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start a process in its own group, output to `log_path`, dying with this one."""
    with log_path.open("ab") as log:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
            env=env,
        )


def stop(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM the process group, SIGKILL after `grace` seconds."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    # Children that outlived the leader (none expected) go with the group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _start_all(cluster: Cluster, timeout: float) -> None:
    ports = cluster.ports
    env = {**os.environ, "HOME": str(cluster.directory)}
    deadline = time.monotonic() + timeout
    ca = ssl.create_default_context(cafile=str(cluster.ca_cert))
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE  # controller-manager/scheduler self-signed health ports

    def start(name: str) -> None:
        cluster.processes[name] = spawn(
            cluster.commands[name], cluster.directory / f"{name}.log", env
        )

    start("etcd")
    _wait_http(cluster, "etcd", f"http://127.0.0.1:{ports['etcd']}/health", None, deadline)
    start("kube-apiserver")
    _wait_http(cluster, "kube-apiserver", f"{cluster.server}/readyz", ca, deadline)
    for name in ("kube-controller-manager", "kube-scheduler", "kwok"):
        start(name)
    _wait_http(
        cluster,
        "kube-controller-manager",
        f"https://127.0.0.1:{ports['kcm']}/healthz",
        insecure,
        deadline,
    )
    _wait_http(
        cluster,
        "kube-scheduler",
        f"https://127.0.0.1:{ports['scheduler']}/readyz",
        insecure,
        deadline,
    )
    _wait_http(cluster, "kwok", f"http://127.0.0.1:{ports['kwok']}/healthz", None, deadline)
    # The controllers run once the default ServiceAccount exists (pods need it to be admitted).
    _wait_for(
        cluster,
        "the default ServiceAccount",
        lambda: (
            cluster.kubectl("get", "serviceaccount", "default", "-n", "default", check=False) != ""
        ),
        deadline,
    )
    cluster.kubectl("apply", "-f", "-", input_text=yaml.safe_dump(_fake_node(cluster.node_pods)))
    _wait_for(
        cluster,
        "the kwok node to be Ready",
        lambda: (
            cluster.kubectl(
                "get",
                "node",
                NODE_NAME,
                "-o",
                "jsonpath={.status.conditions[?(@.type=='Ready')].status}",
                check=False,
            )
            == "True"
        ),
        deadline,
    )


def _fake_node(pods: int = 110) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": NODE_NAME,
            "annotations": {"node.alpha.kubernetes.io/ttl": "0", "kwok.x-k8s.io/node": "fake"},
            "labels": {
                "kubernetes.io/hostname": NODE_NAME,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
            },
        },
        "status": {
            "allocatable": {"cpu": "32", "memory": "256Gi", "pods": str(pods)},
            "capacity": {"cpu": "32", "memory": "256Gi", "pods": str(pods)},
        },
    }


def _wait_http(
    cluster: Cluster, name: str, url: str, verify: ssl.SSLContext | None, deadline: float
) -> None:
    def ok() -> bool:
        try:
            response = httpx.get(url, verify=verify or True, timeout=2)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    _wait_for(cluster, f"{name} ({url})", ok, deadline, process=name)


def _wait_for(
    cluster: Cluster,
    what: str,
    check: Callable[[], bool],
    deadline: float,
    process: str | None = None,
) -> None:
    while time.monotonic() < deadline:
        for name, proc in cluster.processes.items():
            if proc.poll() is not None:
                raise _ExitedEarly(
                    f"{name} exited with {proc.returncode} while waiting for {what}:\n"
                    f"{cluster.log_tail(name)}"
                )
        if check():
            return
        time.sleep(0.1)  # a poll interval, not a guess at a start-up time
    tail = cluster.log_tail(process) if process else ""
    raise RuntimeError(f"timed out waiting for {what}\n{tail}")


def _stop_all(cluster: Cluster) -> None:
    for name in reversed(list(cluster.processes)):
        stop(cluster.processes[name])


# -- `make cluster` ----------------------------------------------------------------------------


def main() -> None:
    """Start the control plane for manual use and wait for Ctrl+C."""
    from tests.support.manual import serve_manual_cluster

    serve_manual_cluster()


if __name__ == "__main__":
    main()
