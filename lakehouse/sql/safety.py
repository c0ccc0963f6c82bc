"""What an analyst query may name: catalog tables, CTEs, the dialect's table functions and allow-listed functions.

The analyst entry points run SQL from people who should read tables through the catalog and nothing else. Engines
offer much more: DuckDB reads any file or URL (``read_csv``, ``read_text``, ``glob``, ``FROM '/etc/passwd'``), Spark
calls Java (``reflect``, ``java_method``) and reads files as relations (``parquet.`/path```). So a query is checked
against allow-lists before any engine sees it, and refused with :class:`~lakehouse.errors.UnsafeSqlError` naming the
construct and what to write instead:

- a relation is a catalog table (``lake.<namespace>.<table>``, or shorter), a CTE, a subquery, ``VALUES``, ``UNNEST``
  or one of :data:`TABLE_FUNCTIONS`; each name part is a plain identifier (no path, URL or quote in it);
- every function is in :data:`FUNCTIONS` (pure scalar, aggregate and window functions, and the vector functions);
- a table function's ``filter =>`` string is an expression only: no subquery, no table, the same function allow-list;
  its ``k =>`` (and ``depth =>``) at most :data:`MAX_K`;
- expression trees deeper than :data:`MAX_DEPTH` are refused (long operator chains parse without brackets).

DuckDB sessions are also locked down by the engine's own settings (:func:`lakehouse.sql.duckdb.connect_duckdb`), so
a query that got past this check still could not read outside the warehouse.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator

from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from lakehouse.errors import UnsafeSqlError
from lakehouse.sql.dialect import METRIC_OF, Embed, Lakehouse

__all__ = ["FUNCTIONS", "MAX_DEPTH", "MAX_K", "TABLE_FUNCTIONS", "check_filter", "check_query", "check_text"]

# the table functions the lakehouse dialect defines; a new one (hybrid_search) is added here and nowhere else
TABLE_FUNCTIONS = frozenset({"VECTOR_SEARCH", "HYBRID_SEARCH"})
MAX_K = 10_000  # the most rows a table function's k may ask for
MAX_DEPTH = 400  # expression tree depth (a 400-term chain of ORs); engines overflow their own stacks further on
# a name part, as the catalog service accepts it (lakehouse/catalog_client/names.py): no '.', '/', ':', quotes,
# spaces or controls
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,127}")
# Spark's file relations: parquet.`/path`, csv.`s3://...` (backticks do not parse in the lakehouse dialect)
_SPARK_FILE = re.compile(
    r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/"
    r"|(?P<source>\b(?:parquet|csv|json|orc|text|avro|binaryfile|delta|jdbc|libsvm|image|hive)\s*\.\s*`)",
    re.IGNORECASE | re.DOTALL,
)
# statements that do not parse in the lakehouse dialect, refused by their first word (comments before it skipped)
_COMMAND = re.compile(
    r"(?:\s|--[^\n]*\n|/\*.*?\*/)*(EXPORT|IMPORT|ADD|REFRESH|LIST|CHECKPOINT|MSCK|GRANT|REVOKE|CLEAR)\b",
    re.IGNORECASE | re.DOTALL,
)
_HOW = "read tables through the catalog (FROM lake.<namespace>.<table>; `lakehouse tables` lists them)"

# Functions analysts may call, by name (any of a sqlglot node's names, or the name as written for functions sqlglot
# does not model). Deny by default: nothing here reads files, URLs, settings, the environment or the JVM.
FUNCTIONS = frozenset(
    """
    COSINE_SIMILARITY COSINE_DISTANCE L2_DISTANCE INNER_PRODUCT EMBED
    ARRAY_COSINE_SIMILARITY ARRAY_COSINE_DISTANCE ARRAY_DISTANCE ARRAY_INNER_PRODUCT
    COUNT COUNT_IF SUM AVG MIN MAX ANY_VALUE ARG_MAX ARG_MIN MAX_BY MIN_BY FIRST LAST MEDIAN MODE
    QUANTILE QUANTILE_CONT QUANTILE_DISC PERCENTILE_CONT PERCENTILE_DISC APPROX_DISTINCT APPROX_QUANTILE
    STDDEV STDDEV_POP STDDEV_SAMP VARIANCE VARIANCE_POP CORR COVAR_POP COVAR_SAMP PRODUCT HISTOGRAM
    LOGICAL_AND LOGICAL_OR BITWISE_AND_AGG BITWISE_OR_AGG ARRAY_AGG GROUP_CONCAT STRING_AGG LISTAGG LIST
    ROW_NUMBER RANK DENSE_RANK PERCENT_RANK CUME_DIST NTILE LAG LEAD FIRST_VALUE LAST_VALUE NTH_VALUE
    CASE IF COALESCE NULLIF GREATEST LEAST CAST TRY_CAST TYPEOF EXISTS COLUMNS
    ABS CEIL FLOOR ROUND TRUNC SIGN SQRT CBRT EXP LN LOG LOG2 LOG10 POWER MOD PI RAND
    SIN COS TAN ASIN ACOS ATAN ATAN2 DEGREES RADIANS IS_NAN IS_INF ISFINITE
    LENGTH LOWER UPPER TRIM LTRIM RTRIM SUBSTRING LEFT RIGHT CONCAT CONCAT_WS REPLACE REVERSE REPEAT PAD
    LPAD RPAD SPLIT SPLIT_PART STRING_SPLIT STR_POSITION STRPOS INSTR CONTAINS STARTS_WITH ENDS_WITH PREFIX
    SUFFIX REGEXP_LIKE REGEXP_MATCHES REGEXP_REPLACE REGEXP_EXTRACT ASCII CHR LEVENSHTEIN FORMAT PRINTF
    MD5 SHA SHA2 SHA256 HASH
    CURRENT_DATE CURRENT_TIMESTAMP NOW EXTRACT DATE_PART DATE_TRUNC TIMESTAMP_TRUNC DATE_ADD DATE_SUB
    DATEDIFF DATE_BIN TIME_BUCKET STR_TO_TIME TIME_TO_STR TIME_TO_UNIX UNIX_TO_TIME EPOCH EPOCH_MS AGE
    YEAR QUARTER MONTH WEEK DAY DAY_OF_WEEK DAY_OF_YEAR HOUR MINUTE SECOND DATE_FROM_PARTS MAKE_DATE
    ARRAY ARRAY_SIZE ARRAY_CONTAINS ARRAY_SLICE ARRAY_SORT ARRAY_DISTINCT ARRAY_TO_STRING ARRAY_FILTER
    TRANSFORM FLATTEN UNNEST EXPLODE CARDINALITY LIST_EXTRACT LIST_SLICE LIST_REDUCE LIST_AGGREGATE
    ARRAY_POSITION ARRAY_OVERLAPS ARRAY_CONTAINS_ALL ARRAY_CONTAINED_BY COLLATE REGEXP_ILIKE REGEXP_FULL_MATCH
    STRUCT STRUCT_EXTRACT JSON_EXTRACT JSON_EXTRACT_SCALAR TO_JSON GENERATE_SERIES
    """.split()
)
# the dialect's own nodes (sqlglot names DotProduct DOT_PRODUCT; lakehouse spells it inner_product)
_VECTOR_NODES = frozenset({*METRIC_OF, Embed})


def _refuse(construct: str, why: str, hint: str) -> UnsafeSqlError:
    return UnsafeSqlError(
        f"{construct} is refused: {why}", hint=hint, statement=construct, construct=construct, reason=why
    )


def check_text(text: str) -> None:
    """Refuse what can only be seen in the text: statements this dialect does not parse (EXPORT DATABASE, ADD JAR)
    and Spark's file relations (backticks)."""
    if m := _COMMAND.match(text):
        what = m.group(1).upper()
        raise UnsafeSqlError(
            f"{what} statements are refused: the similarity SQL entry points are read-only",
            hint="only SELECT queries (with WITH, JOIN, UNION, vector_search...) run here",
            statement=what,
        )
    for m in _SPARK_FILE.finditer(text):
        if m.group("source"):
            source = m.group("source").split(".")[0].strip()
            raise _refuse(
                f"{source}.`...`",
                "a file path as a relation would read files directly, outside the catalog and its snapshots",
                _HOW,
            )


def check_query(tree: exp.Expr) -> None:
    """Refuse relations, functions and nesting outside the allow-lists (raises :class:`UnsafeSqlError`)."""
    for node in _walk(tree):
        if isinstance(node, exp.Into):
            raise _refuse("SELECT ... INTO", "it creates a table", "write tables with Spark jobs or the table API")
        if isinstance(node, exp.Summarize) and not isinstance(node.this, exp.Table | exp.Query):
            # SUMMARIZE '<path>' reads the file itself (a replacement scan), the warehouse's raw files included
            raise _refuse(
                f"SUMMARIZE {node.this.sql()[:80]}",
                "a quoted path, URL or file name as a relation would read it directly, outside the catalog",
                _HOW,
            )
        if isinstance(node, exp.Table):
            _check_relation(node)
        elif isinstance(node, exp.Func) and not isinstance(node, exp.Connector) and not _is_table_function(node):
            _check_function(node)


def check_filter(node: exp.Expr, where: str = "vector_search's filter") -> None:
    """A filter is a predicate over the table's columns: no subquery, no table, allow-listed functions only."""
    for n in _walk(node):
        if isinstance(n, exp.Query | exp.Subquery | exp.Table):
            raise _refuse(
                f"a subquery in {where}",
                "a filter is an expression over the table's own columns",
                "write a predicate such as \"chunk_index = 0 AND source_key LIKE 'doc%'\"; join in the outer query",
            )
        if isinstance(n, exp.Func) and not isinstance(n, exp.Connector):
            _check_function(n)


def _walk(tree: exp.Expr) -> Iterator[exp.Expr]:
    """Every node, parents before children, without recursion; refuses trees deeper than :data:`MAX_DEPTH`."""
    stack: list[tuple[exp.Expr, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _refuse(
                "deep nesting",
                f"the expression nests more than {MAX_DEPTH} levels deep",
                "split long chains (a IN (...) instead of many ORs), or move parts into a WITH clause",
            )
        yield node
        stack.extend((child, depth + 1) for child in node.iter_expressions())


def _is_table_function(node: exp.Func) -> bool:
    return isinstance(node.parent, exp.Table) and node.arg_key == "this" and _name(node) in TABLE_FUNCTIONS


def _name(node: exp.Func) -> str:
    return node.name.upper() if isinstance(node, exp.Anonymous) else node.sql_name()


def _allowed(node: exp.Func) -> bool:
    if isinstance(node, exp.Anonymous):
        return node.name.upper() in FUNCTIONS
    cls = type(node)
    if cls not in _ALLOWED_CLASSES:
        _ALLOWED_CLASSES[cls] = cls in _VECTOR_NODES or any(n in FUNCTIONS for n in cls.sql_names())
    return _ALLOWED_CLASSES[cls]


_ALLOWED_CLASSES: dict[type[exp.Func], bool] = {}


def _check_function(node: exp.Func) -> None:
    if not _allowed(node):
        name = _name(node).lower()
        raise _refuse(
            f"function {name}()",
            f"{name} is not on the analyst SQL allow-list (file, URL, setting and JVM access are not offered)",
            "use the catalog's tables and the documented functions (lakehouse.sql.safety.FUNCTIONS lists them)",
        )


def _check_relation(node: exp.Table) -> None:
    this = node.this
    if isinstance(this, exp.Func):
        name = _name(this)
        if name not in TABLE_FUNCTIONS:
            raise _refuse(
                f"table function {name.lower()}()",
                "only the lakehouse table functions "
                f"({', '.join(sorted(n.lower() for n in TABLE_FUNCTIONS))}) may be used as relations",
                _HOW,
            )
        _check_table_function_args(this)
        return
    parts = [node.args.get("catalog"), node.args.get("db"), this]
    if not isinstance(this, exp.Identifier) or not all(p is None or isinstance(p, exp.Identifier) for p in parts):
        raise _refuse(f"relation {node.sql()[:80]}", "a relation names at most catalog.namespace.table", _HOW)
    for part in parts:
        if part is not None and not _NAME.fullmatch(part.name):
            raise _refuse(
                f"relation {node.sql()[:80]}",
                "a quoted path, URL or file name as a relation would read it directly, outside the catalog",
                _HOW,
            )


def _check_table_function_args(func: exp.Func) -> None:
    name = _name(func).lower()
    args = func.args
    table = args.get("table")
    if table is not None and not (
        isinstance(table, exp.Literal) and table.is_string and all(_NAME.fullmatch(p) for p in table.name.split("."))
    ):
        raise _refuse(f"{name}'s table {table.sql()[:80]}", "it must name a catalog table", f"{name}(table => 'ns.t')")
    column = args.get("column")
    if column is not None and not (isinstance(column, exp.Literal) and _NAME.fullmatch(column.name)):
        raise _refuse(f"{name}'s column {column.sql()[:80]}", "it must name a column", "column => 'embedding'")
    for arg in ("k", "depth"):  # rows asked for, and (hybrid_search) candidates per retriever
        n = args.get(arg)
        if isinstance(n, exp.Literal) and not n.is_string and _number(n.name) > MAX_K:  # 1e9 too, not only digits
            raise _refuse(
                f"{name}'s {arg} => {n.name}",
                f"{arg} asks for more than {MAX_K:,} rows",
                f"ask for at most {MAX_K:,} rows ({arg} => 100), and filter or aggregate to narrow the search",
            )
    flt = args.get("filter")
    if isinstance(flt, exp.Literal) and flt.is_string:
        check_filter(_parse_filter(flt.name), f"{name}'s filter")


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


@functools.lru_cache(maxsize=256)  # the same filter text comes back query after query; the tree is only read
def _parse_filter(text: str) -> exp.Expr:
    try:
        return exp.condition(text, dialect=Lakehouse)
    except RecursionError as exc:
        raise _refuse(
            "deep nesting in a filter", "the filter nests too deeply to parse", "flatten the filter's brackets"
        ) from exc
    except (ParseError, TokenError):
        return exp.Null()  # not an expression at all: the planner's own parse names the syntax error
