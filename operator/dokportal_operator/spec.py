"""The Portal's spec as typed, frozen values (the API server has already defaulted and
validated it against the CRD; this only gives it shape)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from dokportal_operator import constants as c


@dataclass(frozen=True)
class SecretRef:
    name: str
    namespace: str
    key: str = ""


@dataclass(frozen=True)
class S3Spec:
    endpoint: str
    region: str
    bucket: str | None
    path_style: bool
    credentials: SecretRef
    # "iam": `credentials` is an admin key the operator keeps; each tenant gets its own
    # identity. "static": `credentials` is the tenant's own key, copied to its pods.
    identity: Literal["iam", "static"] = "iam"


@dataclass(frozen=True)
class VolumeSpec:
    size: str
    storage_class: str | None


@dataclass(frozen=True)
class PortalSpec:
    """Everything the operator needs from one Portal."""

    name: str
    uid: str
    generation: int
    display_name: str
    tenant_kind: str
    slug: str
    reference_prefix: str
    contact_email: str
    imprint_url: str
    privacy_url: str
    timezone: str
    primary_color: str
    hostname: str
    ingress_class: str | None
    tls_secret: str | None
    cluster_issuer: str | None
    ingress_controller_namespace: str
    allow_plain_http: bool
    languages: tuple[str, ...]
    default_language: str
    deletion_policy: Literal["Retain", "Delete"]
    s3: S3Spec | None
    volume: VolumeSpec | None
    database_kind: Literal["sqlite", "postgresql"]
    sqlite_volume: VolumeSpec | None
    postgresql: SecretRef | None
    rotation_days: int
    image: str
    image_pull_policy: str
    replicas: int
    resources: Mapping[str, Any]
    max_file_mb: int
    max_files: int
    categories: tuple[str, ...]
    rotate_request: str | None
    # A Secret (key keyring.json) whose keyring is put back when portal-keyring is missing.
    restore_from: SecretRef | None = None
    # Annotations by which a person accepts a loss the operator will not accept by itself.
    accept_bucket_loss: str = ""
    regenerate_session: str = ""
    rotate_s3_key: str = ""  # the rotate-s3-key annotation
    # spec.virusScan: clamd (with freshclam) in the tenant's namespace; files are scanned
    # before staff can open them.
    virus_scan: bool = False
    virus_scan_mirror: str = "database.clamav.net"

    # spec.app.nodeSelector / tolerations: where the portal's pods and Jobs may run.
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[Mapping[str, Any], ...] = ()

    @property
    def namespace(self) -> str:
        return f"{c.NAMESPACE_PREFIX}{self.name}"

    @property
    def has_tls(self) -> bool:
        return bool(self.tls_secret or self.cluster_issuer)

    @property
    def url(self) -> str:
        plain = self.allow_plain_http and not self.has_tls
        return f"{'http' if plain else 'https'}://{self.hostname}"

    @property
    def needs_claim(self) -> bool:
        """A PVC holds the documents (volume storage) and/or the SQLite file."""
        return self.volume is not None or self.database_kind == "sqlite"

    @property
    def claim(self) -> VolumeSpec | None:
        return self.volume or self.sqlite_volume


def _ref(raw: Mapping[str, Any], default_namespace: str, default_key: str = "") -> SecretRef:
    return SecretRef(
        name=str(raw["name"]),
        namespace=str(raw.get("namespace") or default_namespace),
        key=str(raw.get("key") or default_key),
    )


def parse(body: Mapping[str, Any], operator_namespace: str) -> PortalSpec:
    """Shape a Portal object (as the API returns it) into a `PortalSpec`."""
    meta = body["metadata"]
    spec = body["spec"]
    tenant = spec["tenant"]
    branding = tenant.get("branding") or {}
    ingress = spec.get("ingress") or {}
    languages = spec.get("languages") or {}
    storage = spec["storage"]
    database = spec.get("database") or {"sqlite": {}}
    app = spec.get("app") or {}
    upload = app.get("upload") or {}
    raw_s3 = storage.get("s3")
    raw_volume = storage.get("volume")
    raw_sqlite = database.get("sqlite")
    raw_pg = database.get("postgresql")
    annotations = meta.get("annotations") or {}
    restore = (spec.get("encryption") or {}).get("restoreFrom")
    virus_scan = spec.get("virusScan") or {}
    return PortalSpec(
        name=meta["name"],
        uid=meta["uid"],
        generation=int(meta.get("generation", 0)),
        display_name=tenant["displayName"],
        tenant_kind=tenant.get("kind", "jobcenter"),
        slug=tenant.get("slug") or meta["name"],
        reference_prefix=tenant.get("referencePrefix", "BG"),
        contact_email=tenant.get("contactEmail", ""),
        imprint_url=tenant.get("imprintUrl", ""),
        privacy_url=tenant.get("privacyUrl", ""),
        timezone=tenant.get("timezone", "Europe/Berlin"),
        primary_color=branding.get("primaryColor", ""),
        hostname=spec["hostname"],
        ingress_class=ingress.get("className"),
        tls_secret=ingress.get("tlsSecretName"),
        cluster_issuer=ingress.get("clusterIssuer"),
        ingress_controller_namespace=ingress.get("controllerNamespace", "ingress-nginx"),
        allow_plain_http=bool(ingress.get("allowPlainHTTP", False)),
        languages=tuple(languages.get("enabled") or ("de", "en", "uk", "ar", "tr", "ru", "fa")),
        default_language=languages.get("default", "de"),
        deletion_policy="Delete" if storage.get("deletionPolicy") == "Delete" else "Retain",
        s3=S3Spec(
            endpoint=raw_s3["endpoint"],
            region=raw_s3.get("region", "us-east-1"),
            bucket=raw_s3.get("bucket"),
            path_style=bool(raw_s3.get("pathStyle", True)),
            credentials=_ref(raw_s3["credentialsSecret"], operator_namespace),
            identity="static" if raw_s3.get("identity") == "static" else "iam",
        )
        if raw_s3
        else None,
        volume=VolumeSpec(raw_volume["size"], raw_volume.get("storageClassName"))
        if raw_volume
        else None,
        database_kind="postgresql" if raw_pg else "sqlite",
        sqlite_volume=VolumeSpec(raw_sqlite.get("size", "1Gi"), raw_sqlite.get("storageClassName"))
        if raw_sqlite is not None
        else None,
        postgresql=_ref(raw_pg["connectionSecret"], operator_namespace, c.DATABASE_KEY)
        if raw_pg
        else None,
        rotation_days=int((spec.get("encryption") or {}).get("rotationIntervalDays", 90)),
        image=app.get("image", "ghcr.io/dokportal/portal:0.1.0"),
        image_pull_policy=app.get("imagePullPolicy", "IfNotPresent"),
        node_selector={str(k): str(v) for k, v in (app.get("nodeSelector") or {}).items()},
        tolerations=tuple(dict(t) for t in (app.get("tolerations") or [])),
        replicas=int(app.get("replicas", 1)),
        resources=app.get("resources") or {},
        max_file_mb=int(upload.get("maxFileMB", 20)),
        max_files=int(upload.get("maxFiles", 20)),
        categories=tuple(
            app.get("categories") or ("payslip", "bank_statement", "rent", "incapacity", "other")
        ),
        rotate_request=annotations.get(c.ROTATE_ANNOTATION),
        rotate_s3_key=str(annotations.get(c.ROTATE_S3_KEY_ANNOTATION) or ""),
        restore_from=_ref(restore, operator_namespace, c.KEYRING_KEY) if restore else None,
        accept_bucket_loss=str(annotations.get(c.ACCEPT_BUCKET_LOSS_ANNOTATION) or ""),
        regenerate_session=str(annotations.get(c.REGENERATE_SESSION_ANNOTATION) or ""),
        virus_scan=bool(virus_scan.get("enabled", False)),
        virus_scan_mirror=str(virus_scan.get("databaseMirror") or "database.clamav.net"),
    )
