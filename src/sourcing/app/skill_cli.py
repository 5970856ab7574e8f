"""The skill commands, derived from the skill registry: every input field an option (the one
the command is about given as its argument), the skill's result printed as JSON."""

from __future__ import annotations

import inspect
import json
import types
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import typer
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from sourcing.agents.skills.registry import SKILLS, Skill
from sourcing.app.container import System
from sourcing.app.settings import Settings
from sourcing.domain.errors import BadInputError


class SkillCommand(BaseModel):
    skill: str
    argument: str | None  # the input field given positionally
    help: str


COMMANDS = {
    "select": SkillCommand(
        skill="select_products", argument="query", help="Products for an ask (找货), ranked."
    ),
    "supplier": SkillCommand(
        skill="supplier_profile", argument="supplier_id", help="A supplier's trust profile."
    ),
    "guide": SkillCommand(
        skill="guide", argument="question", help="Platform rules and sourcing advice, cited."
    ),
    "bundle": SkillCommand(
        skill="build_bundle",
        argument="scene",
        help="A complete assortment for a scene within a budget (智能组货).",
    ),
    "similar": SkillCommand(
        skill="similar_products",
        argument="product_id",
        help="Alternatives to a product: other sources, 平替 or factory-direct.",
    ),
    "similar-suppliers": SkillCommand(
        skill="similar_suppliers",
        argument="supplier_id",
        help="Suppliers with a catalog like this one's, ranked by overlap and trust.",
    ),
    "shelf-fillers": SkillCommand(
        skill="shelf_fillers",
        argument=None,
        help="Products for the same shelves an assortment (or a buyer's orders) does not stock.",
    ),
    "opportunities": SkillCommand(
        skill="discover_opportunities",
        argument=None,
        help="What to stock now, with evidence and supply (AI商机).",
    ),
    "merchant-view": SkillCommand(
        skill="merchant_view",
        argument="supplier_id",
        help="A merchant's catalog against demand: gaps, trends, price position.",
    ),
    "replenish": SkillCommand(
        skill="plan_replenishment",
        argument="buyer_id",
        help="What a buyer should reorder now and how much (AI补货).",
    ),
    "watch": SkillCommand(
        skill="watch_sources",
        argument="buyer_id",
        help="What changed about a buyer's sources, with alternatives (智能货源管理).",
    ),
}
BASKET_COMMANDS = {
    "complete": SkillCommand(
        skill="complete_basket",
        argument="product_ids",
        help="What other buyers usually order with these products.",
    ),
}


def add_skill_commands(app: typer.Typer, commands: dict[str, SkillCommand]) -> None:
    for name, command in commands.items():
        skill = SKILLS[command.skill]
        app.command(name, help=command.help)(skill_command(skill, command.argument))


def skill_command(skill: Skill[Any, Any], argument: str | None) -> Callable[..., None]:
    """A Typer command whose parameters are the skill input's fields; values are checked by
    the input model (its bounds and validators), so a bad one is a clear exit status 2."""
    fields = skill.input.model_fields

    def command(**values: Any) -> None:
        given = {
            name: _decoded(fields[name], value)
            for name, value in values.items()
            if value is not None and value != []
        }
        with System(Settings()) as system:
            try:
                result = skill.call(system.skills, given)
            except ValidationError as exc:
                raise BadInputError(_reasons(exc)) from exc
        typer.echo(result.model_dump_json(indent=2))

    parameters = [
        _parameter(name, info, positional=name == argument) for name, info in fields.items()
    ]
    # Typer reads a command's parameters from its signature: this one is the input model's.
    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    return command


def _parameter(name: str, info: FieldInfo, *, positional: bool) -> inspect.Parameter:
    many, flag, _ = _shape(info.annotation)
    kind: Any = list[str] if many else str
    if positional:
        required = info.is_required()
        argument = typer.Argument(help=_help(info), metavar=name.upper(), show_default=False)
        typed: Any = Annotated[kind if required else kind | None, argument]
        default = inspect.Parameter.empty if required else None
    else:
        metavar = None if flag else _metavar(info.annotation)
        option = typer.Option(help=_help(info), metavar=metavar, show_default=False)
        typed = Annotated[(bool if flag else kind) | None, option]
        default = None
    keyword = inspect.Parameter.KEYWORD_ONLY
    return inspect.Parameter(name, keyword, default=default, annotation=typed)


def _help(info: FieldInfo) -> str:
    """The field's description with its bounds and default, as the skill will check them."""
    parts = [info.description or ""]
    low = next((mark.ge for mark in info.metadata if getattr(mark, "ge", None) is not None), None)
    high = next((mark.le for mark in info.metadata if getattr(mark, "le", None) is not None), None)
    if low is not None or high is not None:
        parts.append(f"{'' if low is None else low}…{'' if high is None else high}")
    default = info.default
    if not info.is_required() and isinstance(default, str | int | float | tuple) and default != ():
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        parts.append(f"default {shown}")
    return "; ".join(part for part in parts if part)


def _metavar(annotation: Any) -> str:
    options = [a for a in _union_members(annotation) if a is not type(None)]
    first = options[0] if options else annotation
    if get_origin(first) in (list, tuple, set):
        return _metavar(get_args(first)[0])
    if get_origin(first) is Literal:
        return "|".join(str(choice) for choice in get_args(first))
    if get_origin(first) is dict or (isinstance(first, type) and issubclass(first, BaseModel)):
        return "JSON"
    names = {int: "INTEGER", float: "NUMBER", Decimal: "NUMBER", date: "YYYY-MM-DD"}
    return names.get(first, "TIME" if first is datetime else "TEXT")


def _shape(annotation: Any) -> tuple[bool, bool, bool]:
    """Whether a field takes many values, is a flag, or is structured (given as JSON)."""
    options = [a for a in _union_members(annotation) if a is not type(None)]
    first = options[0] if options else annotation
    origin = get_origin(first)
    many = origin in (list, tuple, set)
    structured = origin is dict or (isinstance(first, type) and issubclass(first, BaseModel))
    return many, first is bool, structured


def _union_members(annotation: Any) -> tuple[Any, ...]:
    if get_origin(annotation) in (Union, types.UnionType):
        return get_args(annotation)
    return (annotation,)


def _decoded(info: FieldInfo, value: Any) -> Any:
    if _shape(info.annotation)[2] and isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise BadInputError(f"not JSON: {value[:80]!r} ({exc.msg})") from exc
    return value


def _reasons(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or 'input'}: {error['msg']}"
        for error in exc.errors()
    )
