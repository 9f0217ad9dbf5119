"""The throwaway Redis and PostgreSQL that scripts/test.sh starts are reachable (skip when unset)."""

import pytest

pytestmark = pytest.mark.scaleout


def test_redis_answers(redis_url):
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    assert client.ping()
    client.set("neat-test:ping", "pong", ex=60)
    assert client.get("neat-test:ping") == b"pong"


def test_postgres_answers_psycopg(pg_url):
    import psycopg

    conninfo = pg_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(conninfo, connect_timeout=5) as conn:
        assert conn.execute("select 1").fetchone() == (1,)


def test_postgres_answers_sqlalchemy(pg_url):
    import sqlalchemy as sa

    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("select 1")).scalar_one() == 1
    finally:
        engine.dispose()
