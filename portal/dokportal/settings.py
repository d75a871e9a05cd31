"""The one place Dokportal reads its configuration from.

Every knob is a ``DOKPORTAL_*`` environment variable (nested groups use ``__``, e.g.
``DOKPORTAL_UPLOAD__MAX_FILE_MB``). Each has a safe default so ``make run`` works on a bare
machine; production overrides them from the Portal resource. No other module reads the
environment: they take a ``Settings`` object.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from dokportal.i18n import N_

SUPPORTED_LANGUAGES: tuple[str, ...] = ("de", "en", "uk", "ar", "tr", "ru", "fa")
RTL_LANGUAGES: frozenset[str] = frozenset({"ar", "fa"})
STAFF_ROLES: tuple[str, ...] = ("caseworker", "team_lead", "admin")

DEFAULT_CATEGORIES: dict[str, str] = {
    # key → msgid of its label; the gettext catalogs translate the label.
    "payslip": N_("Pay slip"),
    "bank_statement": N_("Bank statement"),
    "rent": N_("Rent and service charges"),
    "incapacity": N_("Certificate of incapacity for work"),
    "other": N_("Other"),
}


def _split_csv(value: object) -> object:
    """Let lists be given as ``de,en,ar`` in an environment variable."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class TenantSettings(BaseModel):
    """Who this instance serves; shown on every page and printed on receipts."""

    name: str = Field("Jobcenter Bergstraße (Demo)", min_length=1, max_length=200)
    # Stable id bound into every ciphertext's associated data: never change it for live data.
    slug: str = Field("bergstrasse-demo", pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    # Prefix of receipt reference numbers (BG-2026-000123).
    reference_prefix: str = Field("BG", pattern=r"^[A-Z]{1,6}$")
    languages: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(SUPPORTED_LANGUAGES)
    )
    default_language: str = "de"
    # Times on pages and receipts are shown in the office's local time.
    timezone: str = "Europe/Berlin"
    categories: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_CATEGORIES)
    )
    # Where customers get help and report accessibility barriers (BITV 2.0 § 7 feedback);
    # shown on the easy-language page and the accessibility statement.
    contact_email: str = Field(
        "kontakt@jobcenter-bergstrasse.example", pattern=r"^[^@\s]+@[^@\s]+$", max_length=200
    )
    contact_phone: str = Field("06251 0000-0", min_length=3, max_length=40)
    # Address lines under the name on activation letters, separated by " | ".
    letterhead: str = Field("", max_length=500)
    # The team (slug) of customers created without one on the command line, and of any
    # customer still without a team when the migrations run: a customer without a team is
    # in no inbox, so their documents would reach nobody. Created when first needed.
    default_team: str = Field("team-1", pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")

    _split = field_validator("languages", "categories", mode="before")(_split_csv)

    @field_validator("languages")
    @classmethod
    def _known_languages(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(SUPPORTED_LANGUAGES))
        if unknown:
            raise ValueError(
                f"unsupported language(s) {', '.join(unknown)}; "
                f"choose from {', '.join(SUPPORTED_LANGUAGES)}"
            )
        if not value:
            raise ValueError("at least one language must be enabled")
        return list(dict.fromkeys(value))

    @field_validator("categories")
    @classmethod
    def _known_categories(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(DEFAULT_CATEGORIES))
        if unknown:
            raise ValueError(
                f"unknown categor(y/ies) {', '.join(unknown)}; "
                f"choose from {', '.join(DEFAULT_CATEGORIES)}"
            )
        if not value:
            raise ValueError("at least one document category must be enabled")
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _default_is_enabled(self) -> TenantSettings:
        if self.default_language not in self.languages:
            raise ValueError(
                f"default_language {self.default_language!r} is not among the enabled "
                f"languages ({', '.join(self.languages)})"
            )
        return self


class StorageSettings(BaseModel):
    """Where encrypted blobs go: a local folder (embedded default) or an S3 bucket."""

    kind: Literal["folder", "s3"] = "folder"
    folder: Path = Path("var/blobs")
    s3_endpoint: str = ""
    s3_bucket: str = ""
    s3_region: str = "us-east-1"
    s3_access_key: SecretStr = SecretStr("")
    s3_secret_key: SecretStr = SecretStr("")
    # SeaweedFS, MinIO and most on-premises stores want path-style addressing.
    s3_path_style: bool = True

    @model_validator(mode="after")
    def _s3_complete(self) -> StorageSettings:
        if self.kind == "s3":
            missing = [
                name
                for name, value in (
                    ("s3_endpoint", self.s3_endpoint),
                    ("s3_bucket", self.s3_bucket),
                    ("s3_access_key", self.s3_access_key.get_secret_value()),
                    ("s3_secret_key", self.s3_secret_key.get_secret_value()),
                )
                if not value
            ]
            if missing:
                raise ValueError(f"storage kind 's3' needs {', '.join(missing)}")
        return self


class UploadSettings(BaseModel):
    """Limits for customer uploads; the defaults follow the issue's promise to customers."""

    max_file_mb: int = Field(20, ge=1, le=1024)
    max_files: int = Field(20, ge=1, le=100)
    max_message_chars: int = Field(2000, ge=0, le=20000)
    # Pages one "one document" PDF may have (each photo is re-encoded, a few hundred KB).
    max_pages: int = Field(30, ge=1, le=200)
    # Photos with more pixels are refused before decoding (decompression bombs); 40 MP
    # covers the cameras of current phones at their default settings.
    max_image_megapixels: int = Field(40, ge=1, le=400)

    @property
    def max_image_pixels(self) -> int:
        return self.max_image_megapixels * 1_000_000

    @property
    def max_file_bytes(self) -> int:
        return self.max_file_mb * 1024 * 1024

    @property
    def max_body_bytes(self) -> int:
        # Room for every file at its limit plus the form fields and multipart framing.
        return self.max_files * self.max_file_bytes + 1024 * 1024


class ServerSettings(BaseModel):
    """HTTP protocol limits, enforced by the server process itself (lib/http_protocol.py).

    A reverse proxy usually has its own; these hold when there is none, or when it passes
    slow or huge requests through. Times are in seconds, sizes in bytes."""

    # The request line (method, target, version) and the whole head (line plus headers).
    max_request_line_bytes: int = Field(8 * 1024, ge=256, le=1024 * 1024)
    max_header_bytes: int = Field(32 * 1024, ge=1024, le=16 * 1024 * 1024)
    # No byte of an unfinished request head or body for this long: 408, connection closed.
    idle_timeout_seconds: float = Field(30, gt=0, le=3600)
    # While a body is being sent, at least this many bytes in every window (unless the
    # server itself paused reading): a phone on 2G sends ~5 KB/s, a trickle attack 1 B/s.
    min_body_bytes_per_second: int = Field(1024, ge=0, le=100 * 1024 * 1024)
    min_rate_window_seconds: float = Field(20, gt=0, le=3600)
    # Uploads (multipart POSTs) one client address may have in progress at once. Not lower:
    # customers behind one carrier-grade NAT address share it.
    max_uploads_per_client: int = Field(8, ge=1, le=1000)


class SecuritySettings(BaseModel):
    """Session lifetimes and guessing limits (ASVS V2/V3); see sessions/limits.py."""

    session_idle_minutes: int = Field(30, ge=1, le=24 * 60)
    session_absolute_hours: int = Field(12, ge=1, le=7 * 24)
    # Sign-in limits. Per account name x client address (one guesser): this many quick tries
    # for typos, then a pause before each further try that doubles from the first to the
    # longest (2 s, 4 s, … 15 min): about 11 guesses in the first quarter hour, then four an
    # hour, while the owner signing in from anywhere else is not slowed at all. A correct
    # password clears the pair's history.
    signin_free_attempts: int = Field(3, ge=1, le=20)
    signin_first_pause_seconds: int = Field(2, ge=1, le=60)
    signin_longest_pause_seconds: int = Field(900, ge=1, le=24 * 3600)
    # Per account from all addresses together: a ceiling against guessing from many
    # addresses. It must stay above twice what one address can reach through its pauses in
    # one window (checked below; 2 x 11 with the defaults), so one attacker address can
    # never lock the owner out; many addresses can, and then only until the window ends.
    account_attempts_per_window: int = Field(40, ge=2, le=10000)
    account_window_minutes: int = Field(15, ge=1, le=24 * 60)
    # Staff codes (TOTP, recovery): the window for StaffSettings.max_failed_codes.
    lockout_minutes: int = Field(15, ge=1, le=24 * 60)
    # Attempts one client address may make per window on activation and sign-in, over all
    # accounts together (against trying one password on many accounts).
    client_attempts_per_window: int = Field(20, ge=1, le=10000)
    client_window_minutes: int = Field(15, ge=1, le=24 * 60)
    activation_code_days: int = Field(30, ge=1, le=365)
    password_min_length: int = Field(10, ge=8, le=128)

    @model_validator(mode="after")
    def _ceiling_above_one_client(self) -> SecuritySettings:
        from dokportal.sessions.policy import pair_limit

        one_client = 2 * pair_limit(self).burst(self.account_window_minutes * 60)
        if self.account_attempts_per_window <= one_client:
            raise ValueError(
                f"account_attempts_per_window must be above {one_client}: one client address "
                "alone could otherwise lock an account (raise it or lengthen the pauses)"
            )
        if self.signin_longest_pause_seconds < self.signin_first_pause_seconds:
            raise ValueError("signin_longest_pause_seconds must not be below the first pause")
        return self


class StaffSettings(BaseModel):
    """Staff sign-in: TOTP window and guessing limits for the second factor."""

    # Accept the previous and next 30-second step too: phone clocks drift.
    totp_valid_window: int = Field(1, ge=0, le=2)
    # Wrong TOTP or recovery codes per account (from any address) within
    # SecuritySettings.lockout_minutes; then codes are refused until the window ends.
    max_failed_codes: int = Field(5, ge=1, le=100)
    # Staff sessions idle out sooner than customers': workstations are shared.
    session_idle_minutes: int = Field(30, ge=1, le=24 * 60)
    session_absolute_hours: int = Field(10, ge=1, le=24)
    recovery_codes: int = Field(10, ge=4, le=20)


class OidcSettings(BaseModel):
    """Optional staff sign-in through the county's identity provider (code flow + PKCE)."""

    enabled: bool = False
    # The issuer URL; its /.well-known/openid-configuration is read at sign-in.
    issuer: str = ""
    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
    scopes: str = "openid profile email"
    # The claim holding the user's groups, and which group means which role and team:
    # ``group=role`` or ``group=role:team``, comma-separated (admins need no team).
    group_claim: str = "groups"
    role_map: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    # The IdP is the one place that enforces its own second factor for these accounts.
    label: str = "Single sign-on"

    @field_validator("role_map", mode="before")
    @classmethod
    def _parse_map(cls, value: object) -> object:
        if isinstance(value, str):
            pairs = [item.strip() for item in value.split(",") if item.strip()]
            return dict(pair.split("=", 1) for pair in pairs if "=" in pair)
        return value

    @field_validator("role_map")
    @classmethod
    def _known_roles(cls, value: dict[str, str]) -> dict[str, str]:
        for group, target in value.items():
            role = target.split(":", 1)[0]
            if role not in STAFF_ROLES:
                raise ValueError(f"group {group!r} maps to unknown role {role!r}")
        return value

    @model_validator(mode="after")
    def _complete(self) -> OidcSettings:
        if self.enabled and not (self.issuer and self.client_id):
            raise ValueError("OIDC needs issuer and client_id when enabled")
        return self


class MailSettings(BaseModel):
    """Notification mail. ``folder`` writes .eml files (the demo); ``smtp`` sends them."""

    kind: Literal["folder", "smtp", "off"] = "folder"
    folder: Path = Path("var/mail")
    host: str = "localhost"
    port: int = Field(587, ge=1, le=65535)
    # starttls on 587, tls (implicit) on 465, none only inside a trusted network.
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str = ""
    password: SecretStr = SecretStr("")
    sender: str = "dokportal@localhost"
    timeout_seconds: float = Field(20, gt=0, le=300)
    # A failed mail is retried with exponential backoff; after the last try it stays
    # visible as failed in the workspace instead of disappearing.
    max_attempts: int = Field(8, ge=1, le=50)
    backoff_seconds: int = Field(60, ge=1, le=24 * 3600)


class DeliverySettings(BaseModel):
    """Notices provided for retrieval (§ 37 (2a) SGB X)."""

    # Deemed delivered on this day after the notification was sent. Four since the
    # Postrechtsmodernisierungsgesetz (in force 1 January 2025); three before that.
    deemed_received_days: int = Field(4, ge=1, le=30)
    # A reminder mail goes out if the notice is still unopened after this many days.
    reminder_after_days: int = Field(3, ge=1, le=60)
    # Access requests may send a one-time activation link where an address is on record.
    activation_links_by_mail: bool = False


class RetentionSettings(BaseModel):
    """How long transferred submissions stay after the e-file acknowledged them."""

    delete_transferred_after_days: int = Field(30, ge=0, le=3650)


class WorkerSettings(BaseModel):
    """The in-process periodic task (mail delivery, reminders, retention)."""

    enabled: bool = True
    interval_seconds: int = Field(30, ge=1, le=3600)


class MetricsSettings(BaseModel):
    """Prometheus ``/metrics`` on its own listener (dokportal/metrics.py), never on the
    portal's port and so never through the Ingress. ``port`` 0 (the default): off."""

    port: int = Field(0, ge=0, le=65535)
    # In a pod the scraper connects to the pod address: the chart sets 0.0.0.0.
    host: str = "127.0.0.1"


class LogSettings(BaseModel):
    """``json``: one JSON object per line for a log collector; ``text``: for people."""

    format: Literal["json", "text"] = "text"


class ScanSettings(BaseModel):
    """Virus scanning with ClamAV (clamd). Empty ``clamd``: files are not scanned and are
    served as before, marked "not scanned"; set, every stored file is scanned before anyone
    can open it (files/scanning.py)."""

    # unix:///run/clamav/clamd.ctl or tcp://clamd:3310; empty = no scanner.
    clamd: str = ""
    # One file's whole scan (connect, stream, answer); a stalled clamd counts as down.
    timeout_seconds: float = Field(120, gt=0, le=3600)
    # clamd's StreamMaxLength (its default is 25 MiB); must cover the largest upload.
    stream_max_mb: int = Field(25, ge=1, le=4096)
    # Files waiting because clamd was down or erred are retried with doubling delay (capped
    # at 5 min while clamd is unreachable, never given up; at 1 h after ERROR answers); after
    # this many failed tries ending in an ERROR answer the file is marked "could not be
    # checked" and stays closed.
    max_errors: int = Field(5, ge=1, le=100)
    backoff_seconds: int = Field(30, ge=1, le=3600)

    @field_validator("clamd")
    @classmethod
    def _address(cls, value: str) -> str:
        from dokportal.files.clamd import ClamdAddress

        if value:
            ClamdAddress.parse(value)
        return value

    @property
    def enabled(self) -> bool:
        return bool(self.clamd)

    @property
    def stream_max_bytes(self) -> int:
        return self.stream_max_mb * 1024 * 1024


class Settings(BaseSettings):
    """Everything configurable about one tenant's portal process."""

    model_config = SettingsConfigDict(
        env_prefix="DOKPORTAL_",
        env_nested_delimiter="__",
        extra="ignore",
        secrets_dir=None,
    )

    tenant: TenantSettings = TenantSettings()
    storage: StorageSettings = StorageSettings()
    upload: UploadSettings = UploadSettings()
    server: ServerSettings = ServerSettings()
    security: SecuritySettings = SecuritySettings()
    staff: StaffSettings = StaffSettings()
    oidc: OidcSettings = OidcSettings()
    mail: MailSettings = MailSettings()
    delivery: DeliverySettings = DeliverySettings()
    retention: RetentionSettings = RetentionSettings()
    worker: WorkerSettings = WorkerSettings()
    scan: ScanSettings = ScanSettings()
    metrics: MetricsSettings = MetricsSettings()
    log: LogSettings = LogSettings()

    # sqlite:///path or postgresql://user:pass@host:port/db
    database_url: SecretStr = SecretStr("sqlite:///var/dokportal.sqlite3")
    keyring_path: Path = Path("var/keyring.json")
    # A keyring readable by its group or others is a start-up error unless this is true
    # (then a warning): Kubernetes makes a Secret mounted with fsGroup group-readable.
    keyring_allow_shared: bool = False
    # Signs CSRF tokens; must be shared by all replicas. Generated into var/ when empty.
    session_secret: SecretStr = SecretStr("")
    public_base_url: str = "http://127.0.0.1:8000"
    # Addresses of reverse proxies (the ingress controller) whose X-Forwarded-For is
    # trusted, comma-separated; without it every customer looks like the proxy to throttling.
    forwarded_allow_ips: str = ""
    # Font with Arabic/Cyrillic coverage for receipt PDFs (Debian's fonts-dejavu-core).
    pdf_font_path: Path = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: SecretStr) -> SecretStr:
        scheme = urlsplit(value.get_secret_value()).scheme
        if scheme not in {"sqlite", "postgresql", "postgres"}:
            raise ValueError("database_url must start with sqlite:/// or postgresql://")
        return value

    @field_validator("public_base_url")
    @classmethod
    def _absolute_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError("public_base_url must be an absolute http(s) URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _scan_covers_uploads(self) -> Settings:
        if self.scan.enabled and self.scan.stream_max_bytes < self.upload.max_file_bytes:
            raise ValueError(
                "scan.stream_max_mb must be at least upload.max_file_mb "
                "(and clamd's StreamMaxLength as large), or large files could never be scanned"
            )
        return self

    @property
    def secure_cookies(self) -> bool:
        """``__Host-``/Secure cookies need HTTPS; plain http is only for a local demo."""
        return self.public_base_url.startswith("https://")

    def redacted(self) -> dict[str, object]:
        """The effective configuration, safe to log once at start-up (secrets masked)."""
        data = self.model_dump(mode="json")
        url = urlsplit(self.database_url.get_secret_value())
        if url.password:
            data["database_url"] = self.database_url.get_secret_value().replace(
                f":{url.password}@", ":***@"
            )
        else:
            data["database_url"] = self.database_url.get_secret_value()
        return data


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()


def describe_errors(error: Exception) -> list[str]:
    """One readable line per invalid setting, for start-up failures."""
    from pydantic import ValidationError

    if not isinstance(error, ValidationError):
        return [str(error)]
    lines = []
    for item in error.errors():
        location = "__".join(str(part) for part in item["loc"]).upper()
        name = f"DOKPORTAL_{location}" if location else "DOKPORTAL_*"
        lines.append(f"{name}: {item['msg']}")
    return lines
