"""The web chat widget's script and the demo marketplace page that embeds it."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse
from jinja2 import Environment

from sourcing.app.deps import ContainerDep

router = APIRouter(tags=["widget"], include_in_schema=False)


def _asset(name: str) -> str:
    return resources.files("sourcing.app").joinpath("widget", name).read_text("utf-8")


@router.get("/widget.js")
def widget_script() -> Response:
    return Response(
        _asset("widget.js"),
        media_type="application/javascript",
        headers={"Cache-Control": "public, max-age=300"},
    )


@router.get("/", response_class=HTMLResponse)
def demo_page(container: ContainerDep) -> HTMLResponse:
    """A mock marketplace page with the widget, signed in as the demo buyer when there is one."""
    key_file = container.settings.widget_key_path
    api_key = key_file.read_text("utf-8").strip() if key_file.is_file() else ""
    # Autoescape: the key and everything else land in the page as text, never markup.
    template = Environment(autoescape=True).from_string(_asset("demo.html"))
    return HTMLResponse(template.render(api_key=api_key, lang="zh"))
