"""All tables, imported here so Alembic and the relationships see every mapper."""

from app.models.base import Base, utcnow
from app.models.base_model import BaseModel, ModelSource
from app.models.dataset import Dataset, DatasetStatus, DatasetVersion
from app.models.deployment import Conversation, Deployment, DeploymentKey, DeploymentStatus
from app.models.job import FINAL_STATUSES, Checkpoint, Job, JobKind, JobStatus
from app.models.metric import JobEvent, JobMetric, Score
from app.models.synthesis import Secret, SynthesisTemplate
from app.models.user import LOCAL_USER_ID, ApiToken, AuditEntry, Role, TokenKind, User
from app.models.worker_node import WorkerNode

__all__ = [
    "ApiToken",
    "AuditEntry",
    "TokenKind",
    "FINAL_STATUSES",
    "LOCAL_USER_ID",
    "Base",
    "BaseModel",
    "Checkpoint",
    "Dataset",
    "DatasetStatus",
    "DatasetVersion",
    "Conversation",
    "Deployment",
    "DeploymentKey",
    "DeploymentStatus",
    "Job",
    "JobEvent",
    "JobKind",
    "JobMetric",
    "JobStatus",
    "ModelSource",
    "Role",
    "Score",
    "Secret",
    "SynthesisTemplate",
    "User",
    "WorkerNode",
    "utcnow",
]
