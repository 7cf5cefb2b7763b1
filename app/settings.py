"""The one reader of the environment, shared by the web process, the worker and the CLI.

Every setting can come from an environment variable (prefix ``FTSTUDIO_``, except the two conventional
service URLs ``DATABASE_URL`` and ``REDIS_URL``) or from a ``.env`` file. The embedded default (no
variables at all) is SQLite plus a broker that needs no server, both inside the data directory.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FTSTUDIO_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="Uploads, dataset versions, runs, models.")
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "FTSTUDIO_DATABASE_URL"),
        description="SQLAlchemy URL; empty means SQLite in the data directory.",
    )
    redis_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("REDIS_URL", "FTSTUDIO_REDIS_URL"),
        description="Celery broker; empty means the serverless filesystem broker in the data directory.",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    max_upload_bytes: int = Field(default=200 * 1024 * 1024, ge=1)
    # Heartbeats older than this mark a running job as interrupted (its worker is gone).
    heartbeat_timeout_seconds: float = Field(default=90.0, gt=0)
    heartbeat_interval_seconds: float = Field(default=5.0, gt=0)
    # Seconds between a cancel's SIGTERM and a SIGKILL of the child's process group.
    cancel_grace_seconds: float = Field(default=30.0, gt=0)
    # Models an admin allows to run their own code (trust_remote_code). Empty: none.
    trust_remote_code_models: list[str] = Field(default_factory=list)
    default_queue: str = "gpu"
    # The single local user until accounts arrive; every row still records its owner.
    default_owner: str = "local"
    default_language: str = "zh"
    # Accounts and web security (app/users/). The session cookie is signed with secret_key; empty means a
    # random key kept in <data_dir>/secret_key (0600), shared by every web process of that data dir.
    secret_key: str | None = Field(default=None, repr=False)
    # Secure cookies need HTTPS; None: secure unless the studio is bound to a loopback address.
    cookie_secure: bool | None = None
    # Host headers the web server answers (DNS-rebinding defence); empty: the bind host plus loopback names.
    allowed_hosts: list[str] = Field(default_factory=list)
    # Sets the local admin's password at start (required before binding to a non-loopback address).
    admin_password: str | None = Field(default=None, repr=False)
    session_max_age_seconds: int = Field(default=14 * 24 * 3600, gt=0)
    login_max_failures: int = Field(default=5, ge=1)  # per user name + client address, in the window
    login_window_seconds: int = Field(default=900, gt=0)

    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser().resolve()

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_data_dir / 'ftstudio.db'}"

    @property
    def broker_url(self) -> str:
        # ftstudio-fs: kombu's filesystem transport with atomic message writes (app/broker_fs.py).
        return self.redis_url or "ftstudio-fs://"

    @property
    def embedded_broker(self) -> bool:
        return not self.redis_url

    @property
    def broker_dir(self) -> Path:
        return self.resolved_data_dir / "broker"

    @property
    def runs_dir(self) -> Path:
        return self.resolved_data_dir / "runs"

    @property
    def datasets_dir(self) -> Path:
        return self.resolved_data_dir / "datasets"

    @property
    def models_dir(self) -> Path:
        return self.resolved_data_dir / "models"

    @property
    def uploads_dir(self) -> Path:
        return self.resolved_data_dir / "uploads"

    def ensure_dirs(self) -> None:
        for path in (self.runs_dir, self.datasets_dir, self.models_dir, self.uploads_dir):
            path.mkdir(parents=True, exist_ok=True)
        if self.embedded_broker:
            for sub in ("out", "processed"):
                (self.broker_dir / sub).mkdir(parents=True, exist_ok=True)


@lru_cache
def get_settings() -> Settings:
    return Settings()


def reset_settings_cache() -> None:
    """Tests and the CLI change the environment, then ask for fresh settings."""
    get_settings.cache_clear()
