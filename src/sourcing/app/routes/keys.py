"""API keys (admin only): create, list, revoke; and `/v1/me`, who the calling key belongs to."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field

from sourcing.app.deps import AdminDep, PrincipalDep, RowIdPath, SessionDep
from sourcing.domain.kinds import ApiRole
from sourcing.domain.repositories.keys import ApiKeyRepository
from sourcing.domain.tables import ApiKey

router = APIRouter(prefix="/v1", tags=["keys"])


class KeyRequest(BaseModel):
    role: ApiRole
    subject: str = Field(default="", max_length=64, description="buyer id or supplier id")


def _listing(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "role": key.role,
        "subject": key.subject,
        "prefix": key.prefix,
        "created_at": key.created_at,
        "revoked_at": key.revoked_at,
    }


@router.post("/keys", status_code=status.HTTP_201_CREATED)
def create_key(body: KeyRequest, session: SessionDep, _admin: AdminDep) -> dict[str, Any]:
    """Create a key; its secret is in this answer only and cannot be shown again."""
    key, secret = ApiKeyRepository(session).create(body.role, body.subject)
    session.commit()
    return _listing(key) | {"secret": secret}


@router.get("/keys")
def list_keys(session: SessionDep, _admin: AdminDep) -> list[dict[str, Any]]:
    return [_listing(key) for key in ApiKeyRepository(session).list()]


@router.delete("/keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_key(key_id: RowIdPath, session: SessionDep, _admin: AdminDep) -> Response:
    ApiKeyRepository(session).revoke(key_id)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me")
def me(principal: PrincipalDep) -> dict[str, str]:
    return {"role": principal.role, "subject": principal.subject}
