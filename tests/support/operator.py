"""The operator under test: installed from its chart (CRD and RBAC), run as a process with the
token identity of the chart's ServiceAccount — never as admin — so missing RBAC fails."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.support.cluster import (
    K8S_VERSION,
    OPERATOR_ACCOUNT,
    OPERATOR_NAMESPACE,
    REPO,
    Cluster,
    spawn,
    stop,
)

OPERATOR_CHART = REPO / "charts" / "dokportal-operator"
PORTAL_CHART = REPO / "charts" / "portal"
CRDS = REPO / "crds"


SKIPPED_KINDS = ("Deployment", "ValidatingWebhookConfiguration")


def rendered_operator_chart(cluster: Cluster) -> list[dict[str, Any]]:
    """The operator chart as the tests install it (release dokportal-operator)."""
    rendered = cluster.helm(
        "template",
        OPERATOR_ACCOUNT,
        str(OPERATOR_CHART),
        "--namespace",
        OPERATOR_NAMESPACE,
        "--kube-version",
        K8S_VERSION,
    )
    return [doc for doc in yaml.safe_load_all(rendered) if isinstance(doc, dict)]


def install(cluster: Cluster) -> None:
    """The CRD (as `kubectl apply --server-side -f crds/`) and the chart's RBAC objects."""
    cluster.kubectl("apply", "--server-side", "-f", str(CRDS))
    cluster.kubectl(
        "wait", "--for=condition=Established", "crd/portals.dokportal.dev", "--timeout=30s"
    )
    cluster.kubectl("create", "namespace", OPERATOR_NAMESPACE, check=False)
    # Everything but the operator's own Deployment (the operator runs here as a process) and
    # the webhook configuration: tests/operator/cluster/test_webhook.py applies that itself,
    # the other tests see the reconcile loop's checks (as with the webhook down).
    documents = [
        doc for doc in rendered_operator_chart(cluster) if doc.get("kind") not in SKIPPED_KINDS
    ]
    cluster.kubectl("apply", "--server-side", "-f", "-", input_text=yaml.safe_dump_all(documents))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class OperatorProcess:
    """`dokportal-operator` as a child process; `restart()` kills it hard and starts anew."""

    cluster: Cluster
    log_path: Path
    resync_seconds: float = 30.0
    # The tests look again every second while waiting; the benchmark uses the default (5 s).
    retry_seconds: float = 1.0
    extra_env: dict[str, str] = field(default_factory=dict)  # more DOKPORTAL_OPERATOR_* settings
    process: subprocess.Popen[bytes] | None = None
    webhook_port: int = field(default_factory=lambda: _free_port())

    def env(self) -> dict[str, str]:
        helm_home = self.cluster.directory / "operator-helm"
        # Its temporary files (the webhook's certificate) go with the control plane's folder,
        # also when a test kills it with SIGKILL before its clean-up runs.
        scratch = self.cluster.directory / "operator-tmp"
        scratch.mkdir(exist_ok=True)
        return {
            **os.environ,
            "KUBECONFIG": str(self.cluster.operator_kubeconfig),
            "DOKPORTAL_OPERATOR_NAMESPACE": OPERATOR_NAMESPACE,
            "DOKPORTAL_OPERATOR_HELM": str(self.cluster.bin_dir / "helm"),
            "DOKPORTAL_OPERATOR_CHART": str(PORTAL_CHART),
            "DOKPORTAL_OPERATOR_KUBE_VERSION": K8S_VERSION,
            "DOKPORTAL_OPERATOR_RESYNC_SECONDS": str(self.resync_seconds),
            "DOKPORTAL_OPERATOR_RETRY_SECONDS": str(self.retry_seconds),
            "DOKPORTAL_OPERATOR_LIVENESS": f"http://127.0.0.1:{_free_port()}/healthz",
            "DOKPORTAL_OPERATOR_LOG_LEVEL": "INFO",
            # The API server calls the webhook on loopback (no Service network here).
            "DOKPORTAL_OPERATOR_WEBHOOK_PORT": str(self.webhook_port),
            "DOKPORTAL_OPERATOR_WEBHOOK_ADDR": "127.0.0.1",
            "DOKPORTAL_OPERATOR_WEBHOOK_URL": f"https://127.0.0.1:{self.webhook_port}",
            # A killed leader's Lease runs out after this long (a restart waits for it).
            "DOKPORTAL_OPERATOR_LEASE_SECONDS": "10",
            "TMPDIR": str(scratch),
            "HELM_CACHE_HOME": str(helm_home / "cache"),
            "HELM_CONFIG_HOME": str(helm_home / "config"),
            "HELM_DATA_HOME": str(helm_home / "data"),
            **self.extra_env,
        }

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None
        with self.log_path.open("a") as log:
            log.write(f"\n===== operator start {time.strftime('%H:%M:%S')} =====\n")
        self.process = spawn(
            [sys.executable, "-m", "dokportal_operator"], self.log_path, self.env()
        )

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, as when a node dies mid-way."""
        if self.process is not None:
            stop(self.process, grace=0)

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process, grace=10)

    def restart(self) -> None:
        self.kill()
        self.start()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log().splitlines()[-lines:])
