from __future__ import annotations

import pytest

from backend.eventlog.log import EventLog
from search.backends.database import DatabaseSearchBackend
from tests.search.contract import SearchBackendContract


class TestDatabaseBackend(SearchBackendContract):
    @pytest.fixture
    def backend(self, db):
        return DatabaseSearchBackend()

    @pytest.fixture
    def indexed(self, db):
        return EventLog.append
