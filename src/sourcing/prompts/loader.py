"""Loads prompt and answer templates by name and language from files, and renders them."""

from __future__ import annotations

from importlib import resources
from typing import Any, Literal

from jinja2 import Environment, StrictUndefined, TemplateNotFound, UndefinedError

from sourcing.domain.errors import ConfigurationError

Language = Literal["zh", "en"]
LANGUAGES: tuple[Language, ...] = ("zh", "en")


class PromptLibrary:
    """Templates live in prompts/templates/<language>/<name>.jinja; built once, at start."""

    def __init__(self) -> None:
        root = resources.files("sourcing.prompts").joinpath("templates")
        # Rendered text is data for a model or a chat bubble, never HTML: no autoescape.
        env = Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)
        # Compiled once here: rendering sits on every chat turn's path.
        self._templates = {
            language: {
                entry.name.removesuffix(".jinja"): env.from_string(
                    entry.read_text(encoding="utf-8")
                )
                for entry in root.joinpath(language).iterdir()
                if entry.name.endswith(".jinja")
            }
            for language in LANGUAGES
        }

    def names(self, language: Language) -> set[str]:
        return set(self._templates[language])

    def render(self, name: str, language: Language, **values: Any) -> str:
        try:
            template = self._templates[language][name]
        except KeyError:
            raise ConfigurationError(f"no template {name!r} for language {language!r}") from None
        try:
            return template.render(**values).strip()
        except (UndefinedError, TemplateNotFound) as exc:
            raise ConfigurationError(f"template {name!r} ({language}): {exc}") from exc
