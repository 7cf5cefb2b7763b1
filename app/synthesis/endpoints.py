"""Where a synthesis job sends its requests: an external OpenAI-compatible URL with a saved key, or one of
the studio's own deployments (the serving issue). Resolved in the worker right before the child starts, so
the plain key lives only in the child's environment."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.models import Secret
from app.synthesis.secrets import decrypt


class EndpointUnavailable(ValueError):
    """The job's endpoint cannot be used (key gone, deployment missing); the message says why."""


def deployment_endpoint(session: Session, owner_id: int, deployment_id: int) -> tuple[str, str, str]:
    """SEAM for the serving branch: (base_url, api_key, served_model_name) of a studio deployment.

    Serving stores deployment keys hashed, so at job creation the synthesis service asks for a fresh key
    (POST /api/v1/deployments/{id}/keys), saves it as a Secret and records its id in the job's endpoint
    like an external one; this function is then only needed to find the URL and model name. Until the
    deployments table exists it says so."""
    try:
        from app.models import Deployment  # type: ignore[attr-defined]  # arrives with the serving branch
    except ImportError:
        raise EndpointUnavailable(
            "The studio's own deployments are not available in this version; use an external endpoint URL."
        ) from None
    deployment = session.get(Deployment, deployment_id)
    if deployment is None or deployment.owner_id != owner_id:
        raise EndpointUnavailable(f"Deployment {deployment_id} does not exist.")
    raise EndpointUnavailable(
        "Deployment keys are minted by the serving API; see app/synthesis/endpoints.py."
    )


def resolve(session: Session, owner_id: int, endpoint: dict[str, Any]) -> tuple[str, str]:
    """(base_url, plain api key) for a job's endpoint record."""
    key = ""
    if endpoint.get("secret_id") is not None:
        secret = session.get(Secret, int(endpoint["secret_id"]))
        if secret is None or secret.owner_id != owner_id:
            raise EndpointUnavailable(
                "The saved API key of this job was deleted; start a new run with a key."
            )
        key = decrypt(secret.ciphertext)
    if endpoint.get("kind") == "deployment" and not endpoint.get("base_url"):
        base_url, key, _ = deployment_endpoint(session, owner_id, int(endpoint["deployment_id"]))
        return base_url, key
    return str(endpoint["base_url"]), key
