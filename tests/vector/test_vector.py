"""The vector spec round-trips through table properties; validation refuses each bad-input class."""

from __future__ import annotations

import pickle

import numpy as np
import pyarrow as pa
import pytest

from lakehouse.errors import VectorSpecError, VectorValidationError
from lakehouse.vector import (
    VectorSpec,
    check_table,
    check_vectors,
    refuse_empty,
    specs_from_properties,
    to_fixed_size_list,
    to_numpy,
    to_storage_list,
    top_k,
)

SPEC = VectorSpec("embedding", dim=4, metric="cosine", model="m", model_version="1", source_column="docs.text")
KEYS = pa.array(["a", "b", "c"])


def _lists(rows: list[list[float] | None]) -> pa.Array:
    return pa.array(rows, type=pa.list_(pa.float32()))


def test_spec_round_trips_through_properties() -> None:
    props = {**SPEC.to_properties(), "unrelated": "x"}
    assert props["lakehouse.vector.embedding.dim"] == "4"
    assert props["lakehouse.vector.embedding.model-version"] == "1"
    assert VectorSpec.from_properties(props, "embedding") == SPEC
    two = {**props, **VectorSpec("title_vec", dim=8, metric="l2", normalized=True).to_properties()}
    specs = specs_from_properties(two)
    assert list(specs) == ["embedding", "title_vec"]
    assert specs["title_vec"].metric == "l2" and specs["title_vec"].normalized


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [({"dim": 0}, "dim must be"), ({"dim": 4, "metric": "hamming"}, "unknown metric"), ({"dim": "4"}, "dim must be")],
)
def test_spec_rejects_bad_values(kwargs: dict[str, object], needle: str) -> None:
    with pytest.raises(VectorSpecError, match=needle):
        VectorSpec("embedding", **kwargs)  # type: ignore[arg-type]


def test_missing_spec_names_the_property() -> None:
    with pytest.raises(VectorSpecError, match="lakehouse.vector.embedding.dim"):
        VectorSpec.from_properties({}, "embedding")


@pytest.mark.parametrize(
    ("rows", "problem", "key"),
    [
        ([[1, 2, 3, 4], None, [1, 2, 3, 4]], "null", "b"),
        ([[1, 2, 3, 4], [1, 2, 3, 4], [1, 2, 3]], "dimension", "c"),
        ([[1, 2, 3, 4, 5], [1, 2, 3, 4], [1, 2, 3, 4]], "dimension", "a"),
        ([[1, 2, 3, 4], [1, None, 3, 4], [1, 2, 3, 4]], "null-element", "b"),
        ([[1, 2, 3, 4], [1, 2, 3, 4], [1, 2, float("nan"), 4]], "nan", "c"),
        ([[1, 2, float("-inf"), 4], [1, 2, 3, 4], [1, 2, 3, 4]], "inf", "a"),
    ],
)
def test_validation_refuses_each_bad_class_naming_column_key_and_problem(
    rows: list[list[float] | None], problem: str, key: str
) -> None:
    with pytest.raises(VectorValidationError) as info:
        check_vectors(_lists(rows), SPEC, KEYS)
    err = info.value
    assert (err.column, err.row_key, err.problem) == ("embedding", key, problem)
    assert "embedding" in str(err) and repr(key) in str(err) and "nothing was committed" in str(err)
    # errors cross process boundaries (Spark executors -> driver) intact
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is VectorValidationError and again.row_key == key and again.problem == problem


def test_validation_refuses_non_float_columns_and_missing_columns() -> None:
    with pytest.raises(VectorValidationError, match="element type"):
        check_vectors(pa.array([["x", "y", "z", "w"]]), SPEC)
    with pytest.raises(VectorValidationError, match="missing"):
        check_table(pa.table({"key": ["a"]}), {"embedding": SPEC}, "key")


def test_an_all_zero_vector_is_refused_in_a_cosine_column_only() -> None:
    rows = [[1, 2, 3, 4], [0, 0, 0, 0], [1, 2, 3, 4]]
    with pytest.raises(VectorValidationError) as info:
        check_vectors(_lists(rows), SPEC, KEYS)
    assert (info.value.row_key, info.value.problem) == ("b", "zero") and "cosine" in info.value.hint
    for metric in ("l2", "dot"):  # a zero vector has a distance and a dot product
        assert len(check_vectors(_lists(rows), SPEC.with_(metric=metric), KEYS)) == 3
    assert len(check_vectors(_lists([[0, 0, 0, 1e-30]]), SPEC)) == 1, "tiny is not zero"


def test_a_null_or_missing_key_is_refused() -> None:
    vectors = _lists([[1, 0, 0, 0], [0, 1, 0, 0]])
    with pytest.raises(VectorValidationError) as info:
        check_table(pa.table({"key": pa.array(["a", None]), "embedding": vectors}), {"embedding": SPEC}, "key")
    assert (info.value.column, info.value.row_index, info.value.problem) == ("key", 1, "null-key")
    assert "nothing was committed" in str(info.value)
    with pytest.raises(VectorValidationError) as info:
        check_table(pa.table({"embedding": vectors}), {"embedding": SPEC}, "key")
    assert info.value.problem == "missing-key"
    # tables without a key column (key_column None) take any batch
    assert check_table(pa.table({"embedding": vectors}), {"embedding": SPEC}, None).num_rows == 2


def test_an_empty_batch_is_refused_by_name() -> None:
    refuse_empty(pa.table({"key": ["a"]}), "docs.t")
    with pytest.raises(VectorValidationError, match="docs.t: the batch has no rows") as info:
        refuse_empty(pa.table({"key": pa.array([], pa.string())}), "docs.t")
    assert info.value.problem == "empty"


def test_valid_batch_becomes_fixed_size_float32_without_copy() -> None:
    values = np.arange(12, dtype=np.float32)
    lists = pa.ListArray.from_arrays(pa.array([0, 4, 8, 12], pa.int32()), pa.array(values))
    fsl = check_vectors(lists, SPEC, KEYS)
    assert fsl.type == pa.list_(pa.field("element", pa.float32(), nullable=False), 4)
    matrix = to_numpy(fsl)
    assert matrix.shape == (3, 4) and matrix.dtype == np.float32
    assert np.shares_memory(matrix, lists.values.to_numpy()), "list -> fixed_size_list -> numpy must not copy"
    back = to_storage_list(fsl)
    assert back.to_pylist() == lists.to_pylist()
    assert np.shares_memory(back.values.to_numpy(), matrix)


def test_integer_and_double_vectors_are_cast_to_float32() -> None:
    fsl = to_fixed_size_list(pa.array([[1.5, 2, 3, 4]], pa.list_(pa.float64())), 4)
    assert fsl.type.value_type == pa.float32() and fsl.to_pylist() == [[1.5, 2, 3, 4]]


def test_check_table_converts_every_vector_column() -> None:
    table = pa.table({"key": KEYS, "embedding": _lists([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]])})
    out = check_table(table, {"embedding": SPEC}, "key")
    assert pa.types.is_fixed_size_list(out.schema.field("embedding").type)


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
def test_exact_top_k_matches_a_brute_force_sort(metric: str) -> None:
    rng = np.random.default_rng(7)
    matrix = rng.normal(size=(500, 16)).astype(np.float32)
    q = rng.normal(size=16).astype(np.float32)
    idx, scores = top_k(matrix, q, 10, metric)  # type: ignore[arg-type]
    if metric == "cosine":
        full = matrix @ q / (np.linalg.norm(matrix, axis=1) * np.linalg.norm(q))
    elif metric == "dot":
        full = matrix @ q
    else:
        full = -np.linalg.norm(matrix - q, axis=1)
    assert list(idx) == list(np.argsort(-full, kind="stable")[:10])
    assert np.allclose(scores, full[idx], atol=1e-5)
