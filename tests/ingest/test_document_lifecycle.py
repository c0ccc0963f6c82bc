"""The document lifecycle end to end through the CLI, on a real HTML corpus (pydoc pages and a manual page with
navigation): ingest, embed, build an index; then delete one file, edit one and add one, and check that the
documents, the embeddings, `lineage impact`, the index and search all agree with the directory again."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from lakehouse.cli.main import cli
from lakehouse.config import Settings
from lakehouse.ingest import document_key
from lakehouse.ingest.demo import build_pydoc_corpus
from lakehouse.table import VectorTable

pytestmark = [pytest.mark.spark, pytest.mark.integration]

DOCS, EMB = "lifecycle.documents", "lifecycle.embeddings"
FIXTURE = Path(__file__).parent / "fixtures" / "manual_page.html"
PARAGRAPHS = (
    "The sweeper logs each dropped partition with its table name and the policy that applied to it.",
    "Each log line carries the snapshot id of the metadata commit, so an auditor can replay the decision later.",
    "When a legal hold blocks a drop, the sweeper writes a skip record instead and moves on to the next table.",
    "Operators can raise the log level to see the partitions that were examined but kept.",
)
NEW_PAGE = (
    "<html><head><title>7.6. Sweeper Logging</title></head><body><header><a href=index.html>Acme Docs</a></header>"
    "<nav><a href=compaction.html>Prev</a> <a href=storage.html>Up</a> <a href=index.html>Home</a> "
    "<a href=tuning.html>Next</a></nav><main><h1>7.6. Sweeper Logging</h1>"
    + "".join(f"<p>{p}</p>" for p in PARAGRAPHS)
    + "</main><footer>Prev | Home | Next</footer></body></html>"
)


@pytest.fixture(scope="module")
def env(lake_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    env = {
        "LAKEHOUSE_HOME": str(tmp_path_factory.mktemp("lifecycle-home")),
        "LAKEHOUSE__CATALOG__URI": str(lake_settings.catalog.uri),
        "LAKEHOUSE__CATALOG__CREDENTIAL": str(lake_settings.catalog.credential),
        "LAKEHOUSE__WAREHOUSE": lake_settings.warehouse,
    }
    credential = getattr(lake_settings.catalog, "credential", None)  # the service's client, where it asks for one
    return {**env, "LAKEHOUSE__CATALOG__CREDENTIAL": credential} if credential else env


def lakehouse(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(cli, list(args), env=env)
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def _rows(table: str, env: dict[str, str], lake_settings: Settings, *columns: str) -> list[dict]:
    return VectorTable.load(table, settings=lake_settings).to_arrow(columns=list(columns)).to_pylist()


def _search_keys(env: dict[str, str], text: str) -> list[str]:
    out = lakehouse(env, "index", "search", EMB, "--text", text, "-k", "50", "--no-serve", "-o", "json")
    return [r["source_key"] for r in json.loads(out)]


def test_edit_delete_add_cycle(spark, env: dict[str, str], lake_settings: Settings, tmp_path: Path) -> None:  # noqa: ANN001
    corpus = tmp_path / "corpus"
    build_pydoc_corpus(corpus, modules=["bisect", "shlex", "textwrap"], html_every=1)
    for txt in corpus.glob("*.txt"):
        txt.unlink()  # HTML only
    (corpus / ".pydoc-corpus.json").unlink()
    shutil.copy(FIXTURE, corpus / "retention.html")
    embed = ("embed", DOCS, "--output", EMB, "--model", "hash-64", "--chunk-size", "300", "--chunk-overlap", "30")

    assert "4 inserted, 0 updated, 0 deleted" in lakehouse(env, "ingest", str(corpus), "--table", DOCS)
    lakehouse(env, *embed)
    lakehouse(env, "index", "build", EMB, "--store", "source_key,chunk_index")
    gone, edited = document_key("shlex.html"), document_key("retention.html")
    chunks = {r["embedding_id"]: r for r in _rows(EMB, env, lake_settings, "embedding_id", "source_key", "chunk_text")}
    shlex_text = next(r["chunk_text"] for r in chunks.values() if r["source_key"] == gone)
    assert _search_keys(env, shlex_text)[0] == gone

    # delete one file, edit one (one word of a long page, same length: no later span moves), add one
    (corpus / "shlex.html").unlink()
    page = (corpus / "retention.html").read_text(encoding="utf-8")
    (corpus / "retention.html").write_text(page.replace("wakes every hour", "wakes every week"), encoding="utf-8")
    (corpus / "logging.html").write_text(NEW_PAGE, encoding="utf-8")

    out = lakehouse(env, "ingest", str(corpus), "--table", DOCS)
    assert "1 inserted, 1 updated, 1 deleted, 2 unchanged" in out and "removed shlex.html: the file is gone" in out
    docs = _rows(DOCS, env, lake_settings, "key", "path", "text")
    assert sorted(r["path"] for r in docs) == sorted(p.name for p in corpus.iterdir())
    with_nav = [(r["path"], r["text"][:300]) for r in docs if "Prev" in r["text"]]
    assert with_nav == [], "HTML is stored without its navigation"

    impact = json.loads(lakehouse(env, "lineage", "impact", DOCS, "--embeddings", EMB, "-o", "json"))[0]
    assert impact["keys"]["deleted"] == [gone] and impact["keys"]["content_changed"] == [edited]
    changed = next(s for s in impact["stale"] if s["source_key"] == edited)["embedding_ids"]
    of_edited = [e for e, r in chunks.items() if r["source_key"] == edited]
    assert 1 <= len(changed) < len(of_edited), "only the chunks holding the edited sentence"
    assert all("hour" in chunks[e]["chunk_text"] for e in changed), "the changed chunks are those holding the edit"
    assert impact["unembedded_keys"] == [document_key("logging.html")]

    assert "plan for" in lakehouse(env, *embed)
    after = _rows(EMB, env, lake_settings, "embedding_id", "source_key", "chunk_text")
    assert gone not in {r["source_key"] for r in after}
    assert {r["source_key"] for r in after} == {r["key"] for r in docs}
    clean = json.loads(lakehouse(env, "lineage", "impact", DOCS, "--embeddings", EMB, "-o", "json"))[0]
    assert clean["stale"] == [] and clean["unembedded_keys"] == []

    lakehouse(env, "index", "refresh", EMB)
    status = lakehouse(env, "index", "status", EMB, "-o", "json")
    assert json.loads(status)[0]["up_to_date"] is True
    assert gone not in _search_keys(env, shlex_text), "search no longer returns the deleted page"
    new_text = next(r["chunk_text"] for r in after if r["source_key"] == document_key("logging.html"))
    assert _search_keys(env, new_text)[0] == document_key("logging.html")


def test_keep_missing_and_limit_never_delete_what_is_still_there(
    spark, lake_settings: Settings, tmp_path: Path
) -> None:  # noqa: ANN001
    from lakehouse.ingest.job import IngestParams, vanished
    from lakehouse.ingest.job import run as run_ingest

    table = "lifecycle.keep"
    for name in ("a.txt", "b.txt", "c.txt"):
        (tmp_path / name).write_text(f"document {name}\n")
    run_ingest(spark, IngestParams(tmp_path, table), lake_settings, log=lambda _m: None)
    (tmp_path / "a.txt").unlink()

    kept = run_ingest(spark, IngestParams(tmp_path, table, keep_missing=True), lake_settings, log=lambda _m: None)
    assert (kept.deleted, kept.missing_kept, kept.total_rows) == (0, 1, 3)
    # --limit reads the first file only, but c.txt is still in the directory: only a.txt's row goes
    limited = run_ingest(spark, IngestParams(tmp_path, table, limit=1), lake_settings, log=lambda _m: None)
    assert (limited.deleted, limited.total_rows) == (1, 2)
    paths = {r["path"] for r in VectorTable.load(table, settings=lake_settings).to_arrow(columns=["path"]).to_pylist()}
    assert paths == {"b.txt", "c.txt"}

    # a folder that could not be listed keeps its rows; an unlistable root keeps everything
    rows = [("k1", "x/1.txt"), ("k2", "y/2.txt"), ("k3", "3.txt")]
    assert vanished(rows, {"3.txt"}, ["x"]) == [("k2", "y/2.txt")]
    assert vanished(rows, set(), ["."]) == []


def test_an_empty_or_other_directory_never_wipes_the_table_silently(
    spark, env: dict[str, str], lake_settings: Settings, tmp_path: Path
) -> None:  # noqa: ANN001
    from lakehouse.errors import IngestError
    from lakehouse.ingest.job import IngestParams
    from lakehouse.ingest.job import run as run_ingest

    table, quiet = "lifecycle.wipe", {"log": lambda _m: None}
    docs, empty = tmp_path / "docs", tmp_path / "empty"
    docs.mkdir()
    empty.mkdir()
    for name in ("a.txt", "b.txt", "c.txt"):
        (docs / name).write_text(f"document {name}\n")
    first = run_ingest(spark, IngestParams(docs, table), lake_settings, **quiet)
    again = run_ingest(spark, IngestParams(docs, table), lake_settings, **quiet)  # unchanged: a no-op
    assert (again.inserted, again.updated, again.deleted, again.unchanged) == (0, 0, 0, 3)
    assert again.snapshot_id == first.snapshot_id, "an unchanged directory makes no snapshot"

    with pytest.raises(IngestError, match="no files"):
        run_ingest(spark, IngestParams(empty, table), lake_settings, **quiet)
    (empty / "other.txt").write_text("another folder\n")  # another folder (or a typo) than last time
    with pytest.raises(IngestError, match="would delete every row"):
        run_ingest(spark, IngestParams(empty, table), lake_settings, **quiet)
    refused = CliRunner().invoke(cli, ["ingest", str(empty), "--table", table], env=env)
    assert refused.exit_code != 0 and "--allow-delete-all" in refused.output, refused.output
    (docs / "a.txt").unlink()
    (docs / "b.txt").unlink()
    with pytest.raises(IngestError, match="would delete 2 of the 3 row"):
        run_ingest(spark, IngestParams(docs, table), lake_settings, **quiet)
    t = VectorTable.load(table, settings=lake_settings)
    assert (t.snapshot_id, t.count()) == (first.snapshot_id, 3), "nothing was written"

    moved = run_ingest(spark, IngestParams(empty, table, allow_delete_all=True), lake_settings, **quiet)
    assert (moved.inserted, moved.deleted, moved.total_rows) == (1, 3, 1)
