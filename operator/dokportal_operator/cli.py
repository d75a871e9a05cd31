"""The `dokportal-operator` command: run the operator for the whole cluster."""

from __future__ import annotations

import logging

import kopf

from dokportal_operator.settings import get_settings


def main() -> None:
    settings = get_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(message)s")
    import dokportal_operator.main  # noqa: F401 - registers the handlers

    kopf.run(
        clusterwide=True,
        standalone=True,
        liveness_endpoint=settings.liveness or None,
    )


if __name__ == "__main__":
    main()
