"""A buyer's followed suppliers and their new arrivals (私域看上新)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from sourcing.app.auth import Principal
from sourcing.app.deps import IdPath, PrincipalDep, SessionDep
from sourcing.domain.errors import ForbiddenError
from sourcing.domain.kinds import ApiRole
from sourcing.domain.repositories.follows import FollowRepository

router = APIRouter(prefix="/v1", tags=["follows"])


def _buyer_of(principal: Principal) -> str:
    if principal.role != ApiRole.BUYER or not principal.subject:
        raise ForbiddenError("follows are a buyer's: use a buyer key", role=principal.role)
    return principal.subject


@router.get("/follows")
def list_follows(principal: PrincipalDep, session: SessionDep) -> dict[str, Any]:
    follows = FollowRepository(session).followed(_buyer_of(principal))
    return {
        "follows": [
            {"supplier_id": supplier.id, "name": supplier.name, "since": follow.created_at}
            for follow, supplier in follows
        ]
    }


@router.get("/follows/new-arrivals")
def new_arrivals(
    principal: PrincipalDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 30,
) -> dict[str, Any]:
    """Products the followed suppliers listed after their catalog's import, newest first."""
    found = FollowRepository(session).new_arrivals(_buyer_of(principal), limit)
    return {
        "products": [
            {
                "product_id": product.id,
                "title": product.title,
                "supplier_id": product.supplier_id,
                "price_cents": product.price_cents,
                "moq": product.moq,
                "listed_at": event.created_at,
            }
            for product, event in found
        ]
    }


@router.put("/follows/{supplier_id}")
def follow_supplier(
    supplier_id: IdPath, principal: PrincipalDep, session: SessionDep, response: Response
) -> dict[str, Any]:
    """Follow a supplier: its new products raise a new-arrival alert for this buyer."""
    created = FollowRepository(session).follow(_buyer_of(principal), supplier_id)
    session.commit()
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return {"supplier_id": supplier_id, "following": True}


@router.delete("/follows/{supplier_id}", status_code=status.HTTP_204_NO_CONTENT)
def unfollow_supplier(supplier_id: IdPath, principal: PrincipalDep, session: SessionDep) -> None:
    FollowRepository(session).unfollow(_buyer_of(principal), supplier_id)
    session.commit()
