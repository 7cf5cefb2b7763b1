"""The one reader of the environment, shared by the web process, the worker and the CLI.

Every setting can come from an environment variable (prefix ``FTSTUDIO_``, except the two conventional
service URLs ``DATABASE_URL`` and ``REDIS_URL``) or from a ``.env`` file. The embedded default (no
variables at all) is SQLite plus a broker that needs no server, both inside the data directory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
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
    # Notifications (worker/notify.py): a global webhook for every job's end and collapse flags, the
    # HMAC-SHA256 secret signing every webhook body (per-job URLs too), and the bounded retry schedule.
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_max_attempts: int = Field(default=5, ge=1, le=20)
    webhook_backoff_seconds: float = Field(default=2.0, ge=0)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    # Heartbeats older than this mark a running job as interrupted (its worker is gone).
    heartbeat_timeout_seconds: float = Field(default=90.0, gt=0)
    heartbeat_interval_seconds: float = Field(default=5.0, gt=0)
    # Seconds between a cancel's SIGTERM and a SIGKILL of the child's process group.
    cancel_grace_seconds: float = Field(default=30.0, gt=0)
    # Models an admin allows to run their own code (trust_remote_code). Empty: none.
    trust_remote_code_models: list[str] = Field(default_factory=list)
    # Server folders an admin may register models from (JSON list). Empty: the data dir's models folder.
    model_roots: list[Path] = Field(default_factory=list)
    # Server folders an admin may name evaluation data from (rows_path, MMCU data_dir). Empty: the data
    # dir's eval-data folder (the one members may name too).
    eval_data_roots: list[Path] = Field(default_factory=list)
    # One row (all its turns) longer than this is refused with a 422: near-duplicate detection and
    # tokenisation grow with row length, and a single 50 MB line once asked for 25 GiB.
    max_row_chars: int = Field(default=500_000, ge=1)
    # Rows one upload may hold (any format; an xlsx is also checked for zip bombs before parsing).
    max_upload_rows: int = Field(default=1_000_000, ge=1)
    max_xlsx_rows: int = Field(default=100_000, ge=1)
    # Uploads with more rows than this skip near-duplicate search in the request (exact duplicates are
    # still found): the dataset analysis job does it on the worker.
    inline_near_dup_rows: int = Field(default=20_000, ge=0)
    default_queue: str = "gpu"
    # The queues a job may name (the default queue is always one of them): an unknown queue would leave a
    # job waiting for a worker that never comes, so it is refused with a 422.
    queues: list[str] = Field(default_factory=lambda: ["gpu", "cpu"])
    # A lost worker's job is queued again and resumes from its last checkpoint, this many runs at most.
    auto_requeue: bool = True
    job_max_attempts: int = Field(default=3, ge=1, le=100)
    # Running jobs per owner at once (0: no limit); owners take turns when several wait.
    max_running_per_owner: int = Field(default=0, ge=0)
    # Database connections of one process. The web serves sync routes on anyio's 40 threads, each may hold
    # one connection; a full pool answers 503 after db_pool_timeout_seconds instead of hanging.
    db_pool_size: int = Field(default=20, ge=1)
    db_max_overflow: int = Field(default=30, ge=0)
    db_pool_timeout_seconds: float = Field(default=5.0, gt=0)
    # Requests inside the web app at once (fewer than its 40 threads and its connections); the others
    # wait up to web_queue_timeout_seconds, then get a 503 with Retry-After (app/admission.py).
    web_max_concurrent_requests: int = Field(default=32, ge=1)
    web_queue_timeout_seconds: float = Field(default=10.0, gt=0)
    # A cheap job kind ("sleep") for queue tests and benchmarks only; off in production.
    enable_test_job_kinds: bool = False
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
    # Serving processes bind this address on the worker; the web proxies to it (docker: the worker's name).
    serving_host: str = "127.0.0.1"
    # auto: vLLM on a GPU worker where it is installed (extra serve-vllm), else transformers.
    serving_engine: str = Field(default="auto", pattern="^(auto|transformers|vllm)$")

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

    @property
    def eval_data_dir(self) -> Path:
        return self.resolved_data_dir / "eval-data"

    @property
    def resolved_eval_data_roots(self) -> list[Path]:
        roots = self.eval_data_roots or [self.eval_data_dir]
        return [Path(r).expanduser().resolve() for r in roots]

    @property
    def resolved_model_roots(self) -> list[Path]:
        roots = self.model_roots or [self.models_dir]
        return [Path(r).expanduser().resolve() for r in roots]

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


def _set_environment(values: Mapping[str, str | None]) -> None:
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@contextmanager
def settings_from(changes: Mapping[str, str | None]) -> Iterator[Settings]:
    """This process reads its settings with these environment variables set (None: unset) until the block
    ends, then with the earlier values again, whatever happened inside. For tests, benchmarks and tools
    that run the app in-process against a studio of their own."""
    saved = {key: os.environ.get(key) for key in changes}
    _set_environment(changes)
    reset_settings_cache()
    try:
        yield get_settings()
    finally:
        _set_environment(saved)
        reset_settings_cache()
