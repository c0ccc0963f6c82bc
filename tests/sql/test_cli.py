"""``lakehouse sql`` through click's CliRunner."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from lakehouse.cli.main import cli

pytestmark = pytest.mark.integration


@pytest.fixture()
def invoke(lake_settings, sql_tables, monkeypatch):  # noqa: ANN001, ANN201
    def run(*args: str, input: str | None = None):  # noqa: A002, ANN202
        return CliRunner().invoke(
            cli, list(args), obj={"settings_factory": lambda **kw: lake_settings}, input=input, catch_exceptions=False
        )

    import lakehouse.cli.main as main

    monkeypatch.setattr(main, "load_settings", lambda **kw: lake_settings)
    return run


SQL = (
    "SELECT embedding_id, cosine_similarity(embedding, embed('retry a commit')) AS score "
    "FROM lake.sqlt.embeddings ORDER BY score DESC LIMIT 3"
)


def test_query_as_the_first_argument_prints_json(invoke) -> None:  # noqa: ANN001
    result = invoke("sql", SQL, "-o", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) == 3 and set(rows[0]) == {"embedding_id", "score"}


def test_query_from_a_file_as_csv(invoke, tmp_path) -> None:  # noqa: ANN001
    f = tmp_path / "q.sql"
    f.write_text(SQL + ";\n")
    result = invoke("sql", "-f", str(f), "--output", "csv")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "embedding_id,score" and len(result.stdout.splitlines()) == 4


def test_explain_and_transpile_subcommands(invoke) -> None:  # noqa: ANN001
    result = invoke("sql", "explain", SQL)
    assert result.exit_code == 0 and "path: ANN index on sqlt.embeddings.embedding" in result.stdout
    result = invoke("sql", "transpile", "--to", "postgres", SQL)
    assert result.exit_code == 0, result.output
    assert "<=>" in result.stdout and "::vector(16)" in result.stdout


def test_refusals_and_parse_errors_exit_3_with_a_message(invoke) -> None:  # noqa: ANN001
    result = invoke("sql", "DROP TABLE lake.sqlt.embeddings")
    assert result.exit_code == 3 and "read-only" in result.stderr
    result = invoke("sql", "SELECT * FROM lake.sqlt.embeddings WHERE (")
    assert result.exit_code == 3 and "line 1, column" in result.stderr


def test_shell_runs_queries_until_quit(invoke, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("HOME", str(tmp_path))
    result = invoke("sql", "shell", "-o", "csv", input="SELECT count(*) AS n\nFROM lake.sqlt.documents;\n.quit\n")
    assert result.exit_code == 0, result.output
    assert "n\n30" in result.stdout
