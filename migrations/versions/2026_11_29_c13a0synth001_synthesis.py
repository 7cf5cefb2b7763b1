"""synthesis: encrypted secrets and prompt templates

Revision ID: c13a0synth001
Revises: c10a0serve001
Create Date: 2026-11-29 21:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c13a0synth001"
down_revision: str | None = "c10a0serve001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "secrets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("ciphertext", sa.Text(), nullable=False),
        sa.Column("hint", sa.String(length=8), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_secrets_owner_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_secrets")),
    )
    with op.batch_alter_table("secrets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_secrets_owner_id"), ["owner_id"], unique=False)
    op.create_table(
        "synthesis_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("requirements", sa.Text(), nullable=False),
        sa.Column("limits", sa.Text(), nullable=False),
        sa.Column("output_format", sa.Text(), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("variables", sa.JSON(), nullable=False),
        sa.Column("multi_turn", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_synthesis_templates_owner_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_synthesis_templates")),
    )
    with op.batch_alter_table("synthesis_templates", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_synthesis_templates_owner_id"), ["owner_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("synthesis_templates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_synthesis_templates_owner_id"))
    op.drop_table("synthesis_templates")
    with op.batch_alter_table("secrets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_secrets_owner_id"))
    op.drop_table("secrets")
