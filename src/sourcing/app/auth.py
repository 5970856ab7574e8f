"""Authentication by API key or widget token: who is calling (a Principal), which roles pass,
whose data it sees, what a widget token may do."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlmodel import Session

from sourcing.app.runtime import OPERATOR_PREFIX, token_matches
from sourcing.domain.errors import AuthError, ForbiddenError
from sourcing.domain.kinds import ApiRole
from sourcing.domain.repositories.keys import ApiKeyRepository
from sourcing.domain.repositories.widget_tokens import TOKEN_PREFIX, WidgetTokenRepository
from sourcing.domain.tables import ApiKey

# What the web widget does besides reading its buyer's own data: chat, rate an answer, watch a
# product, follow a supplier, acknowledge or act on an alert (widget.js). Nothing else.
WIDGET_WRITES = frozenset(
    {
        ("POST", "/v1/chat"),
        ("POST", "/v1/chat/completions"),
        ("POST", "/v1/messages/{message_id}/feedback"),
        ("PUT", "/v1/watches/{product_id}"),
        ("POST", "/v1/alerts/{alert_id}/ack"),
        ("POST", "/v1/alerts/{alert_id}/act"),
        ("PUT", "/v1/follows/{supplier_id}"),
    }
)
READ_METHODS = frozenset({"GET", "HEAD"})
OPERATOR_KEY_ID = 0  # no API key row has it: ids start at 1


@dataclass(frozen=True)
class Principal:
    key_id: int  # the API key's id, or the widget token's
    role: ApiRole
    subject: str  # buyer id for buyer keys, supplier id for merchant keys, else ""
    widget_origin: str = ""  # set for a widget token: the one web origin it signs in from

    @property
    def caller(self) -> str:
        """Who the rate limits count this request against."""
        return f"widget:{self.key_id}" if self.widget_origin else f"key:{self.key_id}"


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


def authenticate(
    session: Session,
    secret: str,
    *,
    origin: str | None = None,
    operator_hash: bytes | None = None,
) -> Principal:
    """The caller behind an API key or a widget token; a widget token only from its origin (a
    browser always sends Origin cross-site, so another site's page cannot use a leaked one).
    The operator token of the server's runtime file (`app/runtime.py`) is an admin."""
    if secret.startswith(OPERATOR_PREFIX):
        if operator_hash is None or not token_matches(secret, operator_hash):
            raise AuthError("the operator token is not this server's")
        return Principal(key_id=OPERATOR_KEY_ID, role=ApiRole.ADMIN, subject="")
    if secret.startswith(TOKEN_PREFIX):
        return _widget_principal(session, secret, origin)
    key = ApiKeyRepository(session).find_active(secret)
    if key is None or key.id is None:
        raise AuthError("the API key is unknown or revoked")
    return Principal(key_id=key.id, role=key.role, subject=key.subject)


def _widget_principal(session: Session, secret: str, origin: str | None) -> Principal:
    token = WidgetTokenRepository(session).find_active(secret)
    if token is None or token.id is None:
        raise AuthError("the widget token is unknown, expired or revoked")
    if token.issued_by_key_id is not None:
        issuer = session.get(ApiKey, token.issued_by_key_id)
        if issuer is None or issuer.revoked_at is not None:
            raise AuthError("the widget token's issuing key is revoked")
    if origin is not None and origin.rstrip("/").lower() != token.origin:
        raise AuthError("the widget token belongs to another web origin")
    return Principal(
        key_id=token.id, role=ApiRole.BUYER, subject=token.buyer_id, widget_origin=token.origin
    )


def check_widget_scope(principal: Principal, method: str, route: str) -> Principal:
    """A widget token reads its buyer's data and does what the widget does; nothing more."""
    if principal.widget_origin and not (method in READ_METHODS or (method, route) in WIDGET_WRITES):
        raise ForbiddenError("a widget token may chat and read its buyer's data, nothing more")
    return principal


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
