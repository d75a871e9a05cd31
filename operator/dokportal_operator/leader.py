"""Leader election over a Lease (coordination.k8s.io) in the operator's namespace.

Two replicas run; only the one holding the Lease runs kopf (the loops, the webhook). The other
waits until the Lease is free or expired and takes over. A leader that cannot renew in time
exits at once (its Deployment restarts it as a standby): two operators never act on the same
Portal. kopf's own peering does not elect (equal priorities just warn), hence a Lease.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from dokportal_operator import constants as c
from dokportal_operator.kube import ApiError, Kube, Ref, status_code

log = logging.getLogger(__name__)
_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"


def identity() -> str:
    return f"{os.environ.get('HOSTNAME') or socket.gethostname()}-{os.getpid()}"


def _now() -> datetime:
    return datetime.now(UTC)


def _body(name: str, namespace: str, me: str, seconds: int, since: str) -> dict[str, Any]:
    now = _now().strftime(_TIME)
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {c.MANAGED_BY_LABEL: c.MANAGED_BY},
        },
        "spec": {
            "holderIdentity": me,
            "leaseDurationSeconds": seconds,
            "acquireTime": since or now,
            "renewTime": now,
        },
    }


def _expired(spec: dict[str, Any]) -> bool:
    renewed = spec.get("renewTime")
    if not spec.get("holderIdentity") or not renewed:
        return True
    try:
        when = datetime.strptime(renewed, _TIME).replace(tzinfo=UTC)
    except ValueError:
        when = datetime.strptime(renewed, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return _now() > when + timedelta(seconds=int(spec.get("leaseDurationSeconds") or 15))


class Elector:
    def __init__(self, namespace: str, name: str = "dokportal-operator", seconds: int = 15):
        self.namespace, self.name, self.seconds = namespace, name, seconds
        self.me = identity()
        self.kube = Kube.from_environment()
        self.ref = Ref("Lease", name, namespace)

    async def _try(self) -> bool:
        """One attempt to take or renew the Lease; True: we hold it."""
        current = await self.kube.get(self.ref)
        if current is None:
            made = await self.kube.create(
                _body(self.name, self.namespace, self.me, self.seconds, "")
            )
            return made is not None  # None: another replica created it first
        spec = current.get("spec") or {}
        mine = spec.get("holderIdentity") == self.me
        if not mine and not _expired(spec):
            return False
        body = _body(
            self.name,
            self.namespace,
            self.me,
            self.seconds,
            spec.get("acquireTime", "") if mine else "",
        )
        body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        try:
            await self.kube.replace(body)
        except ApiError as error:
            if status_code(error) == 409:  # someone else renewed or took it meanwhile
                return False
            raise
        return True

    async def acquire(self) -> None:
        """Wait until this process leads."""
        waiting_logged = False
        while True:
            try:
                if await self._try():
                    log.info("leading as %s (Lease %s/%s)", self.me, self.namespace, self.name)
                    return
            except (ApiError, OSError) as error:
                log.warning("Lease not reachable, retrying: %s", error)
            if not waiting_logged:
                log.info(
                    "standing by: another operator holds Lease %s/%s", self.namespace, self.name
                )
                waiting_logged = True
            await asyncio.sleep(self.seconds / 5)

    async def keep(self) -> None:
        """Renew every third of the duration; a leader that could not renew before its Lease
        runs out must stop acting at once (another may take over)."""
        last = _now()
        while True:
            await asyncio.sleep(self.seconds / 3)
            try:
                if await self._try():
                    last = _now()
                    continue
                log.error("lost the Lease to another operator: exiting")
            except (ApiError, OSError) as error:
                if _now() - last < timedelta(seconds=self.seconds * 2 / 3):
                    log.warning("could not renew the Lease, retrying: %s", error)
                    continue
                log.error("could not renew the Lease in time: exiting")
            os._exit(70)

    async def close(self) -> None:
        await self.kube.close()

    async def wait_then_lead(self) -> None:
        """In a standby: poll the Lease; once it is ours, start again as the leader (same
        process id, so the same identity: the new image finds the Lease already its own)."""
        while True:
            await asyncio.sleep(self.seconds / 5)
            try:
                if await self._try():
                    log.info("took over the Lease: restarting as the leader")
                    # our own interpreter and module, no shell, no input from outside
                    os.execv(sys.executable, [sys.executable, "-m", "dokportal_operator"])  # noqa: S606
            except (ApiError, OSError) as error:
                log.warning("Lease not reachable, retrying: %s", error)

    async def release(self) -> None:
        """On a clean stop: give the Lease up so the standby takes over at once."""
        try:
            lease = await self.kube.get(self.ref)
            if lease is not None and (lease.get("spec") or {}).get("holderIdentity") == self.me:
                lease["spec"]["holderIdentity"] = ""
                await self.kube.replace(lease)
        except (ApiError, OSError) as error:
            log.warning("could not release the Lease: %s", error)


async def holds(namespace: str, seconds: int) -> bool:
    """One attempt (before kopf starts): may this process lead?"""
    elector = Elector(namespace, seconds=seconds)
    try:
        return await elector._try()
    finally:
        await elector.close()
