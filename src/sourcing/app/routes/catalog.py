"""Read-only catalog views: summary, products and suppliers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from sourcing.app.deps import ANY_KEY, CatalogDep, IdPath
from sourcing.domain.tables import Supplier

router = APIRouter(prefix="/v1", tags=["catalog"], dependencies=ANY_KEY)


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
def get_product(catalog: CatalogDep, product_id: IdPath) -> dict[str, Any]:
    product = catalog.get_product(product_id)
    skus = [sku.model_dump() for sku in catalog.skus_of(product_id)]
    return product.model_dump(exclude={"content_hash"}) | {"skus": skus}


@router.get("/suppliers/{supplier_id}")
def get_supplier(catalog: CatalogDep, supplier_id: IdPath) -> Supplier:
    return catalog.get_supplier(supplier_id)
