"""Semantic deduplication: exact copies (content hash) and paraphrases (cosine via the index) are found, clustered,
one row kept by the smallest-key rule, and written as a result table and a filtered table, with lineage.

The corpus is hand-written: sentences, a paraphrase of some of them, exact copies of others, and unrelated sentences
on the same topics (the distractors that keep precision honest).
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner

from lakehouse.cli.dedup import dedup
from lakehouse.config import Settings
from lakehouse.dedup import cluster_pairs, components, duplicates_in, pair_quality
from lakehouse.dedup.job import DedupParams
from lakehouse.dedup.job import run as run_dedup
from lakehouse.dedup.pairs import hash_codes
from lakehouse.embedding import EmbedParams
from lakehouse.embedding import run as run_embed
from lakehouse.table import VectorTable
from lakehouse.vector import VectorSpec

pytestmark = [pytest.mark.spark, pytest.mark.integration]

# (original, paraphrase): the paraphrase keeps the meaning with different words
PARAPHRASES = [
    (
        "The train to Berlin was cancelled because of the storm.",
        "Because of the storm, the Berlin train was cancelled.",
    ),
    (
        "Please restart your computer after installing the update.",
        "After the update is installed, please restart your computer.",
    ),
    ("The museum is closed on Mondays.", "On Mondays the museum is closed."),
    (
        "She bought three apples and a loaf of bread at the market.",
        "At the market she bought a loaf of bread and three apples.",
    ),
    ("The meeting has been moved to Thursday afternoon.", "The meeting was moved to Thursday afternoon."),
    (
        "Our refund policy allows returns within thirty days of purchase.",
        "Our refund policy allows returns within 30 days of purchase.",
    ),
    ("The cat is sleeping on the warm windowsill.", "The cat sleeps on the warm windowsill."),
    ("How do I reset my password?", "How can I reset my password?"),
    (
        "The river flooded the village after a week of heavy rain.",
        "After a week of heavy rain, the river flooded the village.",
    ),
    (
        "Doctors recommend drinking plenty of water every day.",
        "Doctors recommend that you drink plenty of water each day.",
    ),
    (
        "The library will extend its opening hours during exam season.",
        "During exam season the library will extend its opening hours.",
    ),
    ("He forgot his umbrella at the office yesterday.", "Yesterday he forgot his umbrella at the office."),
]
# exact copies of these (same text, so the same content hash)
COPIED = [
    "The quarterly report shows revenue grew by twelve percent.",
    "Turn left at the second traffic light and park behind the bakery.",
    "Photosynthesis converts sunlight, water and carbon dioxide into sugar.",
]
# same topics as the sentences above, different meaning: must not be paired
DISTRACTORS = [
    "The train to Paris left on time despite the snow.",
    "Never restart your computer while the update is installing.",
    "The museum opens an hour earlier on Fridays.",
    "She sold her old bicycle at the flea market.",
    "The meeting minutes were sent to everyone on Friday.",
    "Gift cards cannot be refunded or exchanged.",
    "The dog barked at the mail carrier all morning.",
    "Two-factor authentication protects your account from attackers.",
    "Farmers are worried that the drought will ruin the harvest.",
    "Coffee can disturb your sleep if you drink it late in the evening.",
    "The library has a new collection of maps from the eighteenth century.",
    "She left her keys in the car and had to call a locksmith.",
    "Revenue fell sharply in the last quarter of the year.",
    "Bread rises because yeast produces carbon dioxide.",
]


def corpus() -> tuple[dict[str, str], set[tuple[str, str]], set[tuple[str, str]]]:
    """Texts by key, planted paraphrase pairs, planted exact-copy pairs (keys)."""
    texts: dict[str, str] = {}
    para: set[tuple[str, str]] = set()
    copies: set[tuple[str, str]] = set()
    for i, (a, b) in enumerate(PARAPHRASES):
        texts[f"p{i:02d}a"], texts[f"p{i:02d}b"] = a, b
        para.add((f"p{i:02d}a", f"p{i:02d}b"))
    for i, text in enumerate(COPIED):
        texts[f"c{i:02d}a"], texts[f"c{i:02d}b"] = text, text
        copies.add((f"c{i:02d}a", f"c{i:02d}b"))
    texts["c00c"] = COPIED[0]  # a third copy: a cluster of three
    copies |= {("c00a", "c00c"), ("c00b", "c00c")}
    for i, text in enumerate(DISTRACTORS):
        texts[f"d{i:02d}"] = text
    return texts, para, copies


def quiet(_message: str) -> None:
    pass


def embed_corpus(spark, settings: Settings, ns: str, model: str) -> str:  # noqa: ANN001
    """The corpus in ``<ns>.documents``, embedded with ``model`` into ``<ns>.embeddings`` (one chunk per sentence)."""
    texts, _, _ = corpus()
    docs = VectorTable.create(
        f"{ns}.documents",
        pa.schema([("key", pa.string()), ("text", pa.string())]),
        vectors=[],
        key="key",
        settings=settings,
    )
    docs.append(pa.table({"key": list(texts), "text": list(texts.values())}))
    run_embed(
        spark,
        EmbedParams(source=f"{ns}.documents", output=f"{ns}.embeddings", model=model, chunk_size=400, chunk_overlap=40),
        settings,
        log=quiet,
    )
    return f"{ns}.embeddings"


def source_pairs(settings: Settings, embeddings: str, result: str) -> set[tuple[str, str]]:
    """The duplicate pairs the result table implies, as source-document keys."""
    rows = VectorTable.load(embeddings, settings=settings).to_arrow(columns=["embedding_id", "source_key"]).to_pylist()
    by_id = {r["embedding_id"]: r["source_key"] for r in rows}
    clusters = VectorTable.load(result, settings=settings).to_arrow().to_pylist()
    return {tuple(sorted((by_id[a], by_id[b]))) for a, b in cluster_pairs(clusters)}  # type: ignore[misc]


# -- the pure core ----------------------------------------------------------------------------------------------


def test_union_find_joins_chains_and_keeps_the_smallest_key_whatever_the_order() -> None:
    assert components(6, np.array([0, 3, 4]), np.array([1, 4, 5])).tolist() == [0, 0, 2, 3, 3, 3]
    rng = np.random.default_rng(1)
    m = rng.normal(size=(8, 16)).astype(np.float32)
    m[5] = m[2]
    m[7] = m[2] + 1e-3
    keys = ["k-b", "k-x", "k-z", "k-c", "k-d", "k-a", "k-e", "k-y"]
    kept = set()
    for perm in (np.arange(8), rng.permutation(8), rng.permutation(8)):
        table, _, dropped = duplicates_in(pa.array([keys[i] for i in perm]), m[perm], threshold=0.99)
        [row] = table.to_pylist()
        kept.add((row["kept_key"], tuple(row["dropped_keys"]), row["cluster_id"]))
        assert row["size"] == 3 and row["min_similarity"] > 0.99 and len(dropped) == 2
    [(kept_key, dropped_keys, _)] = kept  # one answer whatever the row order: same kept key and cluster id
    assert (kept_key, dropped_keys) == ("k-a", ("k-y", "k-z"))


def test_equal_hashes_are_exact_duplicates_and_null_hashes_never_match() -> None:
    m = np.eye(4, dtype=np.float32)  # orthogonal: no near duplicates at all
    codes = hash_codes(pa.array(["h1", None, "h1", None]))
    table, pairs, dropped = duplicates_in(pa.array(["a", "b", "c", "d"]), m, threshold=0.95, codes=codes)
    assert table.to_pylist()[0] | {"cluster_id": None} == {
        "cluster_id": None,
        "kept_key": "a",
        "dropped_keys": ["c"],
        "size": 2,
        "kind": "exact",
        "max_similarity": 0.0,
        "min_similarity": 0.0,
    }, "a shared content hash is a duplicate even when the vectors disagree"
    assert dropped.tolist() == [2] and bool(pairs.exact.all())


# -- the job, on real tables ------------------------------------------------------------------------------------


def test_exact_copies_found_and_removed_hashing_model(spark, lake_settings: Settings) -> None:  # noqa: ANN001
    embeddings = embed_corpus(spark, lake_settings, "dedup_hash", "hash-64")
    params = DedupParams(table=embeddings, threshold=0.99, filtered_table="dedup_hash.curated")
    result = run_dedup(spark, params, lake_settings, log=quiet)

    texts, para, copies = corpus()
    found = source_pairs(lake_settings, embeddings, result.output)
    # the hashing model is a bag of words: a paraphrase that only reorders words gets the very same vector
    assert pair_quality(found, copies | para).precision == 1.0, "nothing but planted pairs"
    assert pair_quality(found & copies, copies).recall == 1.0, "every exact copy"
    reordered = found - copies
    assert result.summary["exact_clusters"] == 3 and result.summary["near_clusters"] == len(reordered)
    assert result.output == "dedup_hash.embeddings_dedup" and result.rows_removed == 4 + len(reordered)
    rows = VectorTable.load(embeddings, settings=lake_settings).to_arrow(columns=["embedding_id", "source_key"])
    by_id = dict(zip(*(rows.column(c).to_pylist() for c in ("embedding_id", "source_key")), strict=True))
    clusters = VectorTable.load(result.output, settings=lake_settings).to_arrow().to_pylist()
    dropped = {by_id[k] for c in clusters for k in c["dropped_keys"]}
    assert all(c["kept_key"] < min(c["dropped_keys"]) for c in clusters), "the smallest key (embedding_id) is kept"
    assert result.tokens_removed == sum(len(texts[k].split()) for k in dropped)
    assert result.summary["candidates"] == "exact"

    curated = VectorTable.load("dedup_hash.curated", settings=lake_settings)
    kept = curated.to_arrow(columns=["source_key"]).column("source_key").to_pylist()
    assert sorted(kept) == sorted(set(texts) - dropped)
    assert curated.spec("embedding").dim == 64 and curated.key_column == "embedding_id"
    assert curated.properties["lakehouse.dedup.source-snapshot-id"] == str(result.source_snapshot_id)

    events = [json.loads(line) for line in lake_settings.lineage_path.read_text().splitlines()]
    [complete] = [e for e in events if e["run"]["runId"] == params.run_id and e["eventType"] == "COMPLETE"]
    assert [d["name"] for d in complete["inputs"]] == [embeddings]
    assert [d["name"] for d in complete["outputs"]] == [result.output, "dedup_hash.curated"]
    assert str(result.source_snapshot_id) in json.dumps(complete["inputs"][0]["facets"])

    again = run_dedup(spark, DedupParams(table=embeddings, threshold=0.99), lake_settings, log=quiet)
    assert {**again.summary, "seconds": 0} == {**result.summary, "seconds": 0}, "same snapshot, same clusters"
    assert VectorTable.load(result.output, settings=lake_settings).to_arrow().drop_columns(["run_id"]).to_pylist() == [
        {k: v for k, v in c.items() if k != "run_id"} for c in clusters
    ]

    cli = CliRunner().invoke(
        dedup,
        [embeddings, "--threshold", "0.99", "--output", "dedup_hash.cli_result", "--format", "json"],
        obj={"settings_factory": lambda **_kw: lake_settings},
    )
    assert cli.exit_code == 0, cli.output
    [row] = json.loads(cli.output)
    assert (row["result_table"], row["rows_removed"]) == ("dedup_hash.cli_result", result.rows_removed)


def test_near_duplicates_through_an_ann_index(spark, lake_settings: Settings) -> None:  # noqa: ANN001
    """600 clustered vectors with 40 planted near copies, an IVF_PQ index forced (auto would stay flat)."""
    from lakehouse.index import build

    rng = np.random.default_rng(7)
    centres = rng.normal(size=(20, 32)).astype(np.float32)
    m = centres[rng.integers(0, 20, 600)] + 0.5 * rng.normal(size=(600, 32)).astype(np.float32)
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    planted = set()
    for j, i in enumerate(rng.choice(560, 40, replace=False)):
        m[560 + j] = m[i] + 0.02 * rng.normal(size=32).astype(np.float32)
        planted.add((f"r{i:04d}", f"r{560 + j:04d}"))
    fsl = pa.FixedSizeListArray.from_arrays(pa.array(m.ravel()), 32)
    schema = pa.schema([("key", pa.string()), ("embedding", fsl.type)])
    table = VectorTable.create(
        "dedup_ann.vectors", schema, vectors=[VectorSpec("embedding", dim=32)], key="key", settings=lake_settings
    )
    table.append(pa.table({"key": [f"r{i:04d}" for i in range(600)], "embedding": fsl}))
    build(table, "embedding", index_type="ivf_pq", settings=lake_settings, num_partitions=8)

    params = DedupParams(table="dedup_ann.vectors", threshold=0.95, candidates="ann")
    result = run_dedup(spark, params, lake_settings, log=quiet)
    clusters = VectorTable.load(result.output, settings=lake_settings).to_arrow().to_pylist()
    quality = pair_quality(cluster_pairs(clusters), planted)
    assert result.summary["candidates"] == "ann" and quality.recall >= 0.95 and quality.precision >= 0.95, str(quality)
    assert result.tokens_removed is None, "no text column: tokens are not counted"

    # the default, the exact batch join, finds at least what the index found (here: every planted pair)
    exact = run_dedup(spark, DedupParams(table="dedup_ann.vectors", threshold=0.95), lake_settings, log=quiet)
    exact_clusters = VectorTable.load(exact.output, settings=lake_settings).to_arrow().to_pylist()
    exact_quality = pair_quality(cluster_pairs(exact_clusters), planted)
    assert exact.summary["candidates"] == "exact" and exact_quality.recall == 1.0, str(exact_quality)
    assert exact_quality.precision >= quality.precision and cluster_pairs(clusters) <= cluster_pairs(exact_clusters)


@pytest.mark.model
def test_paraphrases_found_with_minilm(spark, lake_settings: Settings) -> None:  # noqa: ANN001
    embeddings = embed_corpus(spark, lake_settings, "dedup_minilm", "all-MiniLM-L6-v2")
    texts, para, copies = corpus()
    report = []
    for threshold in (0.95, 0.9, 0.85, 0.8):
        result = run_dedup(spark, DedupParams(table=embeddings, threshold=threshold), lake_settings, log=quiet)
        found = source_pairs(lake_settings, embeddings, result.output)
        report.append((threshold, pair_quality(found - copies, para), pair_quality(found & copies, copies)))
    print("\n".join(f"threshold {t}: paraphrases {q}; exact copies {c}" for t, q, c in report))
    by_threshold = {t: (q, c) for t, q, c in report}
    assert all(c.recall == 1.0 for _, c in by_threshold.values())
    # measured: precision and recall 1.0 at every threshold from 0.95 down to 0.8 on this corpus
    for threshold in (0.95, 0.9):
        quality = by_threshold[threshold][0]
        assert quality.precision >= 0.9 and quality.recall >= 0.9, f"threshold {threshold}: {quality}"
