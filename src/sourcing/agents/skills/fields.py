"""The mark of a skill input field that the service sets, never a model's tool call."""

from __future__ import annotations

from pydantic import BaseModel
from pydantic.fields import FieldInfo


class ServiceSet:
    """In `Annotated[T, SERVICE]`: the key's buyer or merchant, the turn's language, the as-of
    day, or a setting only a route or command chooses; a model's tool schema leaves it out."""

    def __repr__(self) -> str:
        return "SERVICE"


SERVICE = ServiceSet()


def is_service_set(info: FieldInfo) -> bool:
    return any(isinstance(mark, ServiceSet) for mark in info.metadata)


def service_fields(model: type[BaseModel]) -> frozenset[str]:
    return frozenset(name for name, info in model.model_fields.items() if is_service_set(info))
