"""Listening tests: surveys, their clips and A/B pairs, participants and answers (``core/surveys/``).

One answer per participant, item and question (``uq_survey_answers_item``): a second submit replaces the first.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 10:40:48.846525
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "surveys",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("instructions", sa.Text(), nullable=False),
        sa.Column("consent", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_surveys_created_at"), "surveys", ["created_at"], unique=False)
    op.create_index(op.f("ix_surveys_status"), "surveys", ["status"], unique=False)
    op.create_table(
        "survey_clips",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("survey_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("system", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("piece_id", sa.String(length=32), nullable=True),
        sa.Column("dataset", sa.String(length=200), nullable=True),
        sa.Column("dataset_index", sa.Integer(), nullable=True),
        sa.Column("audio_path", sa.String(length=1000), nullable=False),
        sa.Column("duration_seconds", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["survey_id"], ["surveys.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_survey_clips_survey_id"), "survey_clips", ["survey_id"], unique=False)
    op.create_table(
        "survey_pairs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("survey_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=32), nullable=False),
        sa.Column("first_clip_id", sa.String(length=32), nullable=False),
        sa.Column("second_clip_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["first_clip_id"], ["survey_clips.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["second_clip_id"], ["survey_clips.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["survey_id"], ["surveys.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_survey_pairs_survey_id"), "survey_pairs", ["survey_id"], unique=False)
    op.create_table(
        "survey_participants",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("survey_id", sa.String(length=32), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("background", sa.String(length=32), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["survey_id"], ["surveys.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_survey_participants_survey_id"), "survey_participants", ["survey_id"], unique=False)
    op.create_table(
        "survey_answers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("participant_id", sa.String(length=32), nullable=False),
        sa.Column("item_id", sa.String(length=32), nullable=False),
        sa.Column("question", sa.String(length=32), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("played_share", sa.Float(), nullable=False),
        sa.Column("elapsed_ms", sa.Integer(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["participant_id"], ["survey_participants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("participant_id", "item_id", "question", name="uq_survey_answers_item"),
    )


def downgrade() -> None:
    op.drop_table("survey_answers")
    op.drop_index(op.f("ix_survey_participants_survey_id"), table_name="survey_participants")
    op.drop_table("survey_participants")
    op.drop_index(op.f("ix_survey_pairs_survey_id"), table_name="survey_pairs")
    op.drop_table("survey_pairs")
    op.drop_index(op.f("ix_survey_clips_survey_id"), table_name="survey_clips")
    op.drop_table("survey_clips")
    op.drop_index(op.f("ix_surveys_status"), table_name="surveys")
    op.drop_index(op.f("ix_surveys_created_at"), table_name="surveys")
    op.drop_table("surveys")
