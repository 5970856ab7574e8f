"""Helpers that write small feed files for sync tests."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

SUPPLIERS = [
    {
        "id": "s1",
        "name": "义乌佳佳日用品厂",
        "kind": "工厂",
        "province": "浙江",
        "city": "义乌",
        "industrial_belt": "义乌小商品",
    },
    {
        "id": "s2",
        "name": "广州白云皮具贸易行",
        "kind": "trader",
        "province": "广东",
        "city": "广州",
        "industrial_belt": "广州白云皮具",
    },
]


def product(product_id: str, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": product_id,
        "title": f"ins风硅胶折叠水杯 {product_id}",
        "supplier_id": "s1",
        "category": "日用百货/杯具/水杯",
        "price_tiers": [
            {"min_quantity": 2, "price": "12.50"},
            {"min_quantity": 100, "price": "11"},
        ],
        "skus": [
            {"id": "white", "spec": {"颜色": "白色"}, "price": "12.50", "stock": 10},
            {"id": "black", "spec": {"颜色": "黑色"}, "price": "12.50", "stock": 5},
        ],
    }
    row.update(overrides)
    return row


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text(
        "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8"
    )
    return path


def write_csv(
    path: Path, header: list[str], rows: list[list[str]], encoding: str = "utf-8"
) -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path
