"""The lineage graph a reviewer looks at: datasets, jobs and runs from the stored events, laid out for a page.

``LineageGraph.from_store(store)`` folds OpenLineage events into nodes (datasets with the snapshot versions that runs
read or wrote, jobs with their runs) and edges (input, output, parent run). ``layout()`` places them in layers, data
flowing left to right, in plain Python, so the page needs no layout library. ``graph_html`` renders the
self-contained review page (:mod:`~lakehouse.lineage.page`) with an index of embedding ids for its search box.

Example::

    from lakehouse.lineage import LineageStore, load_jsonl
    from lakehouse.lineage.graph import LineageGraph, graph_html
    html = graph_html(LineageGraph.from_store(load_jsonl(settings.lineage_path)))
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from lakehouse.lineage.page import GAP_X, GAP_Y, MARGIN, NODE_H, NODE_W, render

if TYPE_CHECKING:
    from pyiceberg.table import Table

    from lakehouse.lineage.store import LineageStore, RunRecord

__all__ = [
    "DatasetNode",
    "Edge",
    "EmbeddingIndex",
    "JobNode",
    "LineageGraph",
    "RunSummary",
    "embedding_index",
    "graph_html",
    "lineage_page",
]

EdgeKind = Literal["input", "output", "parent"]
# the lineage columns an embeddings table carries; a dataset whose schema has them gets indexed for search
EMBEDDING_FIELDS = ("embedding_id", "source_table", "source_key", "source_snapshot_id", "chunk_start", "chunk_end")


@dataclass
class DatasetNode:
    id: str
    namespace: str
    name: str
    versions: list[dict[str, Any]] = field(default_factory=list)  # {version, run_id, job, time, role, rows}
    fields: list[str] = field(default_factory=list)
    vectors: list[dict[str, Any]] = field(default_factory=list)
    column_lineage: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def latest_version(self) -> str | None:
        return self.versions[-1]["version"] if self.versions else None

    @property
    def is_embeddings(self) -> bool:
        return all(f in self.fields for f in EMBEDDING_FIELDS)


@dataclass
class RunSummary:
    run_id: str
    job_id: str
    job: str
    state: str | None
    started_at: str | None
    ended_at: str | None
    parent_run_id: str | None
    parameters: dict[str, str | None]
    inputs: list[dict[str, Any]]  # {dataset, version}
    outputs: list[dict[str, Any]]  # {dataset, version, rows}
    error: str | None = None


@dataclass
class JobNode:
    id: str
    namespace: str
    name: str
    runs: list[RunSummary] = field(default_factory=list)


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    kind: EdgeKind


def _dataset_id(namespace: str, name: str) -> str:
    return f"dataset:{namespace}/{name}"


def _version(dataset: Mapping[str, Any]) -> str | None:
    version = ((dataset.get("facets") or {}).get("version") or {}).get("datasetVersion")
    return str(version) if version is not None else None


@dataclass
class LineageGraph:
    datasets: dict[str, DatasetNode] = field(default_factory=dict)
    jobs: dict[str, JobNode] = field(default_factory=dict)
    runs: list[RunSummary] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)

    @classmethod
    def from_store(cls, store: LineageStore, *, job: str | None = None) -> LineageGraph:
        graph = cls()
        for record in store.runs(job):
            graph._add_run(record)
        graph.edges = sorted(set(graph.edges), key=lambda e: (e.kind, e.source, e.target))
        return graph

    def _dataset(self, d: Mapping[str, Any]) -> DatasetNode:
        ns, name = str(d.get("namespace", "")), str(d.get("name", ""))
        node = self.datasets.setdefault(_dataset_id(ns, name), DatasetNode(_dataset_id(ns, name), ns, name))
        facets = d.get("facets") or {}
        fields = (facets.get("schema") or {}).get("fields")
        if fields:
            node.fields = [str(f.get("name")) for f in fields]
        vectors = (facets.get("lakehouse_vectorSpec") or {}).get("vectors")
        if vectors:
            node.vectors = list(vectors)
        for column, lineage in ((facets.get("columnLineage") or {}).get("fields") or {}).items():
            node.column_lineage[column] = [
                {
                    "dataset": _dataset_id(i.get("namespace", ""), i.get("name", "")),
                    "name": i.get("name"),
                    "field": i.get("field"),
                    "transformations": [
                        " ".join(str(t.get(k)) for k in ("type", "subtype") if t.get(k))
                        + (f": {t['description']}" if t.get("description") else "")
                        for t in i.get("transformations") or []
                    ],
                }
                for i in lineage.get("inputFields") or []
            ]
        return node

    def _add_run(self, record: RunRecord) -> None:
        job_id = f"job:{record.job_namespace}/{record.job_name}"
        job = self.jobs.setdefault(job_id, JobNode(job_id, record.job_namespace, record.job_name))
        inputs: dict[str, str | None] = {}
        outputs: dict[str, tuple[str | None, Any]] = {}
        error = None
        for event in record.events:
            for d in event.get("inputs") or []:
                node = self._dataset(d)
                inputs[node.id] = _version(d) or inputs.get(node.id)
            for d in event.get("outputs") or []:
                node = self._dataset(d)
                rows = ((d.get("outputFacets") or {}).get("outputStatistics") or {}).get("rowCount")
                outputs[node.id] = (_version(d), rows)
            message = ((event.get("run") or {}).get("facets") or {}).get("errorMessage")
            if message:
                error = message.get("message")
        end_time = record.ended_at or record.started_at
        for dataset_id, version in inputs.items():
            self.edges.append(Edge(dataset_id, job_id, "input"))
            self._note_version(dataset_id, version, record, "read", None, record.started_at)
        for dataset_id, (version, rows) in outputs.items():
            self.edges.append(Edge(job_id, dataset_id, "output"))
            if record.state not in ("FAIL", "ABORT"):  # a failed run committed nothing
                self._note_version(dataset_id, version, record, "wrote", rows, end_time)
        summary = RunSummary(
            run_id=record.run_id,
            job_id=job_id,
            job=record.job_name,
            state=record.state,
            started_at=record.started_at,
            ended_at=record.ended_at,
            parent_run_id=record.parent_run_id,
            parameters=dict(record.parameters),
            inputs=[{"dataset": k, "version": v} for k, v in inputs.items()],
            outputs=[{"dataset": k, "version": v, "rows": r} for k, (v, r) in outputs.items()],
            error=error,
        )
        job.runs.append(summary)
        self.runs.append(summary)
        parent = next((r for r in self.runs if r.run_id == record.parent_run_id), None)
        if parent is not None:
            self.edges.append(Edge(parent.job_id, job_id, "parent"))

    def _note_version(
        self, dataset_id: str, version: str | None, record: RunRecord, role: str, rows: Any, time: str | None
    ) -> None:
        if version is None:
            return
        node = self.datasets[dataset_id]
        if any(v["version"] == version and v["role"] == "wrote" for v in node.versions):
            return
        node.versions = [v for v in node.versions if v["version"] != version]  # a write explains a later read
        node.versions.append(
            {
                "version": version,
                "run_id": record.run_id,
                "job": record.job_name,
                "role": role,
                "rows": rows,
                "time": time,
            }
        )

    def embedding_tables(self, namespace: str) -> list[str]:
        """Names of the embeddings tables (by their lineage columns) among the datasets of ``namespace``."""
        return sorted(d.name for d in self.datasets.values() if d.namespace == namespace and d.is_embeddings)

    # -- layout -------------------------------------------------------------------------------------------------
    def layout(self) -> dict[str, tuple[int, int]]:
        """``{node id: (x, y)}``: layers by longest path over the data-flow edges, ordered by barycenters."""
        nodes = sorted(self.datasets) + sorted(self.jobs)
        succ: dict[str, list[str]] = defaultdict(list)
        for e in self.edges:
            if e.kind != "parent":
                succ[e.source].append(e.target)
        acyclic = _drop_back_edges(nodes, succ)
        layer = dict.fromkeys(nodes, 0)
        for n in _topological(nodes, acyclic):
            for m in acyclic[n]:
                layer[m] = max(layer[m], layer[n] + 1)
        layers: dict[int, list[str]] = defaultdict(list)
        for n in nodes:
            layers[layer[n]].append(n)
        pred: dict[str, list[str]] = defaultdict(list)
        for n, targets in acyclic.items():
            for m in targets:
                pred[m].append(n)
        order = {n: i for column in layers.values() for i, n in enumerate(column)}
        for sweep in range(4):  # alternate downward and upward barycenter passes
            keys = sorted(layers) if sweep % 2 == 0 else sorted(layers, reverse=True)
            for k in keys:
                near = pred if sweep % 2 == 0 else acyclic
                layers[k].sort(key=lambda n: _barycenter([order[m] for m in near[n]], order[n]))
                order.update({n: i for i, n in enumerate(layers[k])})
        tallest = max((len(c) for c in layers.values()), default=0)
        positions = {}
        for k, column in layers.items():
            offset = (tallest - len(column)) * (NODE_H + GAP_Y) // 2
            for i, n in enumerate(column):
                positions[n] = (MARGIN + k * (NODE_W + GAP_X), MARGIN + offset + i * (NODE_H + GAP_Y))
        return positions

    def to_dict(self) -> dict[str, Any]:
        datasets = [
            {**asdict(d), "is_embeddings": d.is_embeddings, "latest_version": d.latest_version}
            for d in self.datasets.values()
        ]
        jobs = [
            {"id": j.id, "namespace": j.namespace, "name": j.name, "runs": [r.run_id for r in j.runs]}
            for j in self.jobs.values()
        ]
        return {
            "datasets": datasets,
            "jobs": jobs,
            "runs": [asdict(r) for r in self.runs],
            "edges": [asdict(e) for e in self.edges],
        }


def _drop_back_edges(nodes: list[str], succ: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """The edges minus those closing a cycle (found by an iterative depth-first search)."""
    out: dict[str, list[str]] = {n: [] for n in nodes}
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    for root in nodes:
        if root in state:
            continue
        stack = [(root, iter(sorted(set(succ.get(root, [])))))]
        state[root] = 1
        while stack:
            n, children = stack[-1]
            m = next(children, None)
            if m is None:
                state[n] = 2
                stack.pop()
            elif state.get(m) != 1:  # an edge to a node on the stack would close a cycle
                out[n].append(m)
                if m not in state:
                    state[m] = 1
                    stack.append((m, iter(sorted(set(succ.get(m, []))))))
    return out


def _topological(nodes: list[str], succ: Mapping[str, list[str]]) -> list[str]:
    indegree = dict.fromkeys(nodes, 0)
    for targets in succ.values():
        for m in targets:
            indegree[m] += 1
    ready = [n for n in nodes if indegree[n] == 0]
    out = []
    while ready:
        n = ready.pop(0)
        out.append(n)
        for m in succ[n]:
            indegree[m] -= 1
            if indegree[m] == 0:
                ready.append(m)
    return out


def _barycenter(positions: list[int], default: int) -> float:
    return sum(positions) / len(positions) if positions else float(default)


# -- the embedding index behind the search box --------------------------------------------------------------------
@dataclass(frozen=True)
class EmbeddingIndex:
    """``embedding_id -> where it came from`` for the page's search box, at most ``limit`` rows in all."""

    rows: dict[str, list[Any]]  # id -> [table, source_table, source_key, snapshot, chunk_index, start, end, preview]
    totals: dict[str, int | None]  # embeddings table -> its row count
    limit: int
    notes: tuple[str, ...] = ()

    @property
    def capped(self) -> bool:
        return len(self.rows) < sum(t or 0 for t in self.totals.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "totals": self.totals,
            "limit": self.limit,
            "capped": self.capped,
            "notes": list(self.notes),
        }


PREVIEW_CHARS = 160


def embedding_index(names: Iterable[str], load: Callable[[str], Table], *, limit: int = 5000) -> EmbeddingIndex:
    """Read the lineage columns of each embeddings table ``names`` (``load(name)`` gives its pyiceberg table).

    A table that cannot be loaded is named in ``notes`` rather than failing the page.
    """
    rows: dict[str, list[Any]] = {}
    totals: dict[str, int | None] = {}
    notes: list[str] = []
    columns = (*EMBEDDING_FIELDS, "chunk_index", "chunk_text")
    for name in names:
        try:
            table = load(name)
            snapshot = table.current_snapshot()
            summary = snapshot.summary.additional_properties if snapshot is not None and snapshot.summary else {}
            totals[name] = int(summary.get("total-records", 0)) if snapshot is not None else 0
            remaining = limit - len(rows)
            if remaining <= 0 or snapshot is None:
                continue
            present = set(table.schema().column_names)
            wanted = tuple(c for c in columns if c in present)
            data = table.scan(selected_fields=wanted, limit=remaining).to_arrow().to_pylist()
        except Exception as exc:  # a dropped or unreadable table must not break the page
            notes.append(f"{name}: not indexed ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})")
            continue
        for r in data:
            preview = " ".join((r.get("chunk_text") or "").split())
            rows[r["embedding_id"]] = [
                name,
                r["source_table"],
                r["source_key"],
                str(r["source_snapshot_id"]),
                r.get("chunk_index"),
                r["chunk_start"],
                r["chunk_end"],
                preview[:PREVIEW_CHARS] + ("..." if len(preview) > PREVIEW_CHARS else ""),
            ]
    return EmbeddingIndex(rows, totals, limit, tuple(notes))


def graph_html(graph: LineageGraph, index: EmbeddingIndex | None = None, *, title: str = "lakehouse lineage") -> str:
    """The self-contained review page (inline CSS, JS and SVG; nothing is fetched)."""
    return render(graph, index or EmbeddingIndex({}, {}, 0), title=title)


def lineage_page(
    store: LineageStore,
    *,
    load: Callable[[str], Table] | None = None,
    namespace: str | None = None,
    limit: int = 5000,
    title: str = "lakehouse lineage",
) -> str:
    """The page for every event in ``store``; with ``load`` and the warehouse ``namespace``, embedding ids too."""
    graph = LineageGraph.from_store(store)
    index = None
    if load is not None and namespace is not None:
        index = embedding_index(graph.embedding_tables(namespace), load, limit=limit)
    return graph_html(graph, index, title=title)
