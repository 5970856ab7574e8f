"""The build_bundle skill over a demo catalog: scene slots, budget and MOQ, matching sets."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pytest
from pydantic import ValidationError

from sourcing.agents.skills.build_bundle import (
    BuildBundleInput,
    BuildBundleResult,
    SceneCatalog,
    build_bundle,
)
from sourcing.domain.errors import NotFoundError
from sourcing.domain.kinds import SupplierKind
from sourcing.domain.money import unit_price_at
from sourcing.retrieval.constraints import FACTORY_DIRECT, Constraints
from sourcing.retrieval.embedders import Embedder
from tests.retrieval.demo_search import Demo

CHAIR = "运动户外/户外露营/露营椅"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, use_embedder: Embedder) -> Iterator[Demo]:
    demo = Demo(tmp_path_factory.mktemp("bundle"), use_embedder, products=1000)
    yield demo
    demo.close()


def _bundle(demo: Demo, **request: object) -> BuildBundleResult:
    return build_bundle(demo.engine, demo.search, BuildBundleInput(**request))  # type: ignore[arg-type]


def _assert_priced_at_moq_or_more(result: BuildBundleResult, quantity: int | None) -> None:
    for item in result.items:
        assert item.quantity == max(quantity or item.product.moq, item.product.moq)
        assert item.unit_price_cents == unit_price_at(item.product.price_tiers, item.quantity)
        assert item.line_total_cents == item.unit_price_cents * item.quantity
    assert result.total_cents == sum(item.line_total_cents for item in result.items)


def test_a_scene_fills_every_slot_from_its_own_shelves(demo: Demo) -> None:
    result = _bundle(demo, scene="帮我配一套露营的货")
    scene = SceneCatalog.load().scenes["camping"]
    assert result.scene_id == "camping"
    assert result.scene_name == "露营"
    slots = {slot.id: slot for slot in scene.slots}
    assert {item.slot_id for item in result.items} | {u.slot_id for u in result.unfilled} == set(
        slots
    )
    assert len(result.items) >= 4
    for item in result.items:
        assert item.product.category_path in slots[item.slot_id].categories
        assert item.source == "scene"
    _assert_priced_at_moq_or_more(result, None)
    assert result.within_budget


def test_a_budget_is_never_exceeded_and_quantities_respect_moq(demo: Demo) -> None:
    result = _bundle(demo, scene="back_to_school", budget_cents=300_000, quantity=30)
    assert result.within_budget
    assert result.total_cents <= 300_000
    assert {"bag", "case", "pen", "notebook"} <= {item.slot_id for item in result.items}
    _assert_priced_at_moq_or_more(result, 30)


def test_more_budget_covers_more_shelves(demo: Demo) -> None:
    tight = _bundle(demo, scene="camping", budget_cents=200_000, quantity=10)
    roomy = _bundle(demo, scene="camping", budget_cents=2_000_000, quantity=10)
    assert tight.within_budget
    assert roomy.within_budget
    assert len(roomy.items) > len(tight.items)
    assert "optional_slots_dropped" in tight.notes
    assert all(item.required for item in tight.items) or len(tight.items) < len(roomy.items)


def test_a_budget_too_small_says_so_with_the_cheapest_complete_option(demo: Demo) -> None:
    result = _bundle(demo, scene="camping", budget_cents=1000, quantity=10, language="en")
    assert not result.within_budget
    assert "budget_too_small" in result.notes
    assert result.shortfall_cents == result.total_cents - 1000 > 0
    assert {item.slot_id for item in result.items} == {"tent", "chair", "lamp"}  # required only
    assert result.scene_name == "camping"
    # Nothing cheaper fits those slots: each is the cheapest candidate the slot had.
    roomy = _bundle(demo, scene="camping", budget_cents=10_000_000, quantity=10)
    cheapest = {item.slot_id: item.line_total_cents for item in result.items}
    for item in roomy.items:
        if item.slot_id in cheapest:
            assert item.line_total_cents >= cheapest[item.slot_id]


def test_a_quantity_below_an_moq_is_raised_and_said(demo: Demo) -> None:
    result = _bundle(demo, scene="car_storage", quantity=1)
    assert any(item.quantity > 1 for item in result.items)
    assert "quantity_raised_to_moq" in result.notes
    _assert_priced_at_moq_or_more(result, 1)


def test_hard_constraints_hold_for_every_item(demo: Demo) -> None:
    result = _bundle(
        demo, scene="summer_commute", constraints=Constraints(supplier_kinds=FACTORY_DIRECT)
    )
    assert result.items
    for item in result.items:
        assert item.product.supplier is not None
        assert item.product.supplier.kind in (SupplierKind.FACTORY, SupplierKind.BRAND_OEM)


def test_a_matching_set_around_a_product_uses_the_scenes_it_belongs_to(demo: Demo) -> None:
    chair = demo.run("露营椅", limit=20).hits
    anchor = next(hit for hit in chair if hit.category_path == CHAIR)
    result = _bundle(demo, anchor_product_ids=(anchor.product_id,))
    leaves = {item.product.category_path for item in result.items}
    assert result.items
    assert CHAIR not in leaves
    assert "运动户外/户外露营/帐篷天幕" in leaves


@dataclass
class _Association:
    item: str
    lift: float
    confidence: float


class _Baskets:
    def __init__(self) -> None:
        self.asked: list[Sequence[str]] = []

    def category_complements(
        self, categories: Sequence[str], *, limit: int = 10
    ) -> list[_Association]:
        self.asked.append(categories)
        return [_Association("运动户外/户外露营/露营灯", 3.2, 0.4)]


def test_a_matching_set_follows_co_purchase_when_there_is_some(demo: Demo) -> None:
    anchor = next(hit for hit in demo.run("露营椅", limit=20).hits if hit.category_path == CHAIR)
    baskets = _Baskets()
    result = build_bundle(
        demo.engine,
        demo.search,
        BuildBundleInput(anchor_product_ids=(anchor.product_id,)),
        complements=baskets,
    )
    assert baskets.asked == [[CHAIR]]
    assert [(item.slot_name, item.source, item.lift) for item in result.items] == [
        ("露营灯", "co_purchase", 3.2)
    ]


def test_unknown_or_missing_themes_are_clear_errors(demo: Demo) -> None:
    with pytest.raises(NotFoundError, match="no scene 'moon base'"):
        _bundle(demo, scene="moon base")
    with pytest.raises(ValidationError, match="give a scene"):
        BuildBundleInput()
    with pytest.raises(NotFoundError):
        _bundle(demo, anchor_product_ids=("p-nope",))
