"""What the real-node tests share: Secrets and volumes as an administrator makes them, a
one-off Job like the chart's, and a customer's journey over HTTP to a pod."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support import documents
from tests.support.realnode import NODE_NAME, RealNode, wait_until

DOKPORTAL = str(Path(sys.executable).with_name("dokportal"))
CSRF_RE = re.compile(r'name="_csrf" value="([0-9a-f]+)"')
CODE_RE = re.compile(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}")
MARKER = b"DOKPORTAL-REAL-NODE-PLAINTEXT-MARKER"
PASSWORD = "Sonnenblume-2026"


def apply(node: RealNode, *objects: dict[str, Any]) -> None:
    node.cluster.kubectl("apply", "-f", "-", input_text=yaml.safe_dump_all(objects))


def keyring_json(workdir: Path) -> str:
    """A fresh keyring, made with `dokportal keys init` as the chart's README says."""
    path = workdir / "keyring.json"
    subprocess.run(
        [DOKPORTAL, "keys", "init"],
        env={"DOKPORTAL_KEYRING_PATH": str(path), "PATH": "/usr/bin:/bin"},
        check=True,
        capture_output=True,
    )
    return path.read_text()


def secrets(namespace: str, workdir: Path) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "portal-keyring", "namespace": namespace},
            "stringData": {"keyring.json": keyring_json(workdir)},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "portal-session", "namespace": namespace},
            "stringData": {"session-secret": "x" * 48},
        },
    ]


def local_volume(node: RealNode, namespace: str, claim: str, name: str) -> dict[str, Any]:
    """A local PersistentVolume on the real node, pre-bound to `claim` (no provisioner)."""
    path = node.directory / "volumes" / name
    path.mkdir(parents=True)
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name},
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": "",
            "claimRef": {"namespace": namespace, "name": claim},
            "local": {"path": str(path)},
            "nodeAffinity": {
                "required": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {
                                    "key": "kubernetes.io/hostname",
                                    "operator": "In",
                                    "values": [NODE_NAME],
                                }
                            ]
                        }
                    ]
                }
            },
        },
    }


def get(node: RealNode, *args: str) -> Any:
    return json.loads(node.cluster.kubectl("get", *args, "-o", "json"))


def run_like_migration(
    node: RealNode,
    namespace: str,
    name: str,
    args: list[str],
    *,
    command: list[str] | None = None,
    bare: bool = False,
) -> str:
    """Run `dokportal ARGS` (or `command`) as a Job made like the chart's migration Job (same
    env, volumes, security context, limits; `bare`: without the chart's settings, so the
    image's defaults apply); return its output, read from the kubelet's log folder."""
    jobs = get(node, "jobs", "-n", namespace, "-l", "app.kubernetes.io/component=migrate")
    template = jobs["items"][-1]["spec"]["template"]
    template["metadata"] = {"labels": {"dokportal.test/job": name}}
    container = template["spec"]["containers"][0]
    container["args"] = args
    if command:
        container["command"] = command
    if bare:
        container["env"], container["envFrom"] = [], []
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"backoffLimit": 0, "template": template},
    }
    apply(node, job)

    def done() -> bool:
        status = get(node, "job", name, "-n", namespace).get("status", {})
        assert not status.get("failed"), pod_logs(node, namespace, f"dokportal.test/job={name}")
        return bool(status.get("succeeded"))

    wait_until(f"Job {name}", done, 120, lambda: node.log_tail("kubelet"))
    return pod_logs(node, namespace, f"dokportal.test/job={name}")


def pod_logs(node: RealNode, namespace: str, selector: str) -> str:
    pods = get(node, "pods", "-n", namespace, "-l", selector)["items"]
    return "\n".join(node.pod_log(namespace, p["metadata"]["name"]) for p in pods)


def ready_pod(
    node: RealNode, namespace: str, selector: str, timeout: float = 180
) -> dict[str, Any]:
    """The pod matching `selector` once its readiness probe (/readyz) really passed."""

    def ready() -> dict[str, Any] | None:
        for pod in get(node, "pods", "-n", namespace, "-l", selector)["items"]:
            conditions = pod.get("status", {}).get("conditions", [])
            if pod["metadata"].get("deletionTimestamp") is None and any(
                c["type"] == "Ready" and c["status"] == "True" for c in conditions
            ):
                assert pod["spec"]["nodeName"] == NODE_NAME
                return dict(pod)
        return None

    found: dict[str, Any] = wait_until(
        f"a Ready pod {selector} in {namespace}",
        ready,
        timeout,
        lambda: pod_logs(node, namespace, selector) + "\n" + node.log_tail("kubelet"),
    )
    return found


def customer_journey(base_url: str, number: str, code: str) -> str:
    """Activate, upload a PDF, read the receipt; return the receipt number.

    In production an ingress terminates TLS in front of the pod, so a portal whose public
    URL is https:// marks its cookies Secure; plain HTTP to the pod stands in for that hop,
    so this browser sends its cookies itself (httpx would hold Secure ones back).
    """
    letter = documents.pdf() + b"\n% " + MARKER + b"\n"
    jar = httpx.Cookies()

    def send_cookies(request: httpx.Request) -> None:
        if jar:
            request.headers["Cookie"] = "; ".join(f"{c.name}={c.value}" for c in jar.jar)

    def keep_cookies(response: httpx.Response) -> None:
        jar.extract_cookies(response)

    hooks: dict[str, list[Callable[..., Any]]] = {
        "request": [send_cookies],
        "response": [keep_cookies],
    }
    with httpx.Client(
        base_url=base_url, follow_redirects=True, timeout=30, event_hooks=hooks
    ) as browser:

        def csrf(path: str) -> str:
            found = CSRF_RE.search(browser.get(path).text)
            assert found
            return found.group(1)

        page = browser.post(
            "/activate",
            data={
                "_csrf": csrf("/activate"),
                "customer_number": number,
                "code": code,
                "password": PASSWORD,
                "password_repeat": PASSWORD,
            },
        )
        assert page.status_code == 200, (page.status_code, page.text[:1500])
        receipt = browser.post(
            "/documents",
            data={"_csrf": csrf("/documents/new"), "category": "payslip"},
            files=[("files", ("lohn.pdf", letter, "application/pdf"))],
        )
        assert receipt.status_code == 200, receipt.text[-800:]
        found = re.search(r"[A-Z]{1,6}-\d{4}-\d{6}", receipt.text)
        assert found, receipt.text[-800:]
        again = browser.get(str(receipt.url))
        assert again.status_code == 200 and found.group(0) in again.text
        return found.group(0)


SECRET_RE = re.compile(r'class="secret">([A-Z2-7]+)<')


class StaffBrowser:
    """A caseworker's browser over plain HTTP to the pod (cookies as in `customer_journey`)."""

    def __init__(self, base_url: str) -> None:
        self.jar = httpx.Cookies()
        hooks: dict[str, list[Callable[..., Any]]] = {
            "request": [self._send_cookies],
            "response": [self.jar.extract_cookies],
        }
        self.client = httpx.Client(base_url=base_url, timeout=30, event_hooks=hooks)

    def _send_cookies(self, request: httpx.Request) -> None:
        if self.jar:
            request.headers["Cookie"] = "; ".join(f"{c.name}={c.value}" for c in self.jar.jar)

    def post(self, path: str, data: dict[str, str], page: str) -> httpx.Response:
        found = CSRF_RE.search(self.client.get(page).text)
        assert found, page
        return self.client.post(path, data={"_csrf": found.group(1), **data})

    def close(self) -> None:
        self.client.close()


def staff_enrol(base_url: str, username: str, password: str) -> str:
    """First sign-in: password, then enrol the authenticator; return the TOTP secret."""
    import pyotp

    browser = StaffBrowser(base_url)
    try:
        first = browser.post(
            "/staff/signin", {"username": username, "password": password}, "/staff/signin"
        )
        assert first.status_code == 303 and first.headers["location"] == "/staff/enrol", first.text[
            -500:
        ]
        found = SECRET_RE.search(browser.client.get("/staff/enrol").text)
        assert found
        done = browser.post(
            "/staff/enrol", {"code": pyotp.TOTP(found.group(1)).now()}, "/staff/enrol"
        )
        assert done.status_code == 200, done.text[-500:]
        assert browser.client.get("/staff").status_code == 200
        return found.group(1)
    finally:
        browser.close()


def staff_sign_in(base_url: str, username: str, password: str, secret: str, ahead: int) -> None:
    """Password, then a TOTP code `ahead` steps from now (within the portal's window, and
    never a step used before); the workspace opens."""
    import time

    import pyotp

    browser = StaffBrowser(base_url)
    try:
        first = browser.post(
            "/staff/signin", {"username": username, "password": password}, "/staff/signin"
        )
        assert first.headers.get("location") == "/staff/signin/code", first.text[-500:]
        code = pyotp.TOTP(secret).at(time.time() + 30 * ahead)
        done = browser.post("/staff/signin/code", {"code": code}, "/staff/signin/code")
        assert done.status_code == 303 and done.headers["location"] == "/staff", done.text[-500:]
        assert browser.client.get("/staff").status_code == 200
    finally:
        browser.close()
