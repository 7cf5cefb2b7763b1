"""queue: job priority, attempts and requested resources; worker draining, devices and current job

Revision ID: c09a0queue001
Revises: c11a0users001
Create Date: 2026-11-29 21:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c09a0queue001"
down_revision: str | None = "c11a0users001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("priority", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("max_attempts", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("requested_resources", sa.JSON(), nullable=False, server_default="{}"))
        batch.create_index("ix_jobs_priority", ["priority"])
    # Jobs that ran before this revision ran once.
    op.execute("UPDATE jobs SET attempts = 1 WHERE status <> 'queued'")
    with op.batch_alter_table("workers") as batch:
        batch.add_column(sa.Column("draining", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("devices", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("current_job_id", sa.Integer(), nullable=True))
    # The queue's hot query: queued jobs by status, priority, id.
    op.create_index("ix_jobs_status_priority_id", "jobs", ["status", "priority", "id"])
    # Metric rows of one step are kept once (a resumed run re-logs the steps after its checkpoint).
    op.create_index("ix_job_metrics_job_id_kind_step", "job_metrics", ["job_id", "kind", "step"])


def downgrade() -> None:
    op.drop_index("ix_job_metrics_job_id_kind_step", table_name="job_metrics")
    op.drop_index("ix_jobs_status_priority_id", table_name="jobs")
    with op.batch_alter_table("workers") as batch:
        batch.drop_column("current_job_id")
        batch.drop_column("devices")
        batch.drop_column("draining")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_priority")
        batch.drop_column("requested_resources")
        batch.drop_column("max_attempts")
        batch.drop_column("attempts")
        batch.drop_column("priority")
