"""SQL for API keys: create, look up by secret, revoke, list; only a secret's sha256 is kept."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence

from sqlmodel import Session, col, select

from sourcing.domain.errors import BadInputError, NotFoundError
from sourcing.domain.kinds import ApiRole
from sourcing.domain.tables import ApiKey, Buyer, Supplier
from sourcing.domain.types import utcnow

SECRET_PREFIX = "sk-"
PREFIX_LENGTH = 12


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class ApiKeyRepository:
    """Reads and writes API keys inside the caller's session; never commits."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def create(self, role: ApiRole, subject: str = "") -> tuple[ApiKey, str]:
        """A new key and its secret; the secret is returned here once and never stored."""
        if role not in set(ApiRole):
            raise BadInputError(f"unknown role {role!r}", role=role)
        role = ApiRole(role)
        subject = subject.strip()
        self._check_subject(role, subject)
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        key = ApiKey(
            key_hash=hash_secret(secret), prefix=secret[:PREFIX_LENGTH], role=role, subject=subject
        )
        self.session.add(key)
        self.session.flush()
        return key, secret

    def find_active(self, secret: str) -> ApiKey | None:
        if not secret.startswith(SECRET_PREFIX):
            return None
        digest = hash_secret(secret)
        query = select(ApiKey).where(
            col(ApiKey.key_hash) == digest, col(ApiKey.revoked_at).is_(None)
        )
        key = self.session.exec(query).first()
        # The index lookup may leak timing on the hash, never on the secret; compare in full anyway.
        if key is None or not hmac.compare_digest(key.key_hash, digest):
            return None
        return key

    def get(self, key_id: int) -> ApiKey:
        key = self.session.get(ApiKey, key_id)
        if key is None:
            raise NotFoundError(f"no API key {key_id}", key_id=key_id)
        return key

    def revoke(self, key_id: int) -> ApiKey:
        """Revoke a key; revoking it again keeps the first revocation time."""
        key = self.get(key_id)
        if key.revoked_at is None:
            key.revoked_at = utcnow()
            self.session.add(key)
            self.session.flush()
        return key

    def list(self, *, include_revoked: bool = True) -> Sequence[ApiKey]:
        query = select(ApiKey).order_by(col(ApiKey.id))
        if not include_revoked:
            query = query.where(col(ApiKey.revoked_at).is_(None))
        return self.session.exec(query).all()

    def _check_subject(self, role: ApiRole, subject: str) -> None:
        if role not in (ApiRole.BUYER, ApiRole.MERCHANT):
            if subject:
                raise BadInputError(f"{role} keys are bound to no subject", role=role)
            return
        noun = "buyer" if role is ApiRole.BUYER else "supplier"
        if not subject:
            raise BadInputError(f"{role} keys need a subject ({noun} id)", role=role)
        owner = self.session.get(Buyer if role is ApiRole.BUYER else Supplier, subject)
        if owner is None:
            raise NotFoundError(f"no {noun} '{subject}'", subject=subject)
