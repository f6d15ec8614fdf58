"""Finding user code by name: ``"module:function"`` references and topology files.

Compute functions are named by import path so a worker process can find them
without pickling closures; resolving them at declaration time turns a typo into an
error when the pipe is declared instead of when the first batch arrives.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slither_stream.errors import ConfigError

if TYPE_CHECKING:
    from slither_stream.pipe.declaration import Pipe


def resolve_function(reference: str | Callable[..., Any], *, what: str) -> Callable[..., Any]:
    """Return the callable named by ``"package.module:attribute"`` (or the callable given).

    ``what`` names the thing being resolved in the error message, e.g.
    ``"compute function of stage 'score'"``.
    """
    if callable(reference):
        return reference
    if not isinstance(reference, str) or reference.count(":") != 1:
        raise ConfigError(
            f"{what} must be a callable or a 'module:function' string, not {reference!r}"
        )
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise ConfigError(f"{what}: {reference!r} is not of the form 'module:function'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError(
            f"{what}: cannot import module {module_name!r} named by {reference!r}: {error}"
        ) from error
    target: Any = module
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ConfigError(
                f"{what}: module {module_name!r} has no attribute {attribute!r} "
                f"(named by {reference!r})"
            )
        target = getattr(target, part)
    if not callable(target):
        raise ConfigError(f"{what}: {reference!r} is not callable")
    return target  # type: ignore[no-any-return]


def load_topology(location: str, *, attribute: str | None = None) -> Pipe:
    """Load the :class:`Pipe` declared in a topology file or module.

    ``location`` is a path to a ``.py`` file (``topologies/scoring.py``) or a module
    name (``topologies.scoring``), optionally followed by ``:attribute``. Without an
    attribute the module must define exactly one ``Pipe`` (or a ``pipe`` variable).
    """
    from slither_stream.pipe.declaration import Pipe

    if ":" in location and not Path(location).exists():
        location, _, attribute = location.rpartition(":")
    path = Path(location)
    if path.suffix == ".py" or path.exists():
        if not path.is_file():
            raise ConfigError(f"topology file {location!r} does not exist")
        module = _import_file(path.resolve())
    else:
        try:
            module = importlib.import_module(location)
        except ImportError as error:
            raise ConfigError(f"cannot import topology module {location!r}: {error}") from error
    if attribute is not None:
        found = getattr(module, attribute, None)
        if not isinstance(found, Pipe):
            raise ConfigError(f"{location!r} has no Pipe named {attribute!r}")
        return found
    pipes = {name: value for name, value in vars(module).items() if isinstance(value, Pipe)}
    if "pipe" in pipes:
        return pipes["pipe"]
    unique = {id(value): value for value in pipes.values()}
    if len(unique) != 1:
        names = ", ".join(sorted(pipes)) or "none"
        raise ConfigError(
            f"topology {location!r} must define exactly one Pipe (found: {names}); "
            f"name one with {location}:NAME"
        )
    return next(iter(unique.values()))


def _import_file(path: Path) -> Any:
    """Import a topology file under its package-qualified name.

    The first directory above the file that is not a package (no ``__init__.py``)
    goes on ``sys.path``, so ``topologies/scoring.py`` is imported as
    ``topologies.scoring`` and can import ``topologies.models`` — the same names a
    worker process or a compute pool uses — wherever the command runs from.
    """
    root = path.parent
    parts = [path.stem]
    while (root / "__init__.py").exists():
        parts.insert(0, root.name)
        root = root.parent
    module_name = ".".join(parts)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot load topology file {str(path)!r}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module
