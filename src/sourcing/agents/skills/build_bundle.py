"""智能组货 (build_bundle): a complete assortment for a scene, outfit or matching set, in budget."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Engine
from sqlmodel import Session

from sourcing.agents.skills.fields import SERVICE
from sourcing.domain.errors import NotFoundError
from sourcing.domain.money import format_cents, unit_price_at
from sourcing.domain.numbers import MAX_BUDGET_CENTS
from sourcing.domain.repositories.catalog import CatalogRepository
from sourcing.prompts.loader import Language
from sourcing.retrieval.constraints import Constraints
from sourcing.retrieval.search import ProductSearch, SearchHit, SearchRequest

CANDIDATES_PER_SLOT = 5
SEARCH_DEPTH = 40  # hits read per slot before keeping the slot's own leaf categories
COMPLEMENT_SLOTS = 4  # slots a matching set gets when it is built around given products

Source = Literal["scene", "co_purchase"]


class SlotSpec(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    names: dict[str, str]
    categories: tuple[str, ...]  # leaf category paths that fill the slot
    required: bool = True


class SceneSpec(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    names: dict[str, str]
    aliases: tuple[str, ...]
    slots: tuple[SlotSpec, ...]


class SceneCatalog:
    """Scenes and outfits from agents/data/scenes.json: which shelves make a complete set."""

    def __init__(self, scenes: Sequence[SceneSpec]) -> None:
        self.scenes = {scene.id: scene for scene in scenes}

    @classmethod
    def load(cls) -> SceneCatalog:
        return _packaged_scenes()

    def find(self, text: str) -> SceneSpec | None:
        """A scene by id, or by the longest alias the text contains."""
        lowered = text.strip().lower()
        if lowered in self.scenes:
            return self.scenes[lowered]
        matches = [
            (len(alias), scene)
            for scene in self.scenes.values()
            for alias in scene.aliases
            if alias.lower() in lowered
        ]
        return max(matches, key=lambda match: match[0])[1] if matches else None

    def with_category(self, leaf: str) -> list[SceneSpec]:
        return [s for s in self.scenes.values() if any(leaf in slot.categories for slot in s.slots)]


@cache
def _packaged_scenes() -> SceneCatalog:
    raw = resources.files("sourcing.agents").joinpath("data/scenes.json").read_text("utf-8")
    scenes = [SceneSpec(id=key, **spec) for key, spec in json.loads(raw)["scenes"].items()]
    return SceneCatalog(scenes)


class CategoryAssociation(Protocol):
    @property
    def item(self) -> str: ...  # a leaf category path

    @property
    def lift(self) -> float: ...


class CategoryComplements(Protocol):
    """What co-purchase statistics offer a bundle: leaf categories bought together."""

    def category_complements(
        self, categories: Sequence[str], *, limit: int = 10
    ) -> Sequence[CategoryAssociation]: ...


class BuildBundleInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    scene: str | None = Field(
        default=None, max_length=100, description="a scene, outfit or theme: 露营, 开学季 …"
    )
    anchor_product_ids: tuple[str, ...] = Field(
        default=(), max_length=10, description="build a matching set around these products"
    )
    budget_cents: int | None = Field(
        default=None, ge=1, le=MAX_BUDGET_CENTS, description="for the whole bundle"
    )
    quantity: int | None = Field(
        default=None, ge=1, le=1_000_000, description="units per item; below an MOQ the MOQ"
    )
    constraints: Constraints = Field(
        default=Constraints(), description="hard requirements; amounts in cents (分)"
    )
    language: Annotated[Language, SERVICE] = "zh"

    @model_validator(mode="after")
    def _needs_a_theme(self) -> BuildBundleInput:
        if not (self.scene and self.scene.strip()) and not self.anchor_product_ids:
            raise ValueError("give a scene (露营, 开学季 …) or products to build a set around")
        return self


class BundleItem(BaseModel):
    slot_id: str
    slot_name: str
    required: bool
    source: Source  # why this slot is in the bundle: the scene's plan or co-purchase data
    lift: float | None = None  # how much likelier buyers of the anchors buy this shelf
    product: SearchHit
    quantity: int
    unit_price_cents: int
    line_total_cents: int


class UnfilledSlot(BaseModel):
    slot_id: str
    slot_name: str
    required: bool


class BuildBundleResult(BaseModel):
    scene_id: str | None
    scene_name: str | None
    items: list[BundleItem]
    total_cents: int
    budget_cents: int | None
    within_budget: bool
    shortfall_cents: int = 0  # how far the cheapest complete bundle is over the budget
    unfilled: list[UnfilledSlot] = []
    # Codes: budget_too_small, quantity_raised_to_moq, optional_slots_dropped, no_complements
    notes: list[str] = []


class _Slot(BaseModel):
    spec: SlotSpec
    source: Source
    lift: float | None = None


class _Option(BaseModel):
    hit: SearchHit
    quantity: int
    unit_price_cents: int

    @property
    def cost(self) -> int:
        return self.unit_price_cents * self.quantity


def build_bundle(
    engine: Engine,
    search: ProductSearch,
    request: BuildBundleInput,
    *,
    scenes: SceneCatalog | None = None,
    complements: CategoryComplements | None = None,
) -> BuildBundleResult:
    scenes = scenes or SceneCatalog.load()
    scene = scenes.find(request.scene) if request.scene else None
    if request.scene and scene is None and not request.anchor_product_ids:
        known = ", ".join(s.names[request.language] for s in scenes.scenes.values())
        raise NotFoundError(f"no scene {request.scene!r}; known: {known}", scene=request.scene)
    anchors = _anchor_leaves(engine, request.anchor_product_ids)
    slots = _slots(scene, anchors, scenes, complements, request.language)
    notes = [] if slots or not anchors else ["no_complements"]
    options: dict[str, list[_Option]] = {}
    unfilled: list[UnfilledSlot] = []
    for slot in slots:
        found = _candidates(search, slot.spec, request)
        if found:
            options[slot.spec.id] = found
        else:
            unfilled.append(_unfilled(slot.spec, request.language))
    chosen = _choose(slots, options, request.budget_cents)
    items = [
        _item(slot, chosen[slot.spec.id], request.language)
        for slot in slots
        if slot.spec.id in chosen
    ]
    total = sum(item.line_total_cents for item in items)
    budget = request.budget_cents
    within = budget is None or total <= budget
    if not within:
        notes.append("budget_too_small")
    if any(item.quantity != (request.quantity or item.product.moq) for item in items):
        notes.append("quantity_raised_to_moq")
    optional_left = [s for s in slots if not s.spec.required and s.spec.id in options]
    if budget is not None and any(s.spec.id not in chosen for s in optional_left):
        notes.append("optional_slots_dropped")
    return BuildBundleResult(
        scene_id=scene.id if scene else None,
        scene_name=scene.names[request.language] if scene else None,
        items=items,
        total_cents=total,
        budget_cents=budget,
        within_budget=within,
        shortfall_cents=0 if within or budget is None else total - budget,
        unfilled=unfilled,
        notes=notes,
    )


def _anchor_leaves(engine: Engine, product_ids: Sequence[str]) -> list[str]:
    with Session(engine) as session:
        repo = CatalogRepository(session)
        leaves = [repo.get_product(product_id).category_path for product_id in product_ids]
    return list(dict.fromkeys(leaves))


def _slots(
    scene: SceneSpec | None,
    anchors: Sequence[str],
    scenes: SceneCatalog,
    complements: CategoryComplements | None,
    language: Language,
) -> list[_Slot]:
    """The scene's shelves; around given products, the shelves bought with theirs."""
    if scene is not None:
        return [
            _Slot(spec=slot, source="scene")
            for slot in scene.slots
            if not set(slot.categories) & set(anchors)
        ]
    found: list[_Slot] = []
    if complements is not None:
        for association in complements.category_complements(anchors, limit=COMPLEMENT_SLOTS):
            leaf = association.item
            name = leaf.rsplit("/", 1)[-1]
            spec = SlotSpec(id=leaf, names={language: name}, categories=(leaf,), required=False)
            found.append(_Slot(spec=spec, source="co_purchase", lift=association.lift))
    if found:
        return found
    # Thin baskets: the scenes these products belong to say what goes with them.
    seen = set(anchors)
    for related in (s for leaf in anchors for s in scenes.with_category(leaf)):
        for slot in related.slots:
            if not set(slot.categories) & seen:
                seen.update(slot.categories)
                found.append(
                    _Slot(spec=slot.model_copy(update={"required": False}), source="scene")
                )
    return found[: COMPLEMENT_SLOTS + 2]


def _candidates(search: ProductSearch, slot: SlotSpec, request: BuildBundleInput) -> list[_Option]:
    """The slot's best products, priced at the bundle's quantity (or each product's MOQ)."""
    first_levels = tuple(dict.fromkeys(leaf.split("/", 1)[0] for leaf in slot.categories))
    constraints = request.constraints.without("categories").merged(
        Constraints(categories=first_levels)
    )
    result = search.search(
        SearchRequest(
            query=slot.names.get("zh") or next(iter(slot.names.values())),
            constraints=constraints,
            limit=SEARCH_DEPTH,
            diversify=False,
            language=request.language,
        )
    )
    options = []
    for hit in result.hits:
        if hit.category_path not in slot.categories:
            continue
        quantity = max(request.quantity or hit.moq, hit.moq)
        price = unit_price_at(hit.price_tiers, quantity)
        if price is None:
            continue
        options.append(_Option(hit=hit, quantity=quantity, unit_price_cents=price))
    return options[:CANDIDATES_PER_SLOT]


def _choose(
    slots: Sequence[_Slot], options: dict[str, list[_Option]], budget: int | None
) -> dict[str, _Option]:
    """Required slots first at their cheapest, then the upgrades worth most per yuan that fit.

    A greedy answer to a small multiple-choice knapsack: with five options a slot it is close to
    the best, and it never leaves the budget once the required slots fit.
    """
    required = [s.spec.id for s in slots if s.spec.required and s.spec.id in options]
    optional = [s.spec.id for s in slots if not s.spec.required and s.spec.id in options]
    if budget is None:
        return {slot: max(options[slot], key=lambda o: o.hit.score) for slot in required + optional}
    chosen = {slot: min(options[slot], key=lambda o: o.cost) for slot in required}
    spent = sum(option.cost for option in chosen.values())
    while spent <= budget:
        move = _best_move(chosen, options, optional, budget - spent)
        if move is None:
            break
        slot, option = move
        spent += option.cost - (chosen[slot].cost if slot in chosen else 0)
        chosen[slot] = option
    return chosen


def _best_move(
    chosen: dict[str, _Option], options: dict[str, list[_Option]], optional: list[str], room: int
) -> tuple[str, _Option] | None:
    best: tuple[float, str, _Option] | None = None
    for slot in [*chosen, *(s for s in optional if s not in chosen)]:
        current = chosen.get(slot)
        for option in options[slot]:
            extra = option.cost - (current.cost if current else 0)
            gain = option.hit.score - (current.hit.score if current else 0.0)
            if current is None:
                gain += 1.0  # covering another shelf is worth more than a better pick
            if gain <= 0 or extra > room:
                continue
            value = gain / max(extra, 1)
            if best is None or value > best[0]:
                best = (value, slot, option)
    return (best[1], best[2]) if best else None


def _unfilled(slot: SlotSpec, language: Language) -> UnfilledSlot:
    return UnfilledSlot(slot_id=slot.id, slot_name=_name(slot, language), required=slot.required)


def _name(slot: SlotSpec, language: Language) -> str:
    return slot.names.get(language) or next(iter(slot.names.values()))


def _item(slot: _Slot, option: _Option, language: Language) -> BundleItem:
    return BundleItem(
        slot_id=slot.spec.id,
        slot_name=_name(slot.spec, language),
        required=slot.spec.required,
        source=slot.source,
        lift=slot.lift,
        product=option.hit,
        quantity=option.quantity,
        unit_price_cents=option.unit_price_cents,
        line_total_cents=option.cost,
    )


def bundle_view(result: BuildBundleResult) -> dict[str, Any]:
    """The bundle as plain values: for answer templates and for the model alike."""
    return {
        "scene": result.scene_name,
        "items": [
            {
                "slot": item.slot_name,
                "product_id": item.product.product_id,
                "title": item.product.title,
                "unit_price": format_cents(item.unit_price_cents),
                "quantity": item.quantity,
                "unit": item.product.unit,
                "line_total": format_cents(item.line_total_cents),
                "lift": item.lift,
                "source": item.source,
                "supplier": item.product.supplier.name if item.product.supplier else None,
            }
            for item in result.items
        ],
        "total": format_cents(result.total_cents),
        "budget": format_cents(result.budget_cents) if result.budget_cents else None,
        "within_budget": result.within_budget,
        "shortfall": format_cents(result.shortfall_cents),
        "unfilled": [slot.slot_name for slot in result.unfilled],
        "notes": result.notes,
    }
