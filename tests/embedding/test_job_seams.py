"""The jobs' seams (issue 14): the library never imports ``jobs/``, the embed, ingest and dedup jobs never ask a
table's format, and the embed job's parameters and options are declared once."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakehouse.config import load_settings


def test_the_library_never_imports_the_jobs(architecture) -> None:  # noqa: ANN001
    edges = [(a, b) for a, b, _ in architecture.upward if b == "jobs" or b.startswith("jobs.")]
    assert edges == []


def test_the_jobs_never_branch_on_a_table_format(architecture) -> None:  # noqa: ANN001
    report = architecture
    places = ("lakehouse/embedding/", "lakehouse/ingest/", "lakehouse/dedup/", "lakehouse/lineage/tables.py", "jobs/")
    assert [b for b in report.branches if b[0].startswith(places)] == []
    assert not [m for m in report.format_imports if m.startswith(("lakehouse.embedding", "lakehouse.ingest"))]


def test_the_embed_options_are_declared_once_for_both_command_lines() -> None:
    from jobs.embed_table import parser
    from lakehouse.cli.jobs import embed
    from lakehouse.embedding.options import EMBED_OPTIONS

    declared = {o.flag for o in EMBED_OPTIONS}
    on_click = {opt for p in embed.params for opt in p.opts if opt.startswith("--")}
    on_argparse = {opt for a in parser()._actions for opt in a.option_strings} - {"-h", "--help", "--source"}
    assert declared == on_click == on_argparse


def test_embed_params_come_from_settings_once_and_by_keyword(tmp_path: Path) -> None:
    from jobs.embed_table import parse_args
    from lakehouse.embedding import EmbedParams

    settings = load_settings(
        project_dir=tmp_path,
        environ={"LAKEHOUSE__EMBED__CHUNK_SIZE": "321", "LAKEHOUSE__EMBED__MODEL": "hash-16"},
        home=tmp_path,
    )
    with pytest.raises(TypeError):
        EmbedParams("docs.documents")  # type: ignore[misc]
    from_argv = EmbedParams.from_settings(settings, **vars(parse_args(["--source", "docs.documents", "--key", "id"])))
    assert (from_argv.chunk_size, from_argv.model, from_argv.key) == (321, "hash-16", "id")
    assert from_argv.chunk_overlap == settings.embed.chunk_overlap
    given = EmbedParams.from_settings(settings, source="docs.documents", chunk_size=500, master="local[1]")
    assert (given.chunk_size, given.model) == (500, "hash-16")


def test_the_spark_submit_help_still_names_the_defaults_click_shows() -> None:
    # jobs/embed_table.py --help said "(default: text)" / "(default: key)" before the options were declared once
    from jobs.embed_table import parser

    text = " ".join(parser().format_help().split())
    assert "Text column to chunk and embed. (default: text)" in text
    assert "Key column of the source table. (default: key)" in text
