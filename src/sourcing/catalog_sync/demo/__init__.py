"""Deterministic demo marketplace: suppliers, products, buyers, orders, trends and knowledge."""

from sourcing.catalog_sync.demo.generator import DemoManifest, generate_demo

__all__ = ["DemoManifest", "generate_demo"]
