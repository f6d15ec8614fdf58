"""The run context handed to every stage and compute batch.

It names the pipe and the session (so session-scoped views can be found), carries
the stores a run registered and free-form run metadata. Views are looked up through
the context so that compute code never imports a store module directly.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from slither_stream.pipe.engine.keyed_state import KeyedState

ViewResolver = Callable[[str, str], Callable[..., Any]]
"""``resolver(session_id, view_name) -> handler``; installed by the store layer."""


def new_session_id() -> str:
    """A fresh, unique session id."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Context:
    """Immutable facts about one run: pipe, session, stores and metadata."""

    pipe: str | None = None
    session_id: str = field(default_factory=new_session_id)
    stores: Mapping[str, Any] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)
    stage: str | None = None
    view_resolver: ViewResolver | None = field(default=None, repr=False, compare=False)
    state: KeyedState | None = field(default=None, repr=False, compare=False)
    """The keyed state of the record being processed (stages declared with
    ``state=[...]``; None elsewhere)."""

    def view(self, name: str, /, **arguments: Any) -> Any:
        """Call the view ``name`` registered for this session (or globally)."""
        if self.view_resolver is None:
            from slither_stream.errors import StoreError

            raise StoreError(
                f"no view registry is attached to this context; cannot call view {name!r}"
            )
        handler = self.view_resolver(self.session_id, name)
        return handler(**arguments)

    def for_stage(self, stage: str, *, state: KeyedState | None = None) -> Context:
        """The same context, naming the stage that is running (and its keyed state)."""
        return Context(
            pipe=self.pipe,
            session_id=self.session_id,
            stores=self.stores,
            metadata=self.metadata,
            stage=stage,
            view_resolver=self.view_resolver,
            state=state,
        )
