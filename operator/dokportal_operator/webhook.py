"""The validating webhook's certificate and its ValidatingWebhookConfiguration.

kopf serves the webhook (`kopf.WebhookServer`), but its self-signed certificates come from
oscrypto, which fails on OpenSSL 3: the certificate is made here with `cryptography` — a small
CA and a serving certificate for the webhook's names — and kept in a Secret next to the
operator, so every replica serves the same one and a restart does not change the CA.

The configuration object itself comes from the chart (rules, failure policy, the Service to
call); the operator only fills in `caBundle` (and, outside a cluster, a URL instead of the
Service: `DOKPORTAL_OPERATOR_WEBHOOK_URL`), whenever it differs.
"""

from __future__ import annotations

import base64
import ipaddress
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from dokportal_operator import constants as c
from dokportal_operator.kube import Kube, Obj, Ref
from dokportal_operator.settings import OperatorSettings

_VALID = timedelta(days=365)
_RENEW_BEFORE = timedelta(days=30)


@dataclass(frozen=True)
class Bundle:
    ca: bytes
    cert: bytes
    key: bytes


def hosts(settings: OperatorSettings) -> list[str]:
    """The names the certificate is for: the Service, and the URL's host if one is set."""
    service = settings.webhook_service or c.MANAGED_BY
    names = [
        f"{service}.{settings.namespace}.svc",
        f"{service}.{settings.namespace}.svc.cluster.local",
    ]
    if settings.webhook_url:
        from urllib.parse import urlsplit

        host = urlsplit(settings.webhook_url).hostname
        if host:
            names.append(host)
    return names


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def generate(names: list[str], now: datetime | None = None) -> Bundle:
    """A CA and a serving certificate (EC P-256) for `names` (DNS names or IP addresses)."""
    now = now or datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("dokportal-operator webhook CA"))
        .issuer_name(_name("dokportal-operator webhook CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + _VALID)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    alt: list[x509.GeneralName] = []
    for item in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(item)))
        except ValueError:
            alt.append(x509.DNSName(item))
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(names[0]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + _VALID)
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return Bundle(
        ca=ca_cert.public_bytes(serialization.Encoding.PEM),
        cert=cert.public_bytes(serialization.Encoding.PEM),
        key=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


def usable(bundle: Bundle, names: list[str], now: datetime | None = None) -> bool:
    """Covers every name and is not about to expire."""
    now = now or datetime.now(UTC)
    cert = x509.load_pem_x509_certificate(bundle.cert)
    if cert.not_valid_after_utc - now < _RENEW_BEFORE:
        return False
    alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    covered = {str(v) for v in alt.get_values_for_type(x509.DNSName)}
    covered |= {str(v) for v in alt.get_values_for_type(x509.IPAddress)}
    return set(names) <= covered


def _secret(settings: OperatorSettings, bundle: Bundle) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": f"{settings.webhook_config}-webhook-tls",
            "namespace": settings.namespace,
            "labels": {c.MANAGED_BY_LABEL: c.MANAGED_BY},
        },
        "type": "Opaque",
        "data": {
            "ca.crt": base64.b64encode(bundle.ca).decode(),
            "tls.crt": base64.b64encode(bundle.cert).decode(),
            "tls.key": base64.b64encode(bundle.key).decode(),
        },
    }


def _bundle(secret: Obj | None) -> Bundle | None:
    data = (secret or {}).get("data") or {}
    try:
        return Bundle(*(base64.b64decode(data[key]) for key in ("ca.crt", "tls.crt", "tls.key")))
    except (KeyError, ValueError):
        return None


async def certificate(kube: Kube, settings: OperatorSettings) -> Bundle:
    """The shared certificate from its Secret; made (or renewed) when missing or unfit. Two
    replicas starting at once: the second's create finds the first one's and uses it."""
    names = hosts(settings)
    ref = Ref("Secret", f"{settings.webhook_config}-webhook-tls", settings.namespace)
    current = await kube.get(ref)
    bundle = _bundle(current)
    if bundle is not None and usable(bundle, names):
        return bundle
    fresh = generate(names)
    if current is None:
        made = await kube.create(_secret(settings, fresh))
        if made is None:  # another replica was first
            bundle = _bundle(await kube.get(ref))
            if bundle is not None:
                return bundle
        return fresh
    body = _secret(settings, fresh)
    body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
    await kube.replace(body)
    return fresh


def files(bundle: Bundle) -> tuple[Path, Path]:
    """The certificate and key as files for kopf's server (a private temporary directory)."""
    directory = Path(tempfile.mkdtemp(prefix="dokportal-webhook-"))
    cert, key = directory / "tls.crt", directory / "tls.key"
    cert.write_bytes(bundle.cert)
    key.touch(mode=0o600)
    key.write_bytes(bundle.key)
    return cert, key


def client_config_patch(
    config: Obj, bundle: Bundle, settings: OperatorSettings
) -> list[dict[str, Any]]:
    """JSON-patch operations that put our CA (and the URL, if set) into every webhook of the
    configuration; empty when it already holds them."""
    ca = base64.b64encode(bundle.ca).decode()
    operations: list[dict[str, Any]] = []
    for index, hook in enumerate(config.get("webhooks") or []):
        client = dict(hook.get("clientConfig") or {})
        if settings.webhook_url:
            wanted = {"url": settings.webhook_url.rstrip("/") + "/" + ADMISSION_ID, "caBundle": ca}
            if client != wanted:
                operations.append(
                    {"op": "replace", "path": f"/webhooks/{index}/clientConfig", "value": wanted}
                )
        elif client.get("caBundle") != ca:
            operations.append(
                {"op": "add", "path": f"/webhooks/{index}/clientConfig/caBundle", "value": ca}
            )
    return operations


# kopf serves each validating handler at /<its id>.
ADMISSION_ID = "portals"
