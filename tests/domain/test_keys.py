"""API keys on SQLite and PostgreSQL: hashed secrets, revoked keys never match, real subjects."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, SQLModel, select

from sourcing.domain.errors import BadInputError, NotFoundError
from sourcing.domain.kinds import ApiRole, BuyerChannel, SupplierKind
from sourcing.domain.repositories.keys import PREFIX_LENGTH, ApiKeyRepository, hash_secret
from sourcing.domain.tables import ApiKey, Buyer, Supplier


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        session.add(Buyer(id="b-0001", name="小王杂货", channel=BuyerChannel.TAOBAO))
        session.add(Supplier(id="s-0001", name="义乌市好运日用品厂", kind=SupplierKind.FACTORY))
        session.commit()
        yield session


def test_a_key_is_found_by_its_secret_and_only_its_hash_is_stored(session: Session) -> None:
    keys = ApiKeyRepository(session)
    key, secret = keys.create(ApiRole.BUYER, "b-0001")
    session.commit()

    assert secret.startswith("sk-")
    assert len(secret) == 3 + 43  # token_urlsafe(32) is 43 characters
    assert key.prefix == secret[:12]
    stored = session.exec(select(ApiKey)).one()
    assert stored.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in {stored.key_hash, stored.prefix, stored.subject}
    found = keys.find_active(secret)
    assert found is not None
    assert (found.id, found.role, found.subject) == (key.id, ApiRole.BUYER, "b-0001")
    assert keys.find_active(secret + "x") is None
    assert keys.find_active(stored.key_hash) is None
    assert keys.find_active("") is None


def test_a_revoked_key_never_matches_and_stays_listed(session: Session) -> None:
    keys = ApiKeyRepository(session)
    admin, admin_secret = keys.create(ApiRole.ADMIN)
    merchant, merchant_secret = keys.create(ApiRole.MERCHANT, "s-0001")
    assert admin.id is not None
    revoked = keys.revoke(admin.id)
    session.commit()
    first_revocation = revoked.revoked_at
    assert first_revocation is not None

    assert keys.find_active(admin_secret) is None
    assert keys.find_active(merchant_secret) is not None
    assert keys.revoke(admin.id).revoked_at == first_revocation  # revoking again changes nothing
    assert [key.id for key in keys.list()] == [admin.id, merchant.id]
    assert [key.id for key in keys.list(include_revoked=False)] == [merchant.id]
    with pytest.raises(NotFoundError):
        keys.revoke(999)


def test_secrets_are_unique(session: Session) -> None:
    keys = ApiKeyRepository(session)
    secrets = {keys.create(ApiRole.EVALUATOR)[1] for _ in range(5)}
    assert len(secrets) == 5


@pytest.mark.parametrize(
    ("role", "subject", "error"),
    [
        ("owner", "", BadInputError),
        (ApiRole.BUYER, "", BadInputError),
        (ApiRole.MERCHANT, "", BadInputError),
        (ApiRole.ADMIN, "b-0001", BadInputError),
        (ApiRole.EVALUATOR, "s-0001", BadInputError),
        (ApiRole.BUYER, "b-9999", NotFoundError),
        (ApiRole.BUYER, "s-0001", NotFoundError),  # a supplier is no buyer
        (ApiRole.MERCHANT, "b-0001", NotFoundError),
    ],
)
def test_a_key_names_an_existing_subject_exactly_when_its_role_has_one(
    session: Session, role: str, subject: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        ApiKeyRepository(session).create(role, subject)  # type: ignore[arg-type]
    assert session.exec(select(ApiKey)).all() == []


def _every_stored_value(session: Session) -> list[str]:
    """Every value of every row of every table, as text, read with plain SQL."""
    values: list[str] = []
    for table in SQLModel.metadata.sorted_tables:
        for row in session.connection().execute(table.select()):
            values.extend(str(value) for value in row if value is not None)
    return values


def test_no_secret_is_anywhere_in_the_database(session: Session, engine: Engine) -> None:
    keys = ApiKeyRepository(session)
    made = [keys.create(ApiRole.BUYER, "b-0001"), keys.create(ApiRole.ADMIN)]
    assert made[1][0].id is not None
    keys.revoke(made[1][0].id)
    session.commit()

    stored = _every_stored_value(session)
    assert any(value == hash_secret(made[0][1]) for value in stored)  # the scan sees the rows
    for _key, secret in made:
        hidden = secret[PREFIX_LENGTH:]  # the part the shown prefix does not give away
        assert not [value for value in stored if hidden in value], "a secret is stored"
    if engine.dialect.name == "sqlite":
        # Nor in the file's bytes: no free page or write-ahead log keeps one either.
        path = Path(str(engine.url.database))
        files = [path, path.with_name(path.name + "-wal")]
        raw = b"".join(file.read_bytes() for file in files if file.exists())
        assert raw
        for _key, secret in made:
            assert secret[PREFIX_LENGTH:].encode() not in raw
