"""The `dokportal-operator` command: run the operator for the whole cluster."""

from __future__ import annotations

import asyncio
import logging

import kopf

from dokportal_operator import leader
from dokportal_operator.settings import get_settings


class _QuietWakeups(logging.Filter):
    """Drop kopf's "Handler 'wake_…' succeeded" line, written for every event of every child."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(("Handler 'wake_", "Handler 'wake"))


def main() -> None:
    settings = get_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(message)s")
    # One line per HTTP request is noise (and would log every Secret's URL).
    for noisy in ("httpx", "httpx2", "httpcore", "httpcore2"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    for handler in logging.getLogger().handlers:
        handler.addFilter(_QuietWakeups())
    leading = True
    if settings.leader_election:
        leading = asyncio.run(leader.holds(settings.namespace, settings.lease_seconds))
    if leading:
        import dokportal_operator.main
    else:
        logging.getLogger(__name__).info("standing by: serving admission only")
        import dokportal_operator.standby  # noqa: F401 - the standby's handlers only

    kopf.run(
        clusterwide=True,
        standalone=True,
        liveness_endpoint=settings.liveness or None,
    )


if __name__ == "__main__":
    main()
