"""Ledger tests run on SQLite and, when CSPKIT_TEST_POSTGRES_URL is set, on PostgreSQL (a fresh schema per test)."""

from __future__ import annotations

import os
import uuid
from urllib.parse import quote

import pytest

POSTGRES_URL = os.environ.get("CSPKIT_TEST_POSTGRES_URL")


def _postgres_url(base: str) -> str:
    if base.startswith("postgresql://"):
        base = "postgresql+psycopg://" + base[len("postgresql://"):]
    return base


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger_url(request, tmp_path):
    """A database URL for a fresh, empty ledger."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("CSPKIT_TEST_POSTGRES_URL is not set")
    from sqlalchemy import create_engine, text

    base = _postgres_url(POSTGRES_URL)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()
