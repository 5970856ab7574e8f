"""Read-only catalog views: summary, products and suppliers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path

from sourcing.app.deps import CatalogDep
from sourcing.domain.tables import Supplier

router = APIRouter(prefix="/v1", tags=["catalog"])

IdPath = Path(min_length=1, max_length=64, pattern=r"^\S+$")


@router.get("/catalog/summary")
def catalog_summary(catalog: CatalogDep) -> dict[str, Any]:
    runs = [
        {
            "id": run.id,
            "source": run.feed_source,
            "kind": run.feed_kind,
            "mode": run.mode,
            "status": run.status,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "counts": run.counts,
        }
        for run in catalog.sync_runs(limit=10)
    ]
    return {
        "counts": catalog.counts(),
        "active_products_by_category": catalog.active_products_by_category(),
        "recent_sync_runs": runs,
    }


@router.get("/products/{product_id}")
def get_product(catalog: CatalogDep, product_id: str = IdPath) -> dict[str, Any]:
    product = catalog.get_product(product_id)
    skus = [sku.model_dump() for sku in catalog.skus_of(product_id)]
    return product.model_dump(exclude={"content_hash"}) | {"skus": skus}


@router.get("/suppliers/{supplier_id}")
def get_supplier(catalog: CatalogDep, supplier_id: str = IdPath) -> Supplier:
    return catalog.get_supplier(supplier_id)
