"""Widget tokens: a host site's server mints a short-lived, origin-bound sign-in for its buyer."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field

from sourcing.app.auth import Principal
from sourcing.app.deps import ContainerDep, PrincipalDep, RowIdPath, SessionDep
from sourcing.domain.errors import BadInputError, ForbiddenError, NotFoundError
from sourcing.domain.kinds import ApiRole
from sourcing.domain.repositories.widget_tokens import WidgetTokenRepository, normalize_origin
from sourcing.domain.tables import WidgetToken

router = APIRouter(prefix="/v1", tags=["widget"])


class WidgetTokenRequest(BaseModel):
    origin: str = Field(
        min_length=1,
        max_length=255,
        description="the web origin of the page that embeds the widget, one of "
        "SOURCING_CORS_ORIGINS, e.g. https://shop.example",
    )
    buyer_id: str | None = Field(
        default=None, max_length=64, description="admin keys name the buyer; a buyer key is its own"
    )
    ttl_s: int | None = Field(
        default=None, ge=60, le=86_400, description="shorter than the server's maximum, if wanted"
    )


class WidgetTokenGrant(BaseModel):
    id: int
    token: str = Field(description="the widget's `data-token`; shown in this answer only")
    buyer_id: str
    origin: str
    expires_at: datetime


def _buyer_for(principal: Principal, asked: str | None) -> str:
    if principal.role == ApiRole.ADMIN:
        if not asked:
            raise BadInputError("buyer_id is required with an admin key")
        return asked
    if principal.role == ApiRole.BUYER and asked in (None, principal.subject):
        return principal.subject
    raise ForbiddenError("a buyer key mints widget tokens for its own buyer only")


@router.post("/widget/tokens", status_code=status.HTTP_201_CREATED)
def mint_widget_token(
    body: WidgetTokenRequest, session: SessionDep, principal: PrincipalDep, container: ContainerDep
) -> WidgetTokenGrant:
    """Sign a buyer in to the widget on one page origin until the token expires (server-side
    only: the API key stays on the host site's server, the token goes into its page)."""
    buyer_id = _buyer_for(principal, body.buyer_id)
    origin = normalize_origin(body.origin)
    allowed = {normalize_origin(o) for o in container.settings.cors_origins}
    if origin not in allowed:
        raise BadInputError(
            f"origin {origin!r} is not one of SOURCING_CORS_ORIGINS; the widget cannot call "
            "this API from a page there"
        )
    most = container.settings.widget_token_ttl_s
    ttl_s = min(body.ttl_s or most, most)
    token, secret = WidgetTokenRepository(session).mint(
        buyer_id, origin, ttl_s=ttl_s, issued_by_key_id=principal.key_id
    )
    session.commit()
    return grant(token, secret)


def grant(token: WidgetToken, secret: str) -> WidgetTokenGrant:
    assert token.id is not None  # flushed by mint
    return WidgetTokenGrant(
        id=token.id,
        token=secret,
        buyer_id=token.buyer_id,
        origin=token.origin,
        expires_at=token.expires_at,
    )


@router.delete("/widget/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_widget_token(
    token_id: RowIdPath, session: SessionDep, principal: PrincipalDep
) -> Response:
    """Sign a widget out now (an admin any token, a buyer key its own buyer's)."""
    repository = WidgetTokenRepository(session)
    token = repository.get(token_id)
    owns = principal.role == ApiRole.BUYER and token.buyer_id == principal.subject
    if principal.role != ApiRole.ADMIN and not owns:
        # Another buyer's token answers like a missing one: ids are not revealed.
        raise NotFoundError(f"no widget token {token_id}", token_id=token_id)
    repository.revoke(token)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
