"""Two operators, one leader (a Lease): the standby serves admission only; when the leader is
killed, the standby takes over and keeps Portals without duplicates."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.operator.cluster.portals import s3_portal, wait_condition
from tests.support.cluster import Cluster
from tests.support.kubeapi import Api, wait_for
from tests.support.operator import OperatorProcess
from tests.support.seaweed import SeaweedS3

pytestmark = [pytest.mark.cluster, pytest.mark.s3]

NAME = "hirschhorn"
NS = f"portal-{NAME}"


def test_the_standby_takes_over_when_the_leader_dies(
    api: Api,
    installed: Cluster,
    operator: OperatorProcess,
    credentials: SeaweedS3,
    tmp_path: Path,
) -> None:
    standby = OperatorProcess(
        installed, tmp_path / "standby.log", resync_seconds=30, extra_env=operator.extra_env
    )
    offset = len(operator.log())
    standby.start()
    try:
        wait_for("the second operator to stand by", lambda: "standing by" in standby.log())
        assert "leading as" not in standby.log()
        offset = len(operator.log())
        # SIGKILL, as when a node dies: no cleanup, the Lease is not released but runs out.
        assert operator.process is not None
        os.killpg(operator.process.pid, signal.SIGKILL)
        operator.process.wait(timeout=10)
        wait_for("the standby to lead", lambda: "leading as" in standby.log(), timeout=60)

        body = s3_portal(NAME, credentials, app={"replicas": 1})
        body["spec"]["storage"]["deletionPolicy"] = "Delete"
        api.apply(body)
        ready = wait_condition(api, standby, NAME, "Ready", timeout=90)
        assert ready["status"]["replicas"] == "1/1"
        assert len(api.list("Secret", NS, {"dokportal.dev/part": "keys"})) == 2
        assert [d["metadata"]["name"] for d in api.list("Deployment", NS)] == ["portal"]
        assert len(api.list("Job", NS)) == 1
        # The new Portal was kept by the standby alone; the dead leader wrote nothing more.
        assert operator.log()[offset:].strip() == ""
        assert f"pass done for {NAME}" in standby.log()
    finally:
        standby.stop()  # a graceful stop gives the Lease up at once
        operator.start()
    wait_for(
        "the session's operator to lead again",
        lambda: "leading as" in operator.log()[offset:],
        timeout=60,
    )
    api.delete("Portal", NAME)
    wait_for("the Portal to go", lambda: api.get("Portal", NAME) is None, timeout=60)
