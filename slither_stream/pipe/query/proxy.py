"""A supervisor's ``/state`` route: ask the worker process that owns the key.

With ``slither worker --processes N`` only the supervisor's port is public, and
every worker process advertises it (with its own member id) as its endpoint. A
query arriving there goes to one worker process's private endpoint; if that one
answers 421 naming this supervisor and another of its members, the query goes on to
that member, whose answer is returned. A 421 naming another endpoint (a worker on
another host) is returned as it is, for the client to follow. ``GET /state`` returns
every worker process's overview, by member.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from slither_stream.observability.federation import Members
from slither_stream.observability.server import HttpReply
from slither_stream.pipe.query.replies import BAD_GATEWAY, MISDIRECTED, error, json_reply
from slither_stream.pipe.query.service import PREFIX

PROXY_TIMEOUT_S = 5.0
"""How long the supervisor waits for a worker process's answer."""

_PASSED_HEADERS = ("Retry-After", "X-Slither-Stage", "X-Slither-Store", "X-Slither-Partition")


def fetch(url: str, timeout: float) -> HttpReply:
    """GET ``url``; any HTTP status is a reply, a connection failure raises OSError."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status, headers, body = int(response.status), response.headers, response.read()
    except urllib.error.HTTPError as failure:
        status, headers, body = int(failure.code), failure.headers, failure.read()
    passed = tuple((name, str(headers[name])) for name in _PASSED_HEADERS
                   if headers.get(name) is not None)
    return HttpReply(status, bytes(body),
                     str(headers.get("Content-Type") or "application/octet-stream"), passed)


class StateProxy:
    """The ``/state`` route of a supervisor whose worker processes are ``members``
    and advertise ``advertised`` (its public base URL)."""

    def __init__(self, members: Members, advertised: str, *,
                 timeout: float = PROXY_TIMEOUT_S) -> None:
        self.members = members
        self.advertised = advertised.rstrip("/")
        self.timeout = timeout

    def __call__(self, path: str, query: str) -> HttpReply:
        target = path + (f"?{query}" if query else "")
        urls = self.members.snapshot()
        if path in (PREFIX, PREFIX + "/"):
            return self._overview(urls, target)
        unreachable = []
        for member, url in urls.items():
            try:
                reply = fetch(url + target, self.timeout)
            except OSError as failure:
                unreachable.append(f"member {member} ({failure})")
                continue
            owner = _sibling(reply, self.advertised) if reply.status == MISDIRECTED else None
            if owner is None or owner == member or owner not in urls:
                return reply
            try:
                return fetch(urls[owner] + target, self.timeout)
            except OSError as failure:
                return error(BAD_GATEWAY, "unreachable",
                             f"worker process {owner}, which owns the key, did not answer: "
                             f"{failure}", member=owner)
        return error(BAD_GATEWAY, "unreachable",
                     "no worker process answered"
                     + (f": {'; '.join(unreachable)}" if unreachable else " (none running)"))

    def _overview(self, urls: Mapping[str, str], target: str) -> HttpReply:
        members: dict[str, Any] = {}
        for member, url in urls.items():
            try:
                reply = fetch(url + target, self.timeout)
                members[member] = json.loads(reply.body)
            except (OSError, ValueError) as failure:
                members[member] = {"code": "unreachable", "message": str(failure)}
        return json_reply(200, {"endpoint": self.advertised, "members": members})


def _sibling(reply: HttpReply, advertised: str) -> str | None:
    """The member a 421 names, if it names this supervisor's endpoint."""
    try:
        body = json.loads(reply.body)
    except ValueError:
        return None
    owner, member = body.get("owner"), body.get("member")
    if isinstance(owner, str) and owner.rstrip("/") == advertised and isinstance(member, str):
        return member
    return None
