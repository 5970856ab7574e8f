"""Prometheus metrics, apart from the API: behind SOURCING_METRICS_TOKEN or an admin key."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Header, Response
from prometheus_client import CONTENT_TYPE_LATEST

from sourcing.app.auth import Principal, check_roles
from sourcing.app.deps import AuthenticationDep, ContainerDep, MetricsDep
from sourcing.domain.errors import AuthError
from sourcing.domain.kinds import ApiRole

router = APIRouter(tags=["operations"])
ADMIN_ONLY = frozenset({ApiRole.ADMIN})


@router.get("/metrics", response_class=Response)
def metrics(
    container: ContainerDep,
    registry: MetricsDep,
    authentication: AuthenticationDep,
    authorization: Annotated[str | None, Header()] = None,
) -> Response:
    """Requests, latencies, model time and tokens, tool calls, searches, sync runs, alerts."""
    settings = container.settings
    if isinstance(authentication, Principal):
        check_roles(authentication, ADMIN_ONLY)
    # Without a token configured the demo serves them to anyone; nothing else does.
    elif not _token_matches(settings.metrics_token, authorization) and not (
        settings.demo and not settings.metrics_token
    ):
        raise AuthError(
            "/metrics needs 'Authorization: Bearer <SOURCING_METRICS_TOKEN>' or an admin key"
        )
    return Response(registry.render(), media_type=CONTENT_TYPE_LATEST)


def _token_matches(token: str, authorization: str | None) -> bool:
    scheme, _, given = (authorization or "").partition(" ")
    return (
        bool(token)
        and scheme.lower() == "bearer"
        and hmac.compare_digest(given.strip().encode(), token.encode())
    )
