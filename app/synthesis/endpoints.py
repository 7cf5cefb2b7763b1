"""Where a synthesis job sends its requests: an external OpenAI-compatible URL with a saved key, or one of
the studio's own deployments. Resolved in the worker right before the child starts, so the plain key lives
only in the child's environment."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.deps import Principal
from app.errors import Conflict, InvalidInput
from app.models import DeploymentStatus, Secret
from app.serving.service import DeploymentService
from app.settings import get_settings
from app.synthesis.secrets import decrypt

# A web bound to every address is reached by the worker through the loopback one.
WILDCARD_HOSTS = {"0.0.0.0", "::", "[::]", ""}


class EndpointUnavailable(ValueError):
    """The job's endpoint cannot be used (key gone, deployment missing); the message says why."""


def studio_base_url() -> str:
    """The studio's own OpenAI-compatible URL as this web process serves it (settings host and port).
    The worker calls it from the same machine in the embedded studio; in docker the web's host/port
    settings name the address the workers reach."""
    settings = get_settings()
    host = settings.host if settings.host not in WILDCARD_HOSTS else "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{settings.port}/v1"


def deployment_endpoint(
    session: Session, user: Principal, deployment_id: int, model: str | None = None
) -> tuple[str, str, str]:
    """(base_url, api_key, served_model_name) of one of the user's ready deployments, with a fresh key.

    Serving keeps only key hashes, so a job needs a key of its own: minted here through the same service
    function as POST /api/v1/deployments/{id}/keys. Another owner's deployment is a 404 (NotFound); a
    ``model`` other than the deployment's served name is a 422."""
    serving = DeploymentService(session)
    deployment = serving.get(user, deployment_id)
    if deployment.status != DeploymentStatus.READY:
        raise Conflict(
            f"Deployment {deployment_id} is {deployment.status}; synthesise from a ready deployment.",
            field="deployment_id",
        )
    name = deployment.served_model_name
    if model and model != name:  # checked before a key is minted for nothing
        raise InvalidInput(f"Deployment {deployment_id} serves '{name}', not '{model}'.", field="model")
    _, key = serving.create_key(user, deployment_id)
    return studio_base_url(), key, name


def resolve(session: Session, owner_id: int, endpoint: dict[str, Any]) -> tuple[str, str]:
    """(base_url, plain api key) for a job's endpoint record (a deployment's records its URL and key too)."""
    key = ""
    if endpoint.get("secret_id") is not None:
        secret = session.get(Secret, int(endpoint["secret_id"]))
        if secret is None or secret.owner_id != owner_id:
            raise EndpointUnavailable(
                "The saved API key of this job was deleted; start a new run with a key."
            )
        key = decrypt(secret.ciphertext)
    if not endpoint.get("base_url"):
        raise EndpointUnavailable("This job's endpoint has no URL; start a new run.")
    return str(endpoint["base_url"]), key
