"""Validate OpenLineage events with JSON Schema, offline.

The spec's JSON schema documents (``OpenLineage.json`` and one document per standard facet) are not shipped by any
installed package and the machines cannot fetch them. openlineage-python, however, is *generated* from those
documents: each class is an ``attrs`` model whose fields, optionality and types mirror one ``$defs`` entry, and whose
``_get_schema()`` returns that entry's URL. This module turns those classes back into JSON Schema (draft 2020-12)
documents under the same URLs, registers this project's own facet schema beside them, and validates events with
``jsonschema``:

- the event against its ``schemaURL`` (``RunEvent``, ``JobEvent`` or ``DatasetEvent``);
- every facet against the schema named by its own ``_schemaURL`` (standard facets, ``lakehouse_vectorSpec``);
- the formats the spec declares: ``eventTime`` is an RFC 3339 date-time with a zone, ``runId`` a UUID, producers
  and schema URLs absolute URIs.

Fields that the generated classes default (``producer``, ``schemaURL``, ``_producer``, ``_schemaURL``) are required
here, as they are in the spec: the client always writes them. Optional fields may be absent but not ``null``.

    problems = event_problems(event)      # [] when valid; else "run.runId: 'x' is not a 'uuid'", ...
    validate_event(event)                 # raises LineageError listing the problems
"""

from __future__ import annotations

import enum
import functools
import importlib
import json
import pkgutil
import types
import typing
import uuid
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import attr
import jsonschema
import openlineage.client.generated as generated
from openlineage.client.generated.base import RunEvent
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from lakehouse.errors import LineageError

__all__ = ["event_problems", "facet_schema_urls", "validate_event"]

DRAFT = "https://json-schema.org/draft/2020-12/schema"
SCHEMAS_DIR = Path(__file__).with_name("schemas")
# where the spec declares a string format (the generated classes check these in validators)
FORMATS = {
    "eventTime": "date-time",
    "producer": "uri",
    "_producer": "uri",
    "schemaURL": "uri",
    "_schemaURL": "uri",
    "runId": "uuid",
}
ALWAYS_WRITTEN = {"producer", "schemaURL", "_producer", "_schemaURL"}
EVENT_KINDS = ("RunEvent", "JobEvent", "DatasetEvent")


# -- formats ------------------------------------------------------------------------------------------------------
_formats = jsonschema.FormatChecker(formats=())


@_formats.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if "t" not in value.lower():
        raise ValueError("a date-time needs a time part")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("a date-time needs a zone offset")
    return True


@_formats.checks("uri", raises=ValueError)
def _uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parsed = urlparse(value)
    if not parsed.scheme or not (parsed.netloc or parsed.path):
        raise ValueError("not an absolute URI")
    return True


@_formats.checks("uuid", raises=ValueError)
def _uuid(value: object) -> bool:
    if isinstance(value, str):
        uuid.UUID(value)
    return True


# -- schema documents from the generated classes ------------------------------------------------------------------
def _own_schema_url(cls: type) -> str | None:
    method = cls.__dict__.get("_get_schema")
    return method.__func__() if isinstance(method, staticmethod) else None


def _generated_classes() -> Iterator[tuple[type, str]]:
    """Every attrs model of openlineage-python's generated package with its ``$defs`` URL."""
    for info in pkgutil.iter_modules(generated.__path__):
        module = importlib.import_module(f"{generated.__name__}.{info.name}")
        classes = [c for c in vars(module).values() if isinstance(c, type) and c.__module__ == module.__name__]
        models = [c for c in classes if attr.has(c)]
        urls = {c: _own_schema_url(c) for c in models}
        documents = {u.split("#", 1)[0] for u in urls.values() if u}
        if len(documents) > 1 and not all(urls.values()):
            raise LineageError(f"cannot place the helper classes of {module.__name__}: it spans {sorted(documents)}")
        for cls in models:
            url = urls[cls] or (f"{next(iter(documents))}#/$defs/{cls.__name__}" if documents else None)
            if url:
                yield cls, url


def _type_schema(hint: Any, urls: Mapping[type, str]) -> dict[str, Any]:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(options) == 1:
            return _type_schema(options[0], urls)
        return {"anyOf": [_type_schema(a, urls) for a in options]}
    if origin is list:
        (item,) = typing.get_args(hint) or (Any,)
        return {"type": "array", "items": _type_schema(item, urls)}
    if origin is dict:
        _, value = typing.get_args(hint) or (str, Any)
        return {"type": "object", "additionalProperties": _type_schema(value, urls)}
    if hint is Any:
        return {}
    if origin is typing.Literal:
        return {"enum": list(typing.get_args(hint))}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return {"enum": [m.value for m in hint]}
    if hint in urls:
        return {"$ref": urls[hint]}
    simple = {str: "string", bool: "boolean", int: "integer", float: "number"}
    if hint in simple:
        return {"type": simple[hint]}
    raise LineageError(f"no JSON Schema type for {hint!r} in openlineage-python's generated model")


def _class_schema(cls: type, urls: Mapping[type, str]) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    parent = next((b for b in cls.__mro__[1:] if b in urls), None)
    inherited = {f.name for f in attr.fields(parent)} if parent else set()
    properties: dict[str, Any] = {}
    required: list[str] = []
    for field in attr.fields(cls):
        if field.name in inherited:
            continue
        prop = _type_schema(hints[field.name], urls)
        if field.name in FORMATS:
            prop = {**prop, "format": FORMATS[field.name]}
        properties[field.name] = prop
        if field.default is attr.NOTHING or field.name in ALWAYS_WRITTEN:
            required.append(field.name)
    own = {"type": "object", "properties": properties, "required": required}
    return {"allOf": [{"$ref": urls[parent]}, own]} if parent else own


@functools.cache
def _registry() -> tuple[Registry, frozenset[str]]:
    """The registry of schema documents, and the URLs of the facets it knows."""
    models = dict(_generated_classes())
    documents: dict[str, dict[str, Any]] = {}
    for cls, url in models.items():
        base, _, pointer = url.partition("#")
        name = pointer.rsplit("/", 1)[-1]
        doc = documents.setdefault(base, {"$schema": DRAFT, "$id": base, "$defs": {}})
        doc["$defs"][name] = _class_schema(cls, models)
    facets = {url for cls, url in models.items() if cls.__name__.endswith("Facet")}
    for path in sorted(SCHEMAS_DIR.glob("*.json")):
        doc = json.loads(path.read_text())
        documents[doc["$id"]] = doc
        facets |= {f"{doc['$id']}#/$defs/{name}" for name in doc.get("$defs", {}) if name.endswith("Facet")}
    registry = Registry().with_resources(
        (base, Resource.from_contents(doc, default_specification=DRAFT202012)) for base, doc in documents.items()
    )
    return registry, frozenset(facets)


def facet_schema_urls() -> frozenset[str]:
    """The facet schema URLs events are validated against (standard facets and this project's own)."""
    return _registry()[1]


@functools.cache
def _validator(url: str) -> jsonschema.Draft202012Validator:
    registry, _ = _registry()
    return jsonschema.Draft202012Validator({"$ref": url}, registry=registry, format_checker=_formats)


def _where(prefix: str, path: Iterator[Any]) -> str:
    text = prefix
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(event)"


def _check(url: str, value: Any, prefix: str) -> list[str]:
    try:
        validator = _validator(url)
        errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
        return [f"{_where(prefix, iter(e.absolute_path))}: {e.message}" for e in errors]
    except Exception as exc:  # an unresolvable $ref inside a known document
        return [f"{prefix or '(event)'}: cannot validate against {url}: {exc}"]


def _facet_maps(event: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    for owner in ("run", "job"):
        part = event.get(owner)
        if isinstance(part, Mapping):
            yield f"{owner}.facets", part.get("facets")
    if isinstance(event.get("dataset"), Mapping):
        yield "dataset.facets", event["dataset"].get("facets")
    for key, extra in (("inputs", "inputFacets"), ("outputs", "outputFacets")):
        datasets = event.get(key)
        for i, dataset in enumerate(datasets if isinstance(datasets, list) else []):
            if isinstance(dataset, Mapping):
                yield f"{key}[{i}].facets", dataset.get("facets")
                yield f"{key}[{i}].{extra}", dataset.get(extra)


def event_problems(event: Mapping[str, Any], *, strict: bool = True) -> list[str]:
    """What makes ``event`` invalid, one line per problem (path: message); empty when it validates.

    ``strict=False`` is for events from other producers: it accepts facets whose ``_schemaURL`` is not known here
    (their custom facets cannot be fetched offline; the base facet fields are still checked) and events of another
    spec version, which are then not checked at all.
    """
    if not isinstance(event, Mapping):
        return [f"(event): expected a JSON object, got {type(event).__name__}"]
    registry, facets = _registry()
    url = event.get("schemaURL")
    if url is None:  # required; check the rest as the run event it most likely is, to name every problem at once
        return _check(RunEvent._get_schema(), event, "")  # which also says schemaURL is missing
    kind = str(url).rsplit("/", 1)[-1] if isinstance(url, str) else None
    if kind not in EVENT_KINDS:
        return [f"schemaURL: {url!r} does not name an OpenLineage RunEvent, JobEvent or DatasetEvent"]
    try:
        registry.get_or_retrieve(url.split("#", 1)[0])
    except Exception:
        if not strict:
            return []
        return [f"schemaURL: {url!r} is not a spec version known here (openlineage-python {_client_version()})"]
    problems = _check(url, event, "")
    for prefix, facet_map in _facet_maps(event):
        if not isinstance(facet_map, Mapping):
            continue
        for name, facet in facet_map.items():
            where = f"{prefix}.{name}"
            facet_url = facet.get("_schemaURL") if isinstance(facet, Mapping) else None
            if not isinstance(facet_url, str):
                continue  # already reported by the event schema (facets need _schemaURL)
            if facet_url in facets:
                problems.extend(_check(facet_url, facet, where))
            elif strict:
                problems.append(f"{where}: no schema known for _schemaURL {facet_url!r}")
    return list(dict.fromkeys(problems))  # a base-facet field can fail both the event's and the facet's schema


def validate_event(event: Mapping[str, Any], *, strict: bool = True) -> None:
    """Raise :class:`LineageError` listing every problem when ``event`` does not validate (:func:`event_problems`)."""
    problems = event_problems(event, strict=strict)
    if problems:
        run = event.get("run") if isinstance(event, Mapping) else None
        shown = "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
        raise LineageError(
            f"OpenLineage event does not validate: {shown}",
            hint="build events with lakehouse.lineage (or openlineage-python) and the facets' own classes",
            run_id=run.get("runId") if isinstance(run, Mapping) else None,
        )


def _client_version() -> str:
    from importlib.metadata import version

    return version("openlineage-python")
