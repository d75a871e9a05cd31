"""The operator's configuration: ``DOKPORTAL_OPERATOR_*`` environment variables."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

_IMAGE_CHART = Path("/opt/dokportal/charts/portal")
_SOURCE_CHART = Path(__file__).resolve().parents[2] / "charts" / "portal"


def _default_chart() -> Path:
    # In the image the chart sits at a fixed place; in a checkout, next to the code.
    return _IMAGE_CHART if _IMAGE_CHART.is_dir() else _SOURCE_CHART


class OperatorSettings(BaseSettings):
    """Everything configurable about the operator process."""

    model_config = SettingsConfigDict(env_prefix="DOKPORTAL_OPERATOR_", extra="ignore")

    # Where the operator runs: credential Secrets without a namespace and retained keyrings.
    namespace: str = Field("dokportal", min_length=1, max_length=63)
    helm: str = "helm"
    chart: Path = Field(default_factory=_default_chart)
    # `helm template --kube-version`; empty: helm's own default (fine for our chart).
    kube_version: str = ""
    # Every Portal is looked at this often even when nothing changed (drift, due rotations).
    resync_seconds: float = Field(300.0, ge=1.0)
    # A successful bucket check is trusted this long; credentials changes re-check at once.
    storage_recheck_seconds: float = Field(600.0, ge=0.0)
    # While waiting for something (a rollout, a Job), look again this often at most.
    retry_seconds: float = Field(5.0, ge=0.1)
    # Liveness endpoint for the Deployment's probe; empty disables it.
    liveness: str = "http://0.0.0.0:8080/healthz"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Namespaces besides `namespace` whose Secrets a Portal may name (comma-separated). Empty:
    # only the operator's own — a Portal must not copy, say, kube-system's Secrets out.
    secret_namespaces: str = ""
    # The validating webhook (kopf serves it; 0: no webhook, the loop's checks only).
    webhook_port: int = Field(9443, ge=0, le=65535)
    webhook_addr: str = "0.0.0.0"  # noqa: S104 - in a pod the API server calls the pod's address
    # The chart's ValidatingWebhookConfiguration and the Service in front of the operator.
    webhook_config: str = "dokportal-operator"
    webhook_service: str = "dokportal-operator"
    # Outside a cluster (the tests, `make cluster`): the URL the API server calls instead.
    webhook_url: str = ""
    # Who the operator is (its ServiceAccount in `namespace`) and the chart's ClusterRole it
    # binds itself to inside each tenant namespace.
    service_account: str = "dokportal-operator"
    tenant_role: str = "dokportal-operator-tenant"
    # Label the operator's own namespace Pod Security "restricted" at start.
    restrict_namespace: bool = True
    # Two replicas, one leader (a Lease in `namespace`); the other stands by.
    leader_election: bool = True
    lease_seconds: int = Field(15, ge=3, le=300)
    # Prometheus /metrics on its own port (dokportal_operator/metrics.py); 0: off.
    metrics_port: int = Field(0, ge=0, le=65535)
    metrics_addr: str = "0.0.0.0"  # noqa: S104 - in a pod Prometheus scrapes the pod's address

    def secret_namespace_allowed(self, namespace: str) -> bool:
        allowed = {item.strip() for item in self.secret_namespaces.split(",") if item.strip()}
        return namespace == self.namespace or namespace in allowed


@functools.cache
def get_settings() -> OperatorSettings:
    return OperatorSettings()
