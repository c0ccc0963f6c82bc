"""Bind a parsed query to the catalog: tables, vector columns, ``vector_search`` and ``embed``.

After this step the tree holds no ``embed(...)`` and no ``vector_search(...)``: every query vector is a constant
``[...]::FLOAT[dim]`` literal (resolved once, with the model recorded in the column's vector spec), every catalog
table node carries its :class:`LakeTable` in ``node.meta["lake"]``, and dimension mismatches have been named.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from sqlglot import exp

from lakehouse.config import Settings
from lakehouse.errors import ModelError, SqlError, SqlParseError, SqlPlanError
from lakehouse.sql.dialect import (
    ConstVector,
    CosineSimilarity,
    Embed,
    HybridSearch,
    VectorSearch,
    float32_values,
    float_array_type,
    is_vector_function,
)
from lakehouse.sql.hybrid import expand_hybrid_search
from lakehouse.sql.parse import DIALECT, literal_value
from lakehouse.sql.rowembed import embed_rows, is_constant_text
from lakehouse.sql.safety import check_query
from lakehouse.sql.timetravel import has_time_travel, resolve_time_travel
from lakehouse.table import VectorTable
from lakehouse.vector import METRICS, VectorSpec

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

__all__ = ["LakeTable", "Resolved", "resolve", "vector_array", "vector_literal", "vector_values"]

SCORE = "score"
# vector_search's score is higher-is-better, as in lakehouse.index: cosine similarity, inner product, -L2 distance
_SCORE_OF: dict[str, type[exp.Func]] = {"cosine": CosineSimilarity, "dot": exp.DotProduct, "l2": exp.EuclideanDistance}


@dataclass(frozen=True)
class LakeTable:
    """A catalog table the query reads."""

    identifier: str  # ns.name
    table: VectorTable
    columns: tuple[str, ...]

    @property
    def specs(self) -> dict[str, VectorSpec]:
        return self.table.specs

    def __deepcopy__(self, memo: object) -> LakeTable:
        # A binding, shared by every copy of the tree: sqlglot deep-copies node.meta at each tree copy, and copying
        # the table handle with its metadata took a thousand-odd deepcopy calls per query (figures: BENCHMARKS.md,
        # design measurements, 'table handle deepcopy').
        return self


@dataclass
class Resolved:
    tree: exp.Query
    tables: list[LakeTable] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class Resolver:
    def __init__(self, settings: Settings, catalog: Catalog | None = None) -> None:
        self.settings = settings
        self._catalog = catalog
        self._tables: dict[str, LakeTable] = {}
        self._vectors: dict[tuple[str, str], np.ndarray] = {}
        self.notes: list[str] = []

    def table(self, name: str) -> LakeTable:
        from lakehouse.table import split_identifier

        ns, tbl = split_identifier(name, self.settings)
        ident = f"{ns}.{tbl}"
        if ident not in self._tables:
            if self._catalog is None:  # only now: transpiling needs the catalog only for embed() and metrics
                from lakehouse.table import load_catalog

                self._catalog = load_catalog(self.settings)
            # not in the catalog but at its Delta location: a DeltaVectorTable (same surface)
            vt = VectorTable.load(ident, catalog=self._catalog, settings=self.settings)
            self._tables[ident] = LakeTable(ident, vt, vt.column_names())
        return self._tables[ident]

    def embed(self, text: str, model_name: str, spec: VectorSpec | None, where: str) -> np.ndarray:
        from lakehouse.embed import get_model

        model = get_model(model_name)
        if spec is not None and model.dim != spec.dim:
            raise ModelError(
                f"embed(..., {model_name!r}) makes {model.dim}-d vectors but {where} holds {spec.dim}-d vectors",
                hint=f"use the column's model ({spec.model or 'not recorded'}) or a {spec.dim}-d model",
                model=model_name,
            )
        key = (model_name, text)
        if key not in self._vectors:
            self._vectors[key] = model.embed([text])[0]
            self.notes.append(f"embed({text!r}) -> {model_name} ({model.dim}-d), resolved once")
        return self._vectors[key]


def resolve(
    tree: exp.Query,
    settings: Settings,
    catalog: Catalog | None = None,
    *,
    bind: bool = True,
    vector_search: Callable[[exp.Table, VectorSearchArgs], exp.Expr | None] | None = None,
    copy: bool = True,
    check: bool = True,
) -> Resolved:
    """Expand ``vector_search``, bind catalog tables and vector columns, inline ``embed`` as constants.

    ``bind=False`` (transpiling) leaves tables unbound and reads the catalog only where a model or metric must be
    looked up; ``vector_search`` may give a target's own form for a call (None: the exact ORDER BY/LIMIT form).
    ``copy=False`` rewrites ``tree`` itself (for a caller that made it for this query alone). ``check=False`` skips
    the allow-list check of the tree, for a caller that checked it and bound only vectors into it since (a text can
    be a ``vector_search`` filter, which is SQL, and a number a ``k``, which has a ceiling).
    """
    r = Resolver(settings, catalog)
    if copy:
        tree = tree.copy()
    if check:
        check_query(tree)  # again after parameters were bound: a bound filter or k is checked like a written one
    out = Resolved(tree)
    # one walk of the tree, walked again only after a search expansion changed it (each walk costs ~0.05 ms)
    nodes = list(tree.walk())
    expanded = False
    for node in [n for n in nodes if isinstance(n, exp.Table)]:
        if isinstance(node.this, VectorSearch | HybridSearch) and has_time_travel(node):
            # the expansion would replace the node and its clause with it: a search of the current table
            name = "vector_search" if isinstance(node.this, VectorSearch) else "hybrid_search"
            raise SqlPlanError(
                f"{name}(...) cannot be read at a snapshot: its time-travel clause would be ignored",
                hint="put the clause on the table: SELECT ... FROM lake.<ns>.<table> AT (VERSION => <snapshot>) "
                "ORDER BY cosine_similarity(<column>, <vector>) DESC LIMIT <k>",
            )
        if isinstance(node.this, VectorSearch):
            args = vector_search_args(node, r)
            node.replace((vector_search and vector_search(node, args)) or _expand_vector_search(node, args, r))
            expanded = True
        elif isinstance(node.this, HybridSearch):
            node.replace(expand_hybrid_search(node, r, bind=bind))
            expanded = True
    if expanded:
        nodes = list(tree.walk())
    similarity = _vector_nodes()
    functions = [n for n in nodes if isinstance(n, similarity)]
    embeds = any(isinstance(n, Embed) for n in nodes)  # binding replaces them; none appear
    if not bind:
        for func in functions:
            _bind_function(func, tree, r, out)
        _no_embed_left(tree, r)
        out.notes.extend(r.notes)
        return out
    ctes = {c.alias_or_name.lower() for c in nodes if isinstance(c, exp.CTE)}
    for node in [n for n in nodes if isinstance(n, exp.Table)]:
        if not isinstance(node.this, exp.Identifier) or (not node.db and node.name.lower() in ctes):
            if has_time_travel(node):
                raise SqlPlanError(
                    f"{node.sql(DIALECT)}: only catalog tables can be read at a snapshot",
                    hint="put the time-travel clause on the catalog table inside the WITH clause",
                    table=node.name,
                )
            continue
        if node.catalog and node.catalog != settings.catalog.name:
            raise SqlPlanError(
                f"unknown catalog {node.catalog!r} in {node.sql(DIALECT)}",
                hint=f"tables live in catalog {settings.catalog.name!r}, e.g. "
                f"{settings.catalog.name}.{settings.namespace}.<table>",
                table=node.sql(DIALECT),
            )
        lake = r.table(".".join(p for p in (node.db, node.name) if p))
        node.meta["lake"] = lake
        travelled = resolve_time_travel(node, lake)
        if travelled:
            r.notes.append(travelled)
        if lake not in out.tables:
            out.tables.append(lake)
    for func in functions:
        _bind_function(func, tree, r, out)
    if embeds:
        _no_embed_left(tree, r)
    out.notes.extend(r.notes)
    return out


def _no_embed_left(tree: exp.Expr, r: Resolver | None = None) -> None:
    """An ``embed`` outside a similarity function: a constant vector (a text) or one per row (an expression) where
    the model is named, else an error (no column tells the model)."""
    for node in list(tree.find_all(Embed)):
        model = node.args.get("model")
        if model is not None and r is not None and not node.find_ancestor(VectorSearch):
            name = str(literal_value(model, "embed()'s model"))
            if is_constant_text(node.this):
                node.replace(vector_literal(r.embed(node.this.this, name, None, "the query")))
            else:
                node.replace(embed_rows(node.this, name, None, "the query"))
            continue
        raise SqlPlanError(
            f"{node.sql(DIALECT)} is not compared to a vector column, so its model is unknown",
            hint="name the model: embed('text', 'all-MiniLM-L6-v2'), or use it inside "
            "cosine_similarity(<vector column>, embed(...))",
        )


def _vector_nodes() -> tuple[type[exp.Expr], ...]:
    from lakehouse.sql.dialect import METRIC_OF

    return tuple(METRIC_OF)


def _bind_function(func: exp.Expr, tree: exp.Query, r: Resolver, out: Resolved) -> None:
    args = [func.this, func.expression]
    bound = [_vector_column(a, func, tree) for a in args]
    spec = next((b[1] for b in bound if b), None)
    where = next((f"{b[0].identifier}.{b[1].column}" for b in bound if b), "the other argument")
    for arg in args:
        if isinstance(arg, Embed):
            constant = is_constant_text(arg.this)
            text = str(literal_value(arg.this, "embed()'s text")) if constant else arg.this.sql(DIALECT)
            model = arg.args.get("model")
            name = str(literal_value(model, "embed()'s model")) if model else (spec.model if spec else None)
            if not name:
                raise ModelError(
                    f"{where} records no embedding model, so embed({text!r}) cannot choose one",
                    hint="name one: embed('text', 'all-MiniLM-L6-v2')",
                    model=None,
                )
            if not constant:  # a column or expression: one vector per row, embedded by the engine
                arg.replace(embed_rows(arg.this, name, spec, where))
                continue
            vec = r.embed(text, name, spec, where)
            arg.replace(vector_literal(vec))
    for arg in (func.this, func.expression):
        texts = vector_texts(arg)
        if texts is not None and spec is not None and len(texts) != spec.dim:
            raise SqlPlanError(
                f"{func.sql(DIALECT)[:80]}: the query vector has {len(texts)} values but {where} holds "
                f"{spec.dim}-d vectors",
                hint=f"pass {spec.dim} numbers",
                column=spec.column,
            )
        if isinstance(arg, ConstVector):  # a lifted literal or a bound parameter: the texts are already numbers
            arg.replace(exp.Cast(this=arg.copy(), to=float_array_type(len(arg.texts), DIALECT)))
        elif texts is not None and not isinstance(arg, exp.Cast):
            arg.replace(vector_literal(np.asarray([float(t) for t in texts], dtype=np.float32)))


def _vector_column(arg: exp.Expr, func: exp.Expr, tree: exp.Query) -> tuple[LakeTable, VectorSpec] | None:
    if not isinstance(arg, exp.Column):
        return None
    select = func.find_ancestor(exp.Select) or tree
    sources = _sources(select)
    if arg.table:
        candidates = [t for alias, t in sources if alias == arg.table.lower()]
    else:
        candidates = [t for _, t in sources if arg.name in t.columns]
    if len(candidates) != 1:
        return None
    lake = candidates[0]
    if arg.name not in lake.columns:
        raise SqlPlanError(
            f"table {lake.identifier} has no column {arg.name!r}",
            hint=f"columns: {', '.join(lake.columns)}",
            table=lake.identifier,
            column=arg.name,
        )
    if arg.name not in lake.specs:
        raise SqlPlanError(
            f"{lake.identifier}.{arg.name} is not a vector column",
            hint=f"vector columns: {', '.join(lake.specs) or 'none'}",
            table=lake.identifier,
            column=arg.name,
        )
    return lake, lake.specs[arg.name]


def _sources(select: exp.Expr) -> list[tuple[str, LakeTable]]:
    """(alias, table) of the catalog tables in this SELECT's FROM and JOINs."""
    nodes: Iterable[exp.Expr] = []
    if isinstance(select, exp.Select):
        frm = select.args.get("from_")
        nodes = [*([frm.this] if frm else []), *(j.this for j in select.args.get("joins") or [])]
    return [(n.alias_or_name.lower(), n.meta["lake"]) for n in nodes if isinstance(n, exp.Table) and "lake" in n.meta]


@dataclass(frozen=True)
class VectorSearchArgs:
    table: str  # as written in the call
    column: str
    query: exp.Expr  # a constant vector (embed resolved)
    k: int
    filter: exp.Expr | None
    metric: str


def vector_search_args(node: exp.Table, r: Resolver) -> VectorSearchArgs:
    vs: VectorSearch = node.this
    name = str(literal_value(vs.args["table"], "vector_search's table"))
    column = str(literal_value(vs.args["column"], "vector_search's column"))
    k = literal_value(vs.args["k"], "vector_search's k")
    if not isinstance(k, int) or k < 1:
        raise SqlError(f"vector_search's k must be a positive integer, got {k!r}", hint="k => 10")
    metric = str(literal_value(vs.args["metric"], "metric")) if vs.args.get("metric") else None
    query = vs.args["query"].copy()
    spec = None
    if metric is None or (isinstance(query, Embed) and not query.args.get("model")) or r._catalog is not None:
        lake = r.table(name)
        if column not in lake.specs:
            raise SqlPlanError(
                f"{lake.identifier}.{column} is not a vector column",
                hint=f"vector columns: {', '.join(lake.specs) or 'none'}",
                table=lake.identifier,
                column=column,
            )
        spec = lake.specs[column]
        metric = metric or spec.metric
    if metric not in METRICS:
        raise SqlError(f"vector_search: unknown metric {metric!r}", hint=f"use one of {', '.join(METRICS)}")
    if isinstance(query, Embed):
        text = str(literal_value(query.this, "embed()'s text"))
        model = str(literal_value(query.args["model"], "embed()'s model")) if query.args.get("model") else None
        model = model or (spec.model if spec else None)
        if not model:
            raise ModelError(
                f"{name}.{column} records no embedding model, so embed({text!r}) cannot choose one",
                hint="name one: embed('text', 'all-MiniLM-L6-v2')",
                model=None,
            )
        query = vector_literal(r.embed(text, model, spec, f"{name}.{column}"))
    values = vector_values(query)
    if values is None:
        raise SqlError(
            "vector_search's query must be embed('text') or a constant vector",
            hint="query => embed('refund policy') or query => [0.1, 0.2, ...]",
        )
    if spec is not None and len(values) != spec.dim:
        raise SqlPlanError(
            f"vector_search: the query vector has {len(values)} values but {name}.{column} holds {spec.dim}-d vectors",
            hint=f"pass {spec.dim} numbers",
            column=column,
        )
    flt = None
    if vs.args.get("filter"):
        text = str(literal_value(vs.args["filter"], "vector_search's filter"))
        try:
            flt = exp.condition(text, dialect=DIALECT)
        except Exception as exc:
            raise SqlParseError(
                f"vector_search's filter does not parse: {text!r}",
                hint='write a SQL predicate, e.g. "chunk_index = 0"',
                line=1,
                column=1,
                text=text,
                highlight=text,
            ) from exc
    return VectorSearchArgs(name, column, query, k, flt, metric)


def _expand_vector_search(node: exp.Table, a: VectorSearchArgs, r: Resolver) -> exp.Expr:
    """The exact form: ``(SELECT *, <score> AS score FROM t WHERE filter ORDER BY score DESC LIMIT k)``."""
    func = _SCORE_OF[a.metric](this=exp.column(a.column), expression=a.query.copy())
    score: exp.Expr = exp.Neg(this=func) if a.metric == "l2" else func
    select = exp.select("*", exp.alias_(score, SCORE)).from_(exp.to_table(a.table, dialect=DIALECT))
    if a.filter is not None:
        select = select.where(a.filter.copy())
    select = select.order_by(exp.Ordered(this=exp.column(SCORE), desc=True)).limit(a.k)
    return exp.Subquery(this=select, alias=exp.TableAlias(this=exp.to_identifier(node.alias or "vector_search")))


def vector_values(node: exp.Expr) -> list[float] | None:
    """The numbers of a constant vector (``[..]`` or ``[..]::FLOAT[n]``), else None."""
    texts = vector_texts(node)
    return None if texts is None else [float(t) for t in texts]


def vector_array(node: exp.Expr) -> np.ndarray | None:
    """The numbers of a constant vector as float32, else None."""
    texts = vector_texts(node)
    return None if texts is None else float32_values(texts)


def vector_texts(node: exp.Expr) -> tuple[str, ...] | None:
    """The numbers of a constant vector as SQL text (as written), else None."""
    if isinstance(node, exp.Cast):
        node = node.this
    if isinstance(node, ConstVector):
        return node.texts or None
    if not isinstance(node, exp.Array) or not node.expressions:
        return None
    texts = []
    for e in node.expressions:
        negated = isinstance(e, exp.Neg)
        lit = e.this if negated else e
        if not isinstance(lit, exp.Literal) or lit.is_string:
            return None
        texts.append(("-" if negated else "") + str(lit.this))
    return tuple(texts)


def vector_literal(values: np.ndarray) -> exp.Cast:
    """``[v0, v1, ...]::FLOAT[n]``, each float32 printed with the fewest digits that round-trip (what transpiled SQL
    shows for an ``embed(...)``; a bound vector is written faster: :func:`~lakehouse.sql.dialect.float32_texts`)."""
    v = np.asarray(values, dtype=np.float32)
    texts = tuple(np.format_float_positional(x, unique=True, trim="-") for x in v)
    return exp.Cast(this=ConstVector(values=texts), to=float_array_type(len(v), DIALECT))


def is_similarity(node: exp.Expr) -> bool:
    return is_vector_function(node)
