"""One error root for the whole project.

Every error carries structured fields and a message that says what to do. Errors pickle cleanly
(``__reduce__``) so that an error raised inside a Spark executor reaches the driver intact.
"""

from __future__ import annotations

from typing import Any


class LakehouseError(Exception):
    """Root of every error raised by lakehouse. ``hint`` says how to fix it."""

    def __init__(self, message: str, *, hint: str | None = None, **fields: Any) -> None:
        self.message = message
        self.hint = hint
        self.fields = fields
        super().__init__(self._render())

    def _render(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self.hint, self.fields))

    def __getattr__(self, name: str) -> Any:
        fields = self.__dict__.get("fields") or {}
        if name in fields:
            return fields[name]
        raise AttributeError(name)


def _rebuild(cls: type[LakehouseError], message: str, hint: str | None, fields: dict[str, Any]) -> LakehouseError:
    err = cls.__new__(cls)
    LakehouseError.__init__(err, message, hint=hint, **fields)
    return err


class ConfigError(LakehouseError):
    """A setting is missing or invalid (names the setting and where it came from)."""


class EnvironmentSetupError(LakehouseError):
    """The machine lacks something the project needs (Java 17, the Iceberg runtime jar...)."""


class CatalogError(LakehouseError):
    """The Iceberg REST catalog service could not be reached, started or answered an error."""


class CatalogUnavailableError(CatalogError):
    """Nothing answers at the catalog's URI (the service is stopped or was killed). Fields: uri, reason."""


class InvalidIdentifierError(CatalogError, ValueError):
    """A namespace or table name is outside the allowed characters or length (the service answers 400 with the same
    message). Fields: kind (namespace/table), name."""


class TableNotFoundError(LakehouseError):
    """A table or namespace does not exist."""


class VectorSpecError(LakehouseError):
    """A vector spec is missing, malformed or inconsistent with the table schema."""


class VectorValidationError(LakehouseError):
    """A batch of vectors was refused before commit. Fields: column, row_key, problem, row_index."""


class ModelError(LakehouseError):
    """An embedding model is unknown, cannot load offline, or does not match a column's spec."""


class IngestError(LakehouseError):
    """A corpus could not be read (the path does not exist, is empty...)."""


class LineageError(LakehouseError):
    """A lineage event could not be built, emitted, stored or queried (names the run, table or embedding)."""


class SnapshotNotFoundError(LakehouseError, LookupError):
    """A table has no snapshot (Iceberg snapshot id, Delta version) by that id, or none as old as a timestamp asked
    for; the message lists the ones there are. Fields: table, snapshot, available."""


class VectorIndexError(LakehouseError):
    """An ANN index is missing, locked, out of step, or was asked something it cannot answer (a filter that does not
    parse, a query of the wrong shape). Fields: table, column, problem."""


class SqlError(LakehouseError):
    """A similarity SQL query was refused, could not be planned, transpiled or executed.

    Fields depend on the subclass.
    """


class SqlParseError(SqlError):
    """The SQL does not parse.

    Fields: line, column (1-based), text (the offending token), highlight (the line, marked).
    """


class UnsafeSqlError(SqlError):
    """The analyst entry points are read-only: a DDL/DML/COPY/ATTACH/INSTALL/LOAD/PRAGMA/SET statement or several
    statements were refused, or the query names a relation or function outside the analyst allow-lists (a file or
    URL read, reflection, a setting; lakehouse.sql.safety), or the engine refused a file outside the warehouse.
    Fields: statement (the kind refused); construct and reason where a relation or function was refused."""


class SqlTooDeepError(SqlParseError, UnsafeSqlError):
    """The query nests deeper than the parser takes (a parse error and a refusal both).

    Fields: line, column, text, highlight, statement."""


class SqlPlanError(SqlError):
    """The query names an unknown table or column, or compares vectors of different dimensions.

    Fields: table, column.
    """


class TranspileError(SqlError):
    """A construct cannot be expressed in the target engine with the same semantics. Fields: target, construct."""


# -- Delta Lake (issue 6) -------------------------------------------------------------------------------------------
class DeltaTableError(LakehouseError):
    """A Delta table could not be created, read or written. Fields: location, version."""


class DeltaCommitConflictError(DeltaTableError):
    """Another writer committed to the Delta table first and this commit cannot be safely retried; nothing was
    committed and this writer's files were deleted. Fields: location, read_version, current_version, operation."""


class UnsupportedDeltaFeatureError(DeltaTableError):
    """The Delta table uses a protocol feature (deletion vectors, column mapping...) that this path cannot honour;
    refused rather than returning wrong rows. Fields: location, feature."""


# -- writes under concurrency and a dead Spark JVM (issue 11) -------------------------------------------------------
class CommitRetryError(LakehouseError):
    """An append kept losing commit races to concurrent writers until its retry budget ran out; nothing of it was
    committed. Fields: table, attempts, seconds."""


class SparkJVMDiedError(EnvironmentSetupError):
    """The Spark driver JVM this Python process talks to is gone (killed, out of memory, crashed), so the session
    cannot run anything more. Fields: pid, exit_code."""
