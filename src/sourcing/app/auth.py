"""API-key authentication: who is calling (a Principal), which roles pass, whose data it sees."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlmodel import Session

from sourcing.domain.errors import AuthError, ForbiddenError
from sourcing.domain.kinds import ApiRole
from sourcing.domain.repositories.keys import ApiKeyRepository


@dataclass(frozen=True)
class Principal:
    key_id: int
    role: ApiRole
    subject: str  # buyer id for buyer keys, supplier id for merchant keys, else ""


def secret_from_headers(authorization: str | None, api_key: str | None) -> str:
    """The secret from `Authorization: Bearer sk-…`, else from `X-API-Key`."""
    if authorization:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("the Authorization header must be 'Bearer <API key>'")
        return token.strip()
    if api_key and api_key.strip():
        return api_key.strip()
    raise AuthError("an API key is required: 'Authorization: Bearer sk-…' or 'X-API-Key: sk-…'")


def authenticate(session: Session, secret: str) -> Principal:
    key = ApiKeyRepository(session).find_active(secret)
    if key is None or key.id is None:
        raise AuthError("the API key is unknown or revoked")
    return Principal(key_id=key.id, role=key.role, subject=key.subject)


def check_roles(principal: Principal, roles: Collection[ApiRole]) -> Principal:
    if principal.role not in roles:
        allowed = ", ".join(sorted(roles))
        raise ForbiddenError(f"this needs a key with role {allowed}", role=principal.role)
    return principal


def owner_scope(principal: Principal) -> str:
    """The owner a principal's data is filed under: 'buyer:b-0001', 'merchant:s-0001', 'admin'."""
    if principal.role in (ApiRole.BUYER, ApiRole.MERCHANT):
        return f"{principal.role}:{principal.subject}"
    return str(principal.role)
