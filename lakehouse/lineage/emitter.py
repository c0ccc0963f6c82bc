"""``LineageEmitter``: START on entering a job, COMPLETE on leaving it, FAIL (with the error) when it raises.

Where events go is decided by :mod:`lakehouse.lineage.transports` (OpenLineage's own configuration first, then
the embedded default).

START is delivered on a background thread while the job works; COMPLETE, FAIL and ABORT first wait for it (events of
a run always arrive in order) and are delivered before ``run`` returns, so a finished job's lineage is already stored.
Measured on small jobs, the synchronous START post was a third of lineage's cost (BENCHMARKS.md, lineage overhead).

A lineage problem never fails a job: emission errors are logged as warnings. ``strict=True`` (for tests) raises
:class:`~lakehouse.errors.LineageError` instead, and also validates every event against the OpenLineage JSON schemas
(:mod:`lakehouse.lineage.validate`) before it is sent.

Example::

    emitter = LineageEmitter.from_settings(settings)
    with emitter.run("embed_table", inputs=[iceberg_input(src, settings)], params=asdict(params)) as run:
        ...                                   # START was emitted; write run.run_id into the run_id column
        run.add_output(iceberg_output(out, settings, extra_facets={"columnLineage": lineage}))
    # COMPLETE here; FAIL with the exception (which propagates) if the block raised
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lakehouse.lineage.facets as f
from lakehouse.errors import LineageError
from lakehouse.lineage.events import EventType, new_run_id, run_event, to_dict
from lakehouse.lineage.transports import disabled, embedded_transports, openlineage_config

if TYPE_CHECKING:
    from openlineage.client.event_v2 import InputDataset, OutputDataset, RunEvent
    from openlineage.client.facet_v2 import JobFacet, RunFacet
    from openlineage.client.transport import Transport

    from lakehouse.config import Settings

__all__ = ["LineageEmitter", "LineageRun", "ParentRef"]

log = logging.getLogger(__name__)


# -- runs ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ParentRef:
    """A parent run by id, for chains that cross processes (a CLI run that launches ``spark-submit`` jobs)."""

    run_id: str
    job_name: str
    namespace: str
    root: tuple[str, str, str] | None = None  # (run_id, namespace, job_name) of the chain's first run

    @property
    def chain_root(self) -> tuple[str, str, str]:
        return self.root or (self.run_id, self.namespace, self.job_name)


class LineageRun:
    """One job run inside :meth:`LineageEmitter.run`: its id, and the outputs and facets known by its end."""

    def __init__(
        self,
        run_id: str,
        job_name: str,
        namespace: str,
        *,
        parent: LineageRun | ParentRef | None,
        inputs: Sequence[InputDataset],
        run_facets: Mapping[str, RunFacet],
        job_facets: Mapping[str, JobFacet],
    ) -> None:
        self.run_id = run_id
        self.job_name = job_name
        self.namespace = namespace
        self.parent = parent
        self.inputs: list[InputDataset] = list(inputs)
        self.outputs: list[OutputDataset] = []
        self.run_facets: dict[str, RunFacet] = dict(run_facets)
        self.job_facets: dict[str, JobFacet] = dict(job_facets)
        self.events: list[dict[str, Any]] = []  # what was emitted, as JSON objects
        if parent is not None:
            self.run_facets["parent"] = f.parent_facet(
                parent.run_id, parent.namespace, parent.job_name, root=parent.chain_root
            )

    @property
    def chain_root(self) -> tuple[str, str, str]:
        return self.parent.chain_root if self.parent is not None else (self.run_id, self.namespace, self.job_name)

    def ref(self) -> ParentRef:
        """This run as a :class:`ParentRef` to hand to a child job in another process."""
        return ParentRef(self.run_id, self.job_name, self.namespace, self.chain_root)

    def add_input(self, dataset: InputDataset) -> None:
        self.inputs.append(dataset)

    def add_output(self, dataset: OutputDataset) -> None:
        self.outputs.append(dataset)

    def add_facet(self, name: str, facet: RunFacet) -> None:
        """A run facet for the COMPLETE/FAIL event (e.g. statistics known only at the end)."""
        self.run_facets[name] = facet

    def event(self, event_type: EventType, *, extra: Mapping[str, RunFacet] | None = None) -> RunEvent:
        end = event_type != "START"
        return run_event(
            event_type,
            run_id=self.run_id,
            job_name=self.job_name,
            job_namespace=self.namespace,
            inputs=self.inputs,
            outputs=self.outputs if end else [],
            run_facets={**self.run_facets, **(extra or {})},
            job_facets=self.job_facets,
        )

    def __repr__(self) -> str:
        return f"LineageRun({self.namespace}/{self.job_name}, run_id={self.run_id})"


class LineageEmitter:
    """Sends OpenLineage RunEvents to the configured transports; see the module docstring for the precedence."""

    def __init__(
        self, transports: Sequence[Transport] = (), *, namespace: str = "lakehouse", strict: bool = False
    ) -> None:
        self.transports = list(transports)
        self.namespace = namespace
        self.strict = strict
        self._sender: ThreadPoolExecutor | None = None
        self._pending: list[tuple[Future[list[str]], RunEvent, LineageRun | None, dict[str, Any]]] = []

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        environ: Mapping[str, str] | None = None,
        strict: bool = False,
        cwd: Path | None = None,
    ) -> LineageEmitter:
        env = os.environ if environ is None else environ
        namespace = settings.lineage.namespace
        if disabled(env) or settings.lineage.transport == "none":
            return cls([], namespace=namespace, strict=strict)
        config = openlineage_config(env, cwd=cwd)
        transport = (config or {}).get("transport")
        if isinstance(transport, dict) and transport.get("type"):
            from openlineage.client.transport import get_default_factory

            try:
                return cls([get_default_factory().create(transport)], namespace=namespace, strict=strict)
            except Exception as exc:  # a bad user config must not fail the job either
                if strict:
                    raise LineageError(f"invalid OpenLineage transport config {transport!r}: {exc}") from exc
                log.warning("lineage disabled: invalid OpenLineage transport config (%s)", exc)
                return cls([], namespace=namespace, strict=strict)
        if settings.lineage.transport == "file":
            settings.lineage_path.parent.mkdir(parents=True, exist_ok=True)
        return cls(embedded_transports(settings), namespace=namespace, strict=strict)

    @property
    def enabled(self) -> bool:
        return bool(self.transports)

    def emit(self, event: RunEvent, *, payload: dict[str, Any] | None = None) -> bool:
        """Send ``event`` to every transport now; True when all took it. Failures warn (or raise when strict).

        Events queued in the background are delivered first, so the order of events is kept. ``payload`` is the
        event as JSON when the caller has it already (strict mode validates it).
        """
        self._check(event, payload)
        self.flush()
        return self._report(event, self._deliver(event))

    def emit_later(
        self, event: RunEvent, *, run: LineageRun | None = None, payload: dict[str, Any] | None = None
    ) -> None:
        """Queue ``event`` for a background thread; :meth:`flush` (or the next :meth:`emit`) waits for it."""
        if not self.transports:
            return
        payload = to_dict(event) if payload is None else payload
        self._check(event, payload)
        if self._sender is None:
            self._sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lineage")
        self._pending.append((self._sender.submit(self._deliver, event), event, run, payload))

    def flush(self, timeout: float = 60.0) -> bool:
        """Wait for the queued events; True when all were delivered. Failures warn (or raise when strict)."""
        ok = True
        while self._pending:
            future, event, run, payload = self._pending.pop(0)
            try:
                errors = future.result(timeout=timeout)
            except FutureTimeout:
                errors = [f"not delivered within {timeout:.0f} s"]
            if self._report(event, errors) and run is not None:
                run.events.append(payload)
            ok = ok and not errors
        return ok

    def _check(self, event: RunEvent, payload: dict[str, Any] | None) -> None:
        """Strict mode: validate the event (``payload``: its JSON, when already built) against the OpenLineage
        schemas before it goes anywhere."""
        if self.strict and self.transports:
            from lakehouse.lineage.validate import validate_event

            validate_event(to_dict(event) if payload is None else payload)

    def _deliver(self, event: RunEvent) -> list[str]:
        errors: list[str] = []
        for transport in self.transports:
            try:
                transport.emit(event)
            except Exception as exc:
                errors.append(f"{type(transport).__name__}: {exc}")
        return errors

    def _report(self, event: RunEvent, errors: list[str]) -> bool:
        if errors:
            state = getattr(event.eventType, "value", event.eventType)
            message = f"lineage event {state} for run {event.run.runId} not emitted: {'; '.join(errors)}"
            if self.strict:
                raise LineageError(message, hint="check the lineage transport configuration", run_id=event.run.runId)
            log.warning(message)
        return not errors

    @contextmanager
    def run(
        self,
        job_name: str,
        *,
        inputs: Sequence[InputDataset] = (),
        parent: LineageRun | ParentRef | None = None,
        job_facets: Mapping[str, JobFacet] | None = None,
        run_facets: Mapping[str, RunFacet] | None = None,
        params: Mapping[str, Any] | None = None,
        run_id: str | None = None,
    ) -> Iterator[LineageRun]:
        """Emit START now, then COMPLETE on normal exit or FAIL with the error (which propagates) on an exception.

        ``params`` become the standard ``executionParameters`` run facet; ``run_id`` defaults to a new UUIDv7.
        """
        facets = dict(run_facets or {})
        if params is not None:
            facets["executionParameters"] = f.parameters_facet(params)
        run = LineageRun(
            run_id or new_run_id(),
            job_name,
            self.namespace,
            parent=parent,
            inputs=inputs,
            run_facets=facets,
            job_facets={"jobType": f.job_type_facet(), **(job_facets or {})},
        )
        self._send(run, "START", wait=False)
        try:
            yield run
        except BaseException as exc:
            # an interrupt (Ctrl-C, SystemExit) aborts the run; an error fails it
            state: EventType = "FAIL" if isinstance(exc, Exception) else "ABORT"
            try:
                self._send(run, state, extra={"errorMessage": f.error_facet(exc)})
            except LineageError as emit_error:  # strict mode: keep the job's own error, note the lineage one
                exc.add_note(f"lineage: {emit_error.message}")
            raise
        self._send(run, "COMPLETE")

    def _send(
        self,
        run: LineageRun,
        event_type: EventType,
        *,
        extra: Mapping[str, RunFacet] | None = None,
        wait: bool = True,
    ) -> None:
        if not self.enabled:
            return
        try:
            event = run.event(event_type, extra=extra)
            payload = to_dict(event)
        except Exception as exc:  # a facet that cannot be built or serialised
            if self.strict:
                raise LineageError(f"cannot build the {event_type} event of {run}: {exc}") from exc
            log.warning("lineage %s event of %s not built: %s", event_type, run, exc)
            return
        if not wait:
            self.emit_later(event, run=run, payload=payload)
        elif self.emit(event, payload=payload):
            run.events.append(payload)

    def close(self) -> None:
        self.flush()
        if self._sender is not None:
            self._sender.shutdown(wait=True)
            self._sender = None
        for transport in self.transports:
            try:
                transport.close()
            except Exception as exc:  # closing is best effort
                log.warning("closing lineage transport %s failed: %s", type(transport).__name__, exc)

    def __repr__(self) -> str:
        kinds = ", ".join(type(t).__name__ for t in self.transports) or "disabled"
        return f"LineageEmitter({self.namespace}, {kinds})"
