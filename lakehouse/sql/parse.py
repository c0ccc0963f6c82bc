"""SQL text -> one read-only query tree in the ``lakehouse`` dialect, or a clear refusal.

The analyst entry points are read-only: anything but a query (DDL, DML, COPY, ATTACH, INSTALL, LOAD, PRAGMA, SET...)
and more than one statement are refused before any engine sees them. Parse errors carry line, column and the text.

Long constant arrays of numbers (query vectors) are lifted out of the text before sqlglot sees it and come back as
one :class:`~lakehouse.sql.dialect.ConstVector` node each: tokenizing and parsing a 384-d vector's numbers was a
measurable share of a query, and the hundreds of nodes it made were copied and walked again at every later step
(figures: BENCHMARKS.md, design measurements, 'query vector literals').
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from lakehouse.errors import SqlError, SqlParseError, SqlTooDeepError, UnsafeSqlError
from lakehouse.sql.dialect import ConstVector, Lakehouse
from lakehouse.sql.safety import check_query, check_text

__all__ = ["Statement", "parse_sql"]

DIALECT = Lakehouse
_EXPLAIN = re.compile(r"^\s*EXPLAIN\b(\s+ANALYZE\b)?", re.IGNORECASE)
LIFT_MIN_NUMBERS = 8  # shorter arrays are parsed as usual
_NUMBER = r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
# strings, quoted identifiers and comments are skipped whole; an array literal is [n, n, ...] of plain numbers
_LIFT = re.compile(
    r"(?P<skip>'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/|\$\$.*?\$\$)"
    rf"|\[\s*(?P<numbers>{_NUMBER}(?:\s*,\s*{_NUMBER}){{{LIFT_MIN_NUMBERS - 1},}})\s*\]",
    re.DOTALL,
)
_PLACEHOLDER = "__lakehouse_vector_"
# sqlglot parses by recursive descent, ~20 Python frames per bracket: at Python's default recursion limit (1000) it
# overflowed at 42 nested parentheses (RecursionError), fewer when called from deeper stacks (a server, a test runner)
MAX_NESTING = 32
_BRACKETS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/|\$\$.*?\$\$|[()\[\]]", re.DOTALL)
# nodes that change something, wherever they sit in the tree (a CTE may not hide an INSERT)
_WRITES: tuple[type[exp.Expr], ...] = tuple(
    getattr(exp, name)
    for name in (
        "Insert",
        "Update",
        "Delete",
        "Merge",
        "Create",
        "Drop",
        "Alter",
        "Copy",
        "Command",
        "Set",
        "Pragma",
        "Attach",
        "Detach",
        "Use",
        "Transaction",
        "Commit",
        "Rollback",
        "TruncateTable",
        "Install",
        "LoadData",
    )
    if hasattr(exp, name)
)


@dataclass(frozen=True)
class Statement:
    """One parsed query; ``explain`` when the text began with EXPLAIN."""

    tree: exp.Query
    explain: bool
    sql: str


def parse_sql(sql: str) -> Statement:
    """Parse ``sql`` (one read-only query, optionally prefixed by EXPLAIN).

    >>> parse_sql("EXPLAIN SELECT 1").explain
    True
    """
    text = sql.strip()
    explain = False
    if m := _EXPLAIN.match(text):
        explain, text = True, text[m.end() :]
    if not text.strip().rstrip(";").strip():
        raise SqlParseError(
            "the query is empty",
            hint="write a SELECT, e.g. SELECT * FROM lake.docs.documents LIMIT 5",
            line=1,
            column=1,
            text="",
            highlight="",
        )
    _check_nesting(text)
    check_text(text)
    try:
        trees = _parse_lifted(text)
        if trees is None:
            trees = [t for t in sqlglot.parse(text, read=DIALECT) if t is not None]
    except ParseError as exc:
        raise _parse_error(text, exc) from exc
    except RecursionError as exc:  # nesting the bracket count cannot see (NOT NOT NOT ..., CASE in CASE ...)
        raise _too_deep(text, "the query nests expressions too deeply to parse", 1, 1) from exc
    except TokenError as exc:
        raise SqlParseError(
            f"the query does not tokenize: {exc}",
            hint="check quotes and brackets",
            line=1,
            column=1,
            text=text[:40],
            highlight=text.splitlines()[0] if text else "",
        ) from exc
    if len(trees) != 1:
        raise UnsafeSqlError(
            f"{len(trees)} statements given; one query at a time",
            hint="run each statement separately",
            statement="multiple statements",
        )
    tree = _check_read_only(trees[0])
    check_query(tree)  # relations, functions and table-function arguments on the allow-lists
    return Statement(tree, explain, text)


def _check_nesting(text: str) -> None:
    """Refuse brackets nested deeper than :data:`MAX_NESTING` (strings, quoted names and comments skipped)."""
    depth = 0
    for m in _BRACKETS.finditer(text):
        c = m.group(0)
        if c in "([":
            depth += 1
            if depth > MAX_NESTING:
                line = text.count("\n", 0, m.start()) + 1
                column = m.start() - (text.rfind("\n", 0, m.start()) + 1) + 1
                raise _too_deep(text, f"the query nests brackets more than {MAX_NESTING} deep", line, column)
        elif c in ")]":
            depth = max(depth - 1, 0)


def _too_deep(text: str, what: str, line: int, column: int) -> SqlTooDeepError:
    src = (text.splitlines() or [""])[line - 1]
    start = max(column - 30, 0)
    marked = src[start : column + 10] + "\n" + " " * (column - 1 - start) + "^"
    return SqlTooDeepError(  # a parse error, and a refusal of what could exhaust the parser's stack
        f"{what} (line {line}, column {column})",
        hint=f"nest at most {MAX_NESTING} levels: flatten redundant parentheses, or move inner parts into a WITH "
        "clause (common table expression)",
        line=line,
        column=column,
        text=src[column - 1 : column],
        highlight=marked,
        statement="deep nesting",
    )


def _parse_lifted(text: str) -> list[exp.Expr] | None:
    """Parse ``text`` with its long number arrays lifted out; ``None`` when there are none, or anything is off (the
    caller then parses the text as written, which also gives parse errors their true positions)."""
    if _PLACEHOLDER in text:
        return None
    arrays: list[tuple[str, ...]] = []

    def lift(m: re.Match[str]) -> str:
        if m.group("skip") is not None:
            return m.group(0)  # a string, comment or quoted name: left as written
        numbers = re.split(r"\s*,\s*", m.group("numbers"))
        arrays.append(tuple(re.sub(r"^(-?)\.", r"\g<1>0.", n) for n in numbers))  # .5 -> 0.5, as sqlglot writes it
        return f"{_PLACEHOLDER}{len(arrays) - 1}"

    lifted = _LIFT.sub(lift, text)
    if not arrays:
        return None
    try:
        trees = [t for t in sqlglot.parse(lifted, read=DIALECT) if t is not None]
    except (ParseError, TokenError):
        return None
    seen = 0
    for tree in trees:
        for col in list(tree.find_all(exp.Column)):
            if not col.table and col.name.startswith(_PLACEHOLDER) and col.name[len(_PLACEHOLDER) :].isdigit():
                col.replace(ConstVector(values=arrays[int(col.name[len(_PLACEHOLDER) :])]))
                seen += 1
    # each placeholder must come back as a bare column, i.e. where an array literal was: else parse the text as is
    return trees if seen == len(arrays) else None


def _check_read_only(tree: exp.Expr) -> exp.Query:
    """``tree`` if it is a read-only query, else :class:`UnsafeSqlError`."""
    kind = _kind(tree)
    if not isinstance(tree, exp.Query) or kind:
        what = kind or tree.key.upper()
        raise UnsafeSqlError(
            f"{what} statements are refused: the similarity SQL entry points are read-only",
            hint="only SELECT queries (with WITH, JOIN, UNION, vector_search...) run here; write with Spark jobs "
            "or the table API",
            statement=what,
        )
    return tree


def _kind(tree: exp.Expr) -> str | None:
    for node in tree.walk():
        if isinstance(node, _WRITES):
            if isinstance(node, exp.Command):
                return str(node.this).upper()
            return node.key.upper()
    return None


def _parse_error(text: str, exc: ParseError) -> SqlParseError:
    first = exc.errors[0] if exc.errors else {}
    token = str(first.get("highlight") or "")
    line, end = int(first.get("line") or 1), int(first.get("col") or 1)
    column = max(end - len(token) + 1, 1)  # sqlglot reports where the token ends
    lines = text.splitlines() or [""]
    src = lines[min(line, len(lines)) - 1]
    marked = src + "\n" + " " * (column - 1) + "^" * max(len(token), 1)
    reason = str(first.get("description") or exc).split(". Line")[0]
    return SqlParseError(
        f"syntax error at line {line}, column {column} near {token!r}: {reason}\n"
        f"  {marked.replace(chr(10), chr(10) + '  ')}",
        hint=(
            "a time-travel clause goes before the table's alias: FROM lake.ns.t FOR VERSION AS OF 5 AS e"
            if token.upper() == "FOR" and re.search(r"\bAS\s+OF\b", text, re.IGNORECASE)
            else "check the SQL near the marked text"
        ),
        line=line,
        column=column,
        text=token,
        highlight=marked,
    )


def literal_value(node: exp.Expr, what: str) -> object:
    """The Python value of a literal argument (string, number, boolean), or a clear error."""
    if isinstance(node, exp.Literal):
        return node.this if node.is_string else (float(node.this) if "." in node.this else int(node.this))
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal):
        value = literal_value(node.this, what)
        return -value  # type: ignore[operator]
    if isinstance(node, exp.Boolean):
        return node.this
    raise SqlError(f"{what} must be a literal, got {node.sql(DIALECT)}", hint="write a constant here")
