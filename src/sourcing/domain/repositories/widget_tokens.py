"""SQL for widget tokens: mint, look up an active one, revoke; only a token's sha256 is kept."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta

from sqlmodel import Session, col, delete, select

from sourcing.domain.errors import BadInputError, NotFoundError
from sourcing.domain.repositories.keys import hash_secret
from sourcing.domain.tables import Buyer, WidgetToken
from sourcing.domain.types import utcnow

TOKEN_PREFIX = "wt-"
_ORIGIN = re.compile(r"https?://[a-z0-9.-]{1,200}(?::[0-9]{1,5})?")
# Expired rows are kept a day for the audit trail, then swept when the next token is minted.
_KEEP_EXPIRED = timedelta(days=1)


def normalize_origin(origin: str) -> str:
    """'HTTPS://Shop.Example/' → 'https://shop.example'; anything not an origin is a 422."""
    cleaned = origin.strip().rstrip("/").lower()
    if not _ORIGIN.fullmatch(cleaned):
        raise BadInputError(f"{origin[:80]!r} is not a web origin (scheme://host[:port])")
    return cleaned


class WidgetTokenRepository:
    """Reads and writes widget tokens inside the caller's session; never commits."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def mint(
        self, buyer_id: str, origin: str, *, ttl_s: int, issued_by_key_id: int | None = None
    ) -> tuple[WidgetToken, str]:
        """A token for `buyer_id` on `origin`; its secret is returned here once, never stored."""
        if self.session.get(Buyer, buyer_id) is None:
            raise NotFoundError(f"no buyer '{buyer_id}'", buyer_id=buyer_id)
        now = utcnow()
        self.session.exec(
            delete(WidgetToken).where(col(WidgetToken.expires_at) < now - _KEEP_EXPIRED)
        )
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = WidgetToken(
            token_hash=hash_secret(secret),
            buyer_id=buyer_id,
            origin=normalize_origin(origin),
            issued_by_key_id=issued_by_key_id,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_s),
        )
        self.session.add(token)
        self.session.flush()
        return token, secret

    def find_active(self, secret: str) -> WidgetToken | None:
        if not secret.startswith(TOKEN_PREFIX):
            return None
        query = select(WidgetToken).where(
            col(WidgetToken.token_hash) == hash_secret(secret),
            col(WidgetToken.revoked_at).is_(None),
            col(WidgetToken.expires_at) > utcnow(),
        )
        return self.session.exec(query).first()

    def get(self, token_id: int) -> WidgetToken:
        token = self.session.get(WidgetToken, token_id)
        if token is None:
            raise NotFoundError(f"no widget token {token_id}", token_id=token_id)
        return token

    def revoke(self, token: WidgetToken) -> WidgetToken:
        """Revoke a token; revoking it again keeps the first revocation time."""
        if token.revoked_at is None:
            token.revoked_at = utcnow()
            self.session.add(token)
            self.session.flush()
        return token
