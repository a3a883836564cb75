"""Settings, read once from the environment into an immutable object.

Every setting has an embedded default so that `make run` works on a fresh machine;
production overrides them (see the README's table).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path


@dataclass(frozen=True)
class Config:
    database_url: str = "sqlite+aiosqlite:///var/homeline.db"
    redis_url: str | None = None
    # Names this installation's keys and socket.io channel in Redis, so installations that
    # share a Redis server stay apart.
    redis_prefix: str = "homeline"
    public_url: str = "http://127.0.0.1:8080"
    host: str = "127.0.0.1"
    port: int = 8080
    secret_key: str = field(default_factory=lambda: secrets.token_hex(32))
    var_dir: Path = Path("var")
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "Homeline <no-reply@homeline.local>"
    smtp_starttls: bool = False
    # Sessions: a family or staff session ends after this long without use, and
    # in any case after the absolute lifetime.
    session_idle_seconds: int = 30 * 60
    session_max_seconds: int = 12 * 3600
    activation_ttl_seconds: int = 24 * 3600
    reset_ttl_seconds: int = 30 * 60
    cookie_secure: bool = False
    allowed_origins: tuple[str, ...] = ()
    log_json: bool = True
    trust_proxy: bool = False
    # "sandbox" or "package.module:factory" (called with the Config, returns a PaymentGateway).
    payment_gateway: str = "sandbox"
    allow_sandbox_payments: bool = False
    shutdown_timeout: float = 10.0
    # The bearer token Prometheus sends for /metrics. Unset: /metrics answers only a caller
    # on this machine's loopback that did not come through a proxy (see server/http/metrics.py).
    metrics_token: str | None = None
    # Blobs (photos, recordings): "local" keeps them under var/blobs; "s3" in an S3-compatible
    # bucket that every machine of the installation shares (media/storage/s3.py).
    blob_store: str = "local"
    s3_endpoint_url: str | None = None  # unset: AWS itself
    s3_bucket: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None  # unset (both): the AWS default credential chain
    s3_secret_access_key: str | None = None
    s3_prefix: str = ""
    # Bounded so that an unreachable store is a quick 503, never a hung request.
    s3_connect_timeout: float = 5.0
    s3_read_timeout: float = 30.0
    s3_max_attempts: int = 3

    @property
    def outbox_dir(self) -> Path:
        return self.var_dir / "outbox"

    @property
    def blob_dir(self) -> Path:
        return self.var_dir / "blobs"

    @property
    def origins(self) -> tuple[str, ...]:
        """Origins allowed for socket.io and CSRF checks: the public URL plus extras."""
        return (self.public_url.rstrip("/"), *self.allowed_origins)

    def with_(self, **changes: object) -> Config:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        e = os.environ if env is None else env
        var_dir = Path(e.get("HOMELINE_VAR", "var"))
        defaults = cls()
        secret = e.get("SECRET_KEY") or _persistent_secret(var_dir)
        return cls(
            database_url=e.get("DATABASE_URL", f"sqlite+aiosqlite:///{var_dir}/homeline.db"),
            redis_url=e.get("REDIS_URL") or None,
            redis_prefix=e.get("REDIS_PREFIX") or defaults.redis_prefix,
            public_url=e.get(
                "PUBLIC_URL", f"http://127.0.0.1:{e.get('PORT', str(defaults.port))}"
            ).rstrip("/"),
            host=e.get("HOST", defaults.host),
            port=int(e.get("PORT", str(defaults.port))),
            secret_key=secret,
            var_dir=var_dir,
            smtp_host=e.get("SMTP_HOST") or None,
            smtp_port=int(e.get("SMTP_PORT", "25")),
            smtp_user=e.get("SMTP_USER") or None,
            smtp_password=e.get("SMTP_PASSWORD") or None,
            smtp_from=e.get("SMTP_FROM", defaults.smtp_from),
            smtp_starttls=e.get("SMTP_STARTTLS", "0") == "1",
            session_idle_seconds=int(
                e.get("SESSION_IDLE_SECONDS", str(defaults.session_idle_seconds))
            ),
            session_max_seconds=int(
                e.get("SESSION_MAX_SECONDS", str(defaults.session_max_seconds))
            ),
            cookie_secure=e.get("COOKIE_SECURE", "auto") == "1"
            or (
                e.get("COOKIE_SECURE", "auto") == "auto"
                and e.get("PUBLIC_URL", "").startswith("https://")
            ),
            allowed_origins=tuple(
                o.strip().rstrip("/") for o in e.get("ALLOWED_ORIGINS", "").split(",") if o.strip()
            ),
            log_json=e.get("LOG_FORMAT", "json") == "json",
            trust_proxy=e.get("TRUST_PROXY", "0") == "1",
            payment_gateway=e.get("PAYMENT_GATEWAY", "sandbox"),
            allow_sandbox_payments=e.get("ALLOW_SANDBOX_PAYMENTS", "0") == "1",
            metrics_token=e.get("METRICS_TOKEN") or None,
            blob_store=e.get("BLOB_STORE") or defaults.blob_store,
            s3_endpoint_url=e.get("S3_ENDPOINT_URL") or None,
            s3_bucket=e.get("S3_BUCKET") or None,
            s3_region=e.get("S3_REGION") or defaults.s3_region,
            s3_access_key_id=e.get("S3_ACCESS_KEY_ID") or None,
            s3_secret_access_key=e.get("S3_SECRET_ACCESS_KEY") or None,
            s3_prefix=e.get("S3_PREFIX", defaults.s3_prefix),
            s3_connect_timeout=float(e.get("S3_CONNECT_TIMEOUT", str(defaults.s3_connect_timeout))),
            s3_read_timeout=float(e.get("S3_READ_TIMEOUT", str(defaults.s3_read_timeout))),
            s3_max_attempts=int(e.get("S3_MAX_ATTEMPTS", str(defaults.s3_max_attempts))),
        )


def _persistent_secret(var_dir: Path) -> str:
    """A random secret kept in var/ so that a restart of the embedded server keeps sessions."""
    path = var_dir / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        var_dir.mkdir(parents=True, exist_ok=True)
        value = secrets.token_hex(32)
        path.write_text(value)
        path.chmod(0o600)
        return value
