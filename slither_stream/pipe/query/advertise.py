"""How a worker names itself to its consumer groups: member id and HTTP endpoint.

A worker process opens its log with ``client_id`` set to
``slither;member=<member>;id=<instance>;url=<endpoint>`` (Kafka's ``client.id`` of
every client it creates), so a group's member list
(:meth:`~slither_stream.log.base.Log.group_members`) says, per partition, which
worker owns it and where it answers queries. ``id`` is random per process, so a
worker recognises itself even if two hosts were given the same endpoint. With
``--processes N`` every process advertises the supervisor's public endpoint and its
own member id; the supervisor sends a query on to the process named.

A member whose client id is not in this format (another application, or a worker
without ``--metrics-port``: ``url`` is then left out) is still reported as the
owner, with no endpoint.
"""

from __future__ import annotations

import secrets
import socket
from dataclasses import dataclass

from slither_stream.errors import ConfigError

PREFIX = "slither"
WILDCARD_HOSTS = ("", "0.0.0.0", "::", "[::]")
"""Bind addresses that are no address to advertise: the host's name is used."""


@dataclass(frozen=True)
class Advertised:
    """What a worker advertises: its member id and its endpoint (None: no HTTP)."""

    member: str
    url: str | None = None
    instance: str | None = None
    """Tells this process apart from any other (see :func:`new_instance`)."""

    def __post_init__(self) -> None:
        for what, value in (("member id", self.member), ("instance", self.instance)):
            if value is not None and (not value or any(c in value for c in ";=")):
                raise ConfigError(f"{what} must be non-empty, without ';' or '=', "
                                  f"not {value!r}")
        if self.url is not None:
            check_url(self.url)

    @property
    def client_id(self) -> str:
        """The client id that carries it."""
        parts = [PREFIX, f"member={self.member}"]
        if self.instance is not None:
            parts.append(f"id={self.instance}")
        if self.url is not None:
            parts.append(f"url={self.url}")
        return ";".join(parts)


def new_instance() -> str:
    """A random instance id for this process's advertisement."""
    return secrets.token_hex(4)


def parse(client_id: str) -> Advertised | None:
    """What ``client_id`` advertises, or None if it is not a worker's."""
    head, _, rest = client_id.partition(";")
    if head != PREFIX or not rest:
        return None
    fields: dict[str, str] = {}
    for part in rest.split(";"):
        name, sep, value = part.partition("=")
        if not sep:
            return None
        fields[name] = value
    member = fields.get("member")
    try:
        return Advertised(member, fields.get("url"), fields.get("id")) if member else None
    except ConfigError:
        return None


def check_url(url: str) -> str:
    """``url`` without a trailing slash if it is an ``http(s)://host:port`` base URL;
    else a ConfigError."""
    if not url.startswith(("http://", "https://")) or ";" in url or " " in url \
            or url.rstrip("/").count("/") != 2:
        raise ConfigError(f"advertised URL must look like http://host:port, not {url!r}")
    return url.rstrip("/")


def endpoint_url(host: str, port: int, explicit: str | None = None) -> str:
    """The URL to advertise for an endpoint bound to ``host:port``: ``explicit`` if
    given, else ``http://host:port`` with this machine's name for a wildcard bind."""
    if explicit:
        return check_url(explicit)
    shown = socket.gethostname() if host in WILDCARD_HOSTS else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"
