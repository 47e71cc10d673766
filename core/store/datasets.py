"""Queries on the dataset registry."""

from __future__ import annotations

from sqlalchemy import select

from core.errors import DatasetError
from core.names import check_name
from core.store.db import DatasetRecord, session_scope


def add_dataset(record: DatasetRecord) -> DatasetRecord:
    record.name = check_name("dataset", record.name, DatasetError)
    with session_scope() as session:
        session.add(record)
    return record


def find_dataset(name: str) -> DatasetRecord | None:
    with session_scope() as session:
        return session.scalars(select(DatasetRecord).where(DatasetRecord.name == name)).first()


def get_dataset_record(name: str) -> DatasetRecord:
    record = find_dataset(name)
    if record is None:
        known = ", ".join(r.name for r in list_dataset_records()) or "none yet"
        raise DatasetError(f"no dataset named '{name}' (known: {known})")
    return record


def list_dataset_records() -> list[DatasetRecord]:
    with session_scope() as session:
        return list(session.scalars(select(DatasetRecord).order_by(DatasetRecord.created_at.desc())))


def rename_dataset_record(name: str, new_name: str) -> None:
    new_name = check_name("dataset", new_name, DatasetError)
    if find_dataset(new_name) is not None:
        raise DatasetError(f"a dataset named '{new_name}' already exists")
    with session_scope() as session:
        record = session.scalars(select(DatasetRecord).where(DatasetRecord.name == name)).first()
        if record is None:
            raise DatasetError(f"no dataset named '{name}'")
        record.name = new_name


def delete_dataset_record(name: str) -> DatasetRecord:
    with session_scope() as session:
        record = session.scalars(select(DatasetRecord).where(DatasetRecord.name == name)).first()
        if record is None:
            raise DatasetError(f"no dataset named '{name}'")
        session.delete(record)
    return record
