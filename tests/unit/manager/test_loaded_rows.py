"""Rows loaded for a status change keep their JSON columns as text until first read: a read
decodes (once), a write replaces the text unread, and a column that was not loaded is an
error, not a silent None."""

from __future__ import annotations

import uuid

import pytest

from cygnet.manager.store.repositories.session_changes import SESSIONS, Loaded


def row() -> Loaded:
    return Loaded(
        SESSIONS,
        {"id": uuid.UUID(int=1), "status": "CREATING"},
        {"environ": '{"A": "1"}', "status_data": None, "resource_opts": "not json"},
    )


def test_a_json_column_is_decoded_when_first_read() -> None:
    loaded = row()
    assert loaded.environ == {"A": "1"}
    assert loaded.environ is loaded.environ  # decoded once
    assert loaded.status_data is None
    assert not loaded.dirty


def test_a_column_written_before_it_is_read_is_never_decoded() -> None:
    loaded = row()
    loaded.resource_opts = {"shmem": "64m"}  # its text would not even decode
    assert loaded.resource_opts == {"shmem": "64m"}
    assert loaded.dirty == {"resource_opts"}


def test_what_was_not_loaded_is_an_attribute_error() -> None:
    loaded = row()
    with pytest.raises(AttributeError):
        _ = loaded.vfolder_mounts
    with pytest.raises(AttributeError):
        loaded.no_such_column = 1
