"""`make cluster`: the test control plane, SeaweedFS and the operator, for trying things by
hand. Prints what to export, then runs until Ctrl+C and removes everything."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from types import FrameType

import yaml

from tests.support.cluster import OPERATOR_NAMESPACE, REPO, Cluster, run_cluster
from tests.support.operator import OperatorProcess, install
from tests.support.seaweed import run_seaweed

EXAMPLE_ENDPOINT = "https://s3.kreis-bergstrasse.de"
EXAMPLES = REPO / "examples"


def _database_secrets() -> list[str]:
    names = []
    for path in sorted(EXAMPLES.glob("portal-*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            postgresql = (((doc or {}).get("spec") or {}).get("database") or {}).get("postgresql")
            if postgresql:
                names.append(postgresql["connectionSecret"]["name"])
    return names


def serve_manual_cluster() -> None:
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    print("starting SeaweedFS and the control plane ...", flush=True)
    with run_seaweed() as s3, run_cluster() as cluster:
        install(cluster)
        secrets = [
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "s3-credentials", "namespace": OPERATOR_NAMESPACE},
                "stringData": {"access-key": s3.access_key, "secret-key": s3.secret_key},
            },
        ]
        # One database per tenant, as the examples want (pods are simulated: never connected).
        for name in _database_secrets():
            secrets.append(
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {"name": name, "namespace": OPERATOR_NAMESPACE},
                    "stringData": {"url": f"postgresql://portal:secret@postgres:5432/{name}"},
                }
            )
        cluster.kubectl("apply", "-f", "-", input_text=yaml.safe_dump_all(secrets))
        operator = OperatorProcess(cluster, cluster.directory / "operator.log", resync_seconds=60)
        operator.start()
        node_note = ""
        with contextlib.ExitStack() as real:
            if os.environ.get("REAL_NODE") == "1":
                node_note = _start_real_node(real, cluster)
            _wait_for_stop(operator, stopping, s3.endpoint_url, cluster, node_note)
        operator.stop()
    print("stopped; nothing left behind", flush=True)


def _start_real_node(stack: contextlib.ExitStack, cluster: Cluster) -> str:
    """`make cluster REAL_NODE=1`: the tests' real node, with the images `make images` built."""
    from tests.support.images import built_images
    from tests.support.realnode import NODE_NAME, run_real_node

    print("starting the real node (containerd + kubelet) ...", flush=True)
    node = stack.enter_context(run_real_node(cluster, built_images()))
    return f"""
A real node runs too ({NODE_NAME}, pods on {node.node_ip.rsplit(".", 1)[0]}.0/24, reachable
from this machine by pod IP; no kube-proxy, so no Service IPs). It takes only pods of
namespaces annotated for it; make one with:

  kubectl create namespace try && kubectl annotate namespace try \\
    'scheduler.alpha.kubernetes.io/node-selector=dokportal.test/node=real' \\
    'scheduler.alpha.kubernetes.io/defaultTolerations=[{{"key":"dokportal.test/real-node","operator":"Exists"}}]'

Pod logs: {node.directory}/pod-logs; kubelet log: {node.directory}/kubelet.log
"""


def _wait_for_stop(
    operator: OperatorProcess,
    stopping: threading.Event,
    endpoint: str,
    cluster: Cluster,
    node_note: str,
) -> None:
    pid = operator.process.pid if operator.process else "<pid>"
    print(
        f"""
The control plane runs (Kubernetes {cluster.server}); the operator runs with its chart's RBAC.

  export KUBECONFIG={cluster.admin_kubeconfig}
  export PATH={cluster.bin_dir}:$PATH

SeaweedFS S3 is at {endpoint}; Secret {OPERATOR_NAMESPACE}/s3-credentials holds its keys
(and one <name>-database Secret per example with a PostgreSQL URL). The examples name the
county's S3 endpoint; point them here:

  sed 's#{EXAMPLE_ENDPOINT}#{endpoint}#' examples/portal-*.yaml | kubectl apply -f -
  kubectl get portals -o wide

Pods are simulated by kwok (nothing really runs). Volumes never bind here (no provisioner), so
Portals with SQLite or storage.volume (Bürstadt, Mörlenbach) stay Reconciling.
Operator log: {operator.log_path} (kept across restarts)
Restart the operator (e.g. after changing its code): kill {pid}
— it is started again at once with the same log; the control plane and SeaweedFS stay up.
{node_note}
Ctrl+C stops everything and removes it.
""",
        flush=True,
    )
    # The operator is a restartable child: when it exits (a crash, or `kill` to load new
    # code) it is started again, appending to the same log; the lab stays up.
    while not stopping.wait(1.0):
        if operator.process is not None and operator.process.poll() is not None:
            code = operator.process.returncode
            print(f"the operator exited ({code}); starting it again", flush=True)
            if stopping.wait(2.0):
                break
            operator.start()
            pid = operator.process.pid if operator.process else "<pid>"
            print(f"operator running again, pid {pid}", flush=True)
