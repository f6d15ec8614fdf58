"""Is a schema compatible with what its subject holds, and if not, why.

The verdict is the registry's own (its compatibility test, under the subject's rule);
registries differ in how they word the reason (Apicurio's verbose test gives none),
so the reason shown is worked out here by Avro's resolution rules
(:func:`~slither_stream.serde.resolution.resolution_problem`) in both directions: a
field the new schema cannot read from old records (backward), or the old schema
cannot read from new ones (forward).
"""

from __future__ import annotations

from dataclasses import dataclass

from slither_stream.errors import ConfigError
from slither_stream.serde.registry.client import RegistryClient, avro_schema
from slither_stream.serde.registry.errors import IncompatibleSchemaError
from slither_stream.serde.resolution import resolution_problem
from slither_stream.serde.schemas import AvroSchema


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking one schema against one subject."""

    subject: str
    compatible: bool
    version: int | None
    """The subject's latest version it was checked against (None: no versions yet)."""
    registered_id: int | None
    """The schema's id when it already is a version of the subject."""
    reason: str = ""

    def describe(self) -> str:
        """One line: ``subject: compatible with version 3`` or the reason it is not."""
        if self.registered_id is not None:
            return f"{self.subject}: registered (id {self.registered_id})"
        if self.version is None:
            return f"{self.subject}: new subject (no versions yet)"
        if self.compatible:
            return f"{self.subject}: compatible with version {self.version}"
        return f"{self.subject}: INCOMPATIBLE with version {self.version}: {self.reason}"


def explain(new: AvroSchema, old: AvroSchema) -> str:
    """Why ``new`` and ``old`` are not mutually readable, as a field path and a reason
    (empty when the resolution rules find nothing: the registry's rule is stricter)."""
    problem = resolution_problem(old, new)
    if problem is not None:
        path, detail = problem
        where = f"field {path!r}" if path else "the value"
        return f"{where}: {detail} (the new schema cannot read records of the old one)"
    problem = resolution_problem(new, old)
    if problem is not None:
        path, detail = problem
        where = f"field {path!r}" if path else "the value"
        return f"{where}: {detail} (readers of the old schema cannot read new records)"
    return ""


def check_schema(client: RegistryClient, subject: str, schema: AvroSchema) -> Verdict:
    """The registry's compatibility verdict for ``schema`` under ``subject``."""
    candidate = avro_schema(schema.raw if schema.raw is not None else schema.canonical)
    registered = client.lookup(subject, candidate)
    latest = client.latest(subject)
    version = latest.version if latest is not None else None
    if registered is not None:
        return Verdict(subject, True, version, registered.schema_id)
    if latest is None:
        return Verdict(subject, True, None, None)
    compatible = client.is_compatible(subject, candidate)
    reason = ""
    if not compatible:
        reason = _reason(schema, latest.schema.schema_str, latest.schema.schema_type)
    return Verdict(subject, compatible, version, None, reason)


def refuse(client: RegistryClient, verdict: Verdict) -> IncompatibleSchemaError:
    """The error for an incompatible verdict (subject, version and reason named)."""
    return IncompatibleSchemaError(
        f"{client.config}: schema is INCOMPATIBLE with subject {verdict.subject!r} version "
        f"{verdict.version}: {verdict.reason}", url=client.url, subject=verdict.subject,
        version=verdict.version, reason=verdict.reason)


def _reason(schema: AvroSchema, latest_text: str | None, latest_type: str | None) -> str:
    if (latest_type or "AVRO").upper() != "AVRO" or latest_text is None:
        return f"the subject holds a {latest_type} schema, not Avro"
    try:
        old = AvroSchema.parse(latest_text, source="the subject's latest version")
    except ConfigError as error:
        return f"the subject's latest version does not parse here: {error}"
    return explain(schema, old) or "the registry's compatibility rule refuses it"
