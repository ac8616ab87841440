"""The frozen migrations build exactly the schema keywell.store.tables describes.

Each backend gets a fresh database (a SQLite file, a throw-away PostgreSQL
database), is upgraded to head, reflected and compared with the metadata;
downgrading to base must leave nothing but Alembic's own bookkeeping table.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, MetaData, insert, inspect, select
from sqlalchemy.exc import IntegrityError

from keywell.errors import KEKError
from keywell.issuer import Issuer
from keywell.store import tables as t
from keywell.store.engine import WRITE_OPTION, make_engine
from keywell.store.kek import KEKRing
from keywell.store.migrate import downgrade_engine, head_revision, upgrade

KEYWELL_TABLES = {
    "keywell_keysets",
    "keywell_keys",
    "keywell_audit",
    "keywell_admin_tokens",
    "keywell_kek_checks",
    "keywell_dpop_replay",
}
T0 = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture
def engine(any_url: str) -> Iterator[Engine]:
    upgrade(any_url)
    eng = make_engine(any_url)
    yield eng
    eng.dispose()


def test_upgrade_reaches_head_with_no_difference_from_the_tables(engine: Engine) -> None:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert ctx.get_current_revision() == head_revision()
        assert compare_metadata(ctx, t.metadata) == []
        conn.rollback()


def test_reflected_columns_and_indexes_equal_the_metadata(engine: Engine) -> None:
    reflected = MetaData()
    reflected.reflect(engine)
    assert set(reflected.tables) == set(t.metadata.tables) | {"alembic_version"}
    for name, table in t.metadata.tables.items():
        got = reflected.tables[name]
        assert [c.name for c in got.columns] == [c.name for c in table.columns], name
        for col in table.columns:
            mine = got.columns[col.name]
            assert mine.nullable == col.nullable, (name, col.name)
            assert mine.primary_key == col.primary_key, (name, col.name)
            assert mine.type._type_affinity is col.type._type_affinity, (name, col.name)
            length = getattr(col.type, "length", None)
            assert getattr(mine.type, "length", None) == length, (name, col.name)
        assert {(i.name, i.unique) for i in got.indexes} == {
            (i.name, bool(i.unique)) for i in table.indexes
        }, name
        assert {fk.target_fullname for fk in got.foreign_keys} == {
            fk.target_fullname for fk in table.foreign_keys
        }, name


def test_the_database_allows_one_active_key_per_set(engine: Engine) -> None:
    indexes = {i["name"]: i for i in inspect(engine).get_indexes("keywell_keys")}
    index = indexes["uq_keywell_keys_one_active"]
    assert index["unique"]
    assert "active" in str(index["dialect_options"][f"{engine.dialect.name}_where"])
    key = {"alg": "ES256", "max_ttl_us": 1, "created_at": T0}
    with engine.connect().execution_options(**{WRITE_OPTION: True}) as conn, conn.begin():
        conn.execute(
            insert(t.keysets).values(
                name="main",
                issuer="https://i.test",
                alg="ES256",
                rotation_period_us=1,
                max_token_ttl_us=1,
                jwks_max_age_us=1,
                clock_skew_us=1,
                version=0,
                created_at=T0,
                updated_at=T0,
            )
        )
        set_id = conn.execute(select(t.keysets.c.id)).scalar_one()
        conn.execute(insert(t.keys).values(keyset_id=set_id, kid="a", state="active", **key))
        conn.execute(insert(t.keys).values(keyset_id=set_id, kid="b", state="pending", **key))
        conn.execute(insert(t.keys).values(keyset_id=set_id, kid="c", state="pending", **key))
    with (
        pytest.raises(IntegrityError),
        engine.connect().execution_options(**{WRITE_OPTION: True}) as conn,
        conn.begin(),
    ):
        conn.execute(insert(t.keys).values(keyset_id=set_id, kid="d", state="active", **key))


def test_downgrade_to_base_leaves_no_tables(engine: Engine) -> None:
    downgrade_engine(engine)
    left = set(inspect(engine).get_table_names())
    assert not left & KEYWELL_TABLES
    assert left <= {"alembic_version"}
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() is None
        conn.rollback()
    upgrade(engine.url.render_as_string(hide_password=False))  # and back up again
    assert set(inspect(engine).get_table_names()) >= KEYWELL_TABLES


def test_a_store_from_before_0002_gets_check_values_from_the_first_ring_that_writes_to_it(
    any_url: str,
) -> None:
    key, other = b"k" * 32, b"x" * 32
    issuer = Issuer(any_url, keks=KEKRing([("main", key)]), auto_upgrade=True)
    issuer.create_keyset("main", issuer="https://i.test")
    issuer.close()
    engine = make_engine(any_url)
    try:
        downgrade_engine(engine, "0001")  # as written by a keywell without check values
        assert "keywell_kek_checks" not in inspect(engine).get_table_names()
        upgrade(any_url)
        with engine.connect() as conn:
            assert conn.execute(select(t.kek_checks)).all() == []
            conn.rollback()
        with pytest.raises(KEKError, match="wrong key"):  # same id, other bytes: the keys tell
            Issuer(any_url, keks=KEKRing([("main", other)]))
        opened = Issuer(any_url, keks=KEKRing([("main", key)]))  # proves it by opening a key
        with engine.connect() as conn:
            assert conn.execute(select(t.kek_checks)).all() == []  # opening records nothing
            conn.rollback()
        opened.rotate("main", emergency=True)  # the first key material records the proof
        opened.close()
        with engine.connect() as conn:
            assert conn.execute(select(t.kek_checks.c.kek_id)).scalars().all() == ["main"]
            conn.rollback()
    finally:
        engine.dispose()
