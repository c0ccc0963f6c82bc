"""embed() with the real default model: the column's spec names all-MiniLM-L6-v2, the query becomes FLOAT[384]."""

from __future__ import annotations

import pyarrow as pa
import pytest

from lakehouse.embed import get_model
from lakehouse.errors import ModelError
from lakehouse.table import VectorTable
from lakehouse.vector import VectorSpec

pytestmark = [pytest.mark.model, pytest.mark.integration]

TEXTS = [
    "Retry the commit when the catalog answers 409 Conflict.",
    "Snapshot isolation: readers see one consistent table version.",
    "Bananas are rich in potassium.",
    "The index is refreshed after each append.",
]


def test_embed_uses_the_columns_model_and_finds_the_related_text(duck, lake_settings) -> None:  # noqa: ANN001
    model = get_model("all-MiniLM-L6-v2")
    vectors = model.embed(TEXTS)
    schema = pa.schema([("key", pa.string()), ("text", pa.string()), ("embedding", pa.list_(pa.float32()))])
    t = VectorTable.create(
        "sqlt.minilm",
        schema,
        key="key",
        settings=lake_settings,
        exist_ok=True,
        vectors=[VectorSpec("embedding", dim=384, model="all-MiniLM-L6-v2", normalized=True)],
    )
    if t.snapshot_id is None:
        t.append(
            pa.table(
                {
                    "key": [f"k{i}" for i in range(len(TEXTS))],
                    "text": TEXTS,
                    "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), 384),
                }
            )
        )
    sql = (
        "SELECT text, cosine_similarity(embedding, embed('what happens when two writers commit at once')) AS s "
        "FROM lake.sqlt.minilm ORDER BY s DESC LIMIT 1"
    )
    result = duck.query(sql)
    assert result.column("text")[0].as_py() == TEXTS[0]
    assert "::FLOAT[384]" in duck.last["sql"] or "AS FLOAT[384]" in duck.last["sql"]
    with pytest.raises(ModelError, match="16-d vectors but sqlt.minilm.embedding holds 384-d"):
        duck.query("SELECT cosine_similarity(embedding, embed('x', 'hash-16')) FROM lake.sqlt.minilm")
