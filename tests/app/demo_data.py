"""A small seeded demo marketplace loaded into an app's database, for API tests."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine

from sourcing.app.container import build_engine
from sourcing.app.settings import Settings
from sourcing.catalog_sync.demo import generate_demo
from sourcing.catalog_sync.reference import load_reference
from sourcing.catalog_sync.sync import sync_feed


def load_demo(settings: Settings, products: int = 300) -> Engine:
    """The migrated database under `settings` with suppliers, products and reference data."""
    engine = build_engine(settings)
    demo_day = date(2026, 11, 25)
    manifest = generate_demo(settings.demo_dir, products=products, seed=7, today=demo_day)
    sync_feed(engine, manifest.suppliers_path, kind="suppliers")
    sync_feed(engine, manifest.products_path)
    load_reference(engine, settings.demo_dir)
    return engine
