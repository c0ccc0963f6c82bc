"""A small store of OpenLineage events (SQLAlchemy Core: SQLite by default, PostgreSQL like the catalog).

Two tables: ``lineage_events`` (one row per event: run id, job, event type, event time, the JSON) and
``lineage_event_datasets`` (which datasets an event names as input or output), so "the runs that touched
``docs.embeddings``" is an indexed lookup. Adding the same event twice is a no-op (events are keyed by the sha256 of
their canonical JSON), so reloading a JSONL file or receiving an event both by file and by HTTP is harmless.

    >>> store = LineageStore("sqlite://")
    >>> store.add('{"eventType": "START", "eventTime": "2026-01-01T00:00:00Z", '
    ...           '"run": {"runId": "01890a5d-ac96-774b-bcce-b302099a8057"}, '
    ...           '"job": {"namespace": "lakehouse", "name": "embed_table"}, "producer": "x", "schemaURL": "x"}')
    True
    >>> [r.state for r in store.runs()]
    ['START']
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from lakehouse.errors import LineageError

__all__ = ["LineageStore", "RunRecord", "load_events", "load_jsonl", "parse_event", "service_store_url"]

_META = sa.MetaData()
EVENTS = sa.Table(
    "lineage_events",
    _META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("run_id", sa.String(64), nullable=False, index=True),
    sa.Column("job_namespace", sa.String(512), nullable=False),
    sa.Column("job_name", sa.String(512), nullable=False, index=True),
    sa.Column("event_type", sa.String(16), nullable=True),
    sa.Column("event_time", sa.String(64), nullable=False),
    sa.Column("parent_run_id", sa.String(64), nullable=True),
    sa.Column("payload", sa.Text, nullable=False),
)
EVENT_DATASETS = sa.Table(
    "lineage_event_datasets",
    _META,
    sa.Column("event_id", sa.Integer, sa.ForeignKey("lineage_events.id"), nullable=False, index=True),
    sa.Column("role", sa.String(8), nullable=False),  # input | output
    sa.Column("namespace", sa.String(1024), nullable=False),
    sa.Column("name", sa.String(1024), nullable=False, index=True),
)
_TERMINAL = {"COMPLETE", "FAIL", "ABORT"}


def parse_event(event: str | bytes | Mapping[str, Any]) -> dict[str, Any]:
    """Parse and check the fields the store relies on; raise :class:`LineageError` naming what is missing."""
    if isinstance(event, (str, bytes)):
        try:
            event = json.loads(event)
        except json.JSONDecodeError as exc:
            raise LineageError(f"lineage event is not valid JSON: {exc}") from exc
    if not isinstance(event, Mapping):
        raise LineageError(f"lineage event must be a JSON object, got {type(event).__name__}")
    data = dict(event)
    problems = []
    run, job = data.get("run"), data.get("job")
    if not isinstance(run, Mapping) or not isinstance(run.get("runId"), str):
        problems.append("run.runId")
    if not isinstance(job, Mapping) or not all(isinstance(job.get(k), str) for k in ("namespace", "name")):
        problems.append("job.namespace/job.name")
    if not isinstance(data.get("eventTime"), str):
        problems.append("eventTime")
    if problems:
        raise LineageError(
            f"lineage event lacks {', '.join(problems)}",
            hint="send an OpenLineage RunEvent (https://openlineage.io/spec/2-0-2/OpenLineage.json)",
        )
    return data


@dataclass(frozen=True)
class RunRecord:
    """A run as the store sees it: its state is the latest event's type, start/end come from START/terminal events."""

    run_id: str
    job_namespace: str
    job_name: str
    state: str | None
    started_at: str | None
    ended_at: str | None
    parent_run_id: str | None
    parameters: dict[str, str | None] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self, *, with_events: bool = True) -> dict[str, Any]:
        out = asdict(self)
        if not with_events:
            out.pop("events")
        return out


def _parent_run_id(event: Mapping[str, Any]) -> str | None:
    facets = (event.get("run") or {}).get("facets") or {}
    run_id = ((facets.get("parent") or {}).get("run") or {}).get("runId")
    return run_id if isinstance(run_id, str) else None


def _parameters(events: Iterable[Mapping[str, Any]]) -> dict[str, str | None]:
    params: dict[str, str | None] = {}
    for e in events:
        facet = ((e.get("run") or {}).get("facets") or {}).get("executionParameters") or {}
        for p in facet.get("parameters") or []:
            params[p["key"]] = p.get("value")
    return params


class LineageStore:
    """Events by run, job and dataset. ``url`` is a SQLAlchemy URL (``sqlite://`` is in memory)."""

    def __init__(self, url: str = "sqlite://") -> None:
        if url in ("sqlite://", "sqlite:///:memory:"):
            # one shared connection, so every thread (FastAPI's pool) sees the same in-memory database
            self.engine = sa.create_engine(url, poolclass=sa.pool.StaticPool, connect_args={"check_same_thread": False})
        else:
            if url.startswith("sqlite:///"):
                Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
            self.engine = sa.create_engine(url)
        _META.create_all(self.engine)

    @classmethod
    def for_settings(cls, settings: Any) -> LineageStore:
        """The store beside the catalog database: ``<state_dir>/lineage.db``."""
        return cls(f"sqlite:///{settings.state_dir / 'lineage.db'}")

    # -- writes ---------------------------------------------------------------------------------------------------
    def add(self, event: str | bytes | Mapping[str, Any]) -> bool:
        """Store one event; False when the very same event was already stored."""
        data = parse_event(event)
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
        parent = _parent_run_id(data)
        with self.engine.begin() as conn:
            exists = conn.execute(sa.select(EVENTS.c.id).where(EVENTS.c.event_hash == digest)).first()
            if exists:
                return False
            inserted = conn.execute(
                EVENTS.insert().values(
                    event_hash=digest,
                    run_id=data["run"]["runId"],
                    job_namespace=data["job"]["namespace"],
                    job_name=data["job"]["name"],
                    event_type=data.get("eventType"),
                    event_time=data["eventTime"],
                    parent_run_id=parent,
                    payload=canonical,
                )
            ).inserted_primary_key
            assert inserted is not None  # a one-row INSERT has a primary key
            event_id = inserted[0]
            rows = [
                {"event_id": event_id, "role": role, "namespace": d.get("namespace", ""), "name": d.get("name", "")}
                for role in ("input", "output")
                for d in data.get(f"{role}s") or []
                if isinstance(d, Mapping)
            ]
            if rows:
                conn.execute(EVENT_DATASETS.insert(), rows)
        return True

    def add_many(self, events: Iterable[str | bytes | Mapping[str, Any]]) -> int:
        return sum(self.add(e) for e in events)

    # -- reads ----------------------------------------------------------------------------------------------------
    def _events(self, where: Any) -> list[dict[str, Any]]:
        query = sa.select(EVENTS.c.payload).where(where).order_by(EVENTS.c.event_time, EVENTS.c.id)
        with self.engine.connect() as conn:
            return [json.loads(p) for (p,) in conn.execute(query)]

    def run(self, run_id: str) -> RunRecord | None:
        events = self._events(EVENTS.c.run_id == run_id)
        return self._record(run_id, events) if events else None

    def runs(self, job: str | None = None) -> list[RunRecord]:
        """Every run (of ``job`` when given), oldest first."""
        query = sa.select(EVENTS.c.run_id).group_by(EVENTS.c.run_id).order_by(sa.func.min(EVENTS.c.event_time))
        if job is not None:
            query = query.where(EVENTS.c.job_name == job)
        with self.engine.connect() as conn:
            run_ids = [r for (r,) in conn.execute(query)]
        out = []
        for run_id in run_ids:
            record = self.run(run_id)
            if record is not None:
                out.append(record)
        return out

    def events(self, job: str | None = None) -> list[dict[str, Any]]:
        """Every stored event (of ``job`` when given), oldest first."""
        return self._events(sa.true() if job is None else EVENTS.c.job_name == job)

    def events_for_dataset(self, name: str, namespace: str | None = None) -> list[dict[str, Any]]:
        """Every event naming dataset ``name`` (e.g. ``docs.embeddings``) as an input or output, oldest first."""
        ids = sa.select(EVENT_DATASETS.c.event_id).where(EVENT_DATASETS.c.name == name)
        if namespace is not None:
            ids = ids.where(EVENT_DATASETS.c.namespace == namespace)
        return self._events(EVENTS.c.id.in_(ids))

    @staticmethod
    def _record(run_id: str, events: list[dict[str, Any]]) -> RunRecord:
        start = next((e["eventTime"] for e in events if e.get("eventType") == "START"), None)
        end = next((e["eventTime"] for e in reversed(events) if e.get("eventType") in _TERMINAL), None)
        last = events[-1]
        parent = next((p for e in events if (p := _parent_run_id(e))), None)
        return RunRecord(
            run_id=run_id,
            job_namespace=last["job"]["namespace"],
            job_name=last["job"]["name"],
            state=last.get("eventType"),
            started_at=start,
            ended_at=end,
            parent_run_id=parent,
            parameters=_parameters(events),
            events=events,
        )

    def close(self) -> None:
        self.engine.dispose()


def load_jsonl(path: str | Path, store: LineageStore | None = None) -> LineageStore:
    """Read a JSONL file of events (the file transport's output) into ``store`` (default: a new in-memory store).

    A missing file gives an empty store; a line that is not an event raises :class:`LineageError` with its number.
    """
    store = store or LineageStore()
    path = Path(path)
    if not path.is_file():
        return store
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                store.add(line)
            except LineageError as exc:
                raise LineageError(f"{path}:{number}: {exc.message}", hint=exc.hint) from exc
    return store


def service_store_url(catalog_database_url: str) -> str:
    """Where the catalog service keeps lineage: ``lineage.db`` beside a SQLite ``catalog.db``, else the same database.

    >>> service_store_url("sqlite:////srv/state/catalog.db")
    'sqlite:////srv/state/lineage.db'
    """
    if catalog_database_url.startswith("sqlite:///") and catalog_database_url != "sqlite:///:memory:":
        return f"sqlite:///{Path(catalog_database_url[len('sqlite:///') :]).parent / 'lineage.db'}"
    if catalog_database_url.startswith("sqlite:"):
        return "sqlite://"
    return catalog_database_url


def load_events(settings: Any) -> LineageStore:
    """Every event this installation knows: the JSONL file of ``settings`` plus the local catalog service's store.

    Returns a new in-memory store (duplicates, e.g. an event both written to the file and posted, count once).
    """
    store = load_jsonl(settings.lineage_path)
    url = service_store_url(settings.catalog_database)
    if url.startswith("sqlite:///") and Path(url[len("sqlite:///") :]).is_file():
        service = LineageStore(url)
        try:
            store.add_many(service.events())
        finally:
            service.close()
    return store
