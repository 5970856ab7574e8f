"""Prometheus metrics, apart from the API: open, or behind SOURCING_METRICS_TOKEN when set."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Header, Response
from prometheus_client import CONTENT_TYPE_LATEST

from sourcing.app.deps import ContainerDep, MetricsDep
from sourcing.domain.errors import AuthError

router = APIRouter(tags=["operations"])


@router.get("/metrics", response_class=Response)
def metrics(
    container: ContainerDep,
    registry: MetricsDep,
    authorization: Annotated[str | None, Header()] = None,
) -> Response:
    """Requests, latencies, model time and tokens, tool calls, searches, sync runs, alerts."""
    token = container.settings.metrics_token
    if token:
        scheme, _, given = (authorization or "").partition(" ")
        matches = hmac.compare_digest(given.strip().encode(), token.encode())
        if scheme.lower() != "bearer" or not matches:
            raise AuthError("/metrics needs 'Authorization: Bearer <SOURCING_METRICS_TOKEN>'")
    return Response(registry.render(), media_type=CONTENT_TYPE_LATEST)
