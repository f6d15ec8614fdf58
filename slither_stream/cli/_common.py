"""What the log-facing commands (topics, produce, consume) share.

Errors: every failure is one line on stderr (``error: ...``) and an exit code that
scripts can rely on, never a traceback (set ``SLITHER_DEBUG=1`` to get one):

* 0 -- done.
* 1 -- the data was partly bad: input lines rejected, records undecodable or not
  delivered. Everything valid was still processed.
* 2 -- the command was called wrong: bad flags or values, unknown topic, bad log URL.
* 3 -- the log failed: broker unreachable, log locked by another process, timeouts.
* 4 -- a bug in slither-stream itself (reported in one line too).
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any, NoReturn, ParamSpec, TypeVar

import click
import orjson

from slither_stream.errors import (
    ConfigError,
    SlitherError,
    TopicExistsError,
    UnknownTopicError,
)
from slither_stream.log import DEFAULT_LOG_URL, KAFKA_CONFIG_ENV, Log, open_log
from slither_stream.log._secrets import scrub

EXIT_OK = 0
EXIT_DATA = 1
EXIT_USAGE = 2
EXIT_LOG = 3
EXIT_INTERNAL = 4

DEBUG_ENV = "SLITHER_DEBUG"

P = ParamSpec("P")
R = TypeVar("R")


class CommandError(click.ClickException):
    """A failure reported as one ``error:`` line; subclasses fix the exit code."""

    exit_code = EXIT_USAGE

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


class DataCommandError(CommandError):
    exit_code = EXIT_DATA


class LogCommandError(CommandError):
    exit_code = EXIT_LOG


class InternalCommandError(CommandError):
    exit_code = EXIT_INTERNAL


_FAILURES: dict[int, type[CommandError]] = {
    EXIT_DATA: DataCommandError, EXIT_USAGE: CommandError, EXIT_LOG: LogCommandError,
    EXIT_INTERNAL: InternalCommandError,
}


def failure(message: str, exit_code: int = EXIT_USAGE) -> CommandError:
    """The exception to raise for a one-line error with ``exit_code``."""
    return _FAILURES[exit_code](message)


class OneLineUsageError(click.UsageError):
    """Click's usage error, shown as one line plus where to find help."""

    def show(self, file: IO[Any] | None = None) -> None:
        where = self.ctx.command_path if self.ctx is not None else "slither"
        click.echo(f"error: {self.format_message()} (see '{where} --help')", err=True)


# click >= 8.2 reports a group called without a subcommand as a usage error whose
# message is the whole help text; that one is shown as click shows it.
_HELP_ERRORS: tuple[type[Exception], ...] = tuple(
    error for error in (getattr(click.exceptions, "NoArgsIsHelpError", None),)
    if error is not None
)


def _one_line_usage(make: Callable[..., click.Context]) -> Callable[..., click.Context]:
    @functools.wraps(make)
    def wrapper(*args: Any, **kwargs: Any) -> click.Context:
        try:
            return make(*args, **kwargs)
        except click.UsageError as error:
            if isinstance(error, (OneLineUsageError, *_HELP_ERRORS)):
                raise
            raise OneLineUsageError(error.format_message(), error.ctx) from None

    return wrapper


class Command(click.Command):
    """A click command whose usage errors are one line on stderr (exit 2)."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        return _one_line_usage(super().make_context)(*args, **kwargs)


class Group(click.Group):
    """A click group whose own and whose subcommands' usage errors are one line."""

    command_class = Command

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        return _one_line_usage(super().make_context)(*args, **kwargs)

    def resolve_command(self, ctx: click.Context, args: list[str]
                        ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as error:
            if isinstance(error, (OneLineUsageError, *_HELP_ERRORS)):
                raise
            raise OneLineUsageError(error.format_message(), error.ctx) from None


def log_option(func: Callable[P, R]) -> Callable[P, R]:
    """``--log URL``, defaulting to ``$SLITHER_LOG`` and then ``embedded://.slither``,
    and ``--kafka-config FILE`` (:func:`kafka_config_option`)."""
    return click.option(
        "--log", "log_url", envvar="SLITHER_LOG", default=DEFAULT_LOG_URL,
        show_default=True, metavar="URL",
        help="Log to use: embedded://PATH or kafka://host:port (env SLITHER_LOG).",
    )(kafka_config_option(func))


KAFKA_CONFIG_META = "slither.kafka_config"


def _use_kafka_config(ctx: click.Context, _param: click.Parameter,
                      value: str | None) -> str | None:
    """The file applies to every Kafka client this command makes, including the
    ones of processes it starts and of logs opened by URL deep inside (a topic
    executor): it becomes this process's ``$SLITHER_KAFKA_CONFIG``."""
    if value is not None:
        path = os.path.abspath(value)
        os.environ[KAFKA_CONFIG_ENV] = path
        ctx.meta[KAFKA_CONFIG_META] = path
        return path
    return None


def kafka_config_option(func: Callable[P, R]) -> Callable[P, R]:
    """``--kafka-config FILE``: librdkafka properties (TLS, SASL, credentials) for
    every Kafka client, as Kafka's tools take ``--command-config``."""
    return click.option(
        "--kafka-config", "kafka_config", envvar=KAFKA_CONFIG_ENV, default=None,
        metavar="FILE", expose_value=False, is_eager=True, callback=_use_kafka_config,
        type=click.Path(exists=True, dir_okay=False),
        help="librdkafka properties file (security.protocol, sasl.*, ssl.*) for every "
             "Kafka client, e.g. SASL_SSL credentials; keeps secrets out of the URL "
             f"(env {KAFKA_CONFIG_ENV}; SLITHER_KAFKA_SASL_PASSWORD etc. override it).",
    )(func)


def kafka_config() -> str | None:
    """The ``--kafka-config`` file of the running command (None if not given)."""
    context = click.get_current_context(silent=True)
    while context is not None:
        if KAFKA_CONFIG_META in context.meta:
            return str(context.meta[KAFKA_CONFIG_META])
        context = context.parent
    return None


def reports_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn the framework's exceptions into one-line errors with stable exit codes."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except click.ClickException:
            raise
        except (ConfigError, TopicExistsError, UnknownTopicError) as error:
            raise_or_debug(error, EXIT_USAGE)
        except (SlitherError, OSError) as error:
            raise_or_debug(error, EXIT_LOG)
        except KeyboardInterrupt:
            sys.exit(130)
        except Exception as error:  # a bug: still one line, with a way to see more
            if os.environ.get(DEBUG_ENV):
                raise
            raise InternalCommandError(
                f"internal error {type(error).__name__}: {scrub(str(error))} "
                f"(set {DEBUG_ENV}=1 for a traceback)") from error

    return wrapper


def raise_or_debug(error: BaseException, exit_code: int) -> NoReturn:
    if os.environ.get(DEBUG_ENV):
        raise error
    raise failure(scrub(str(error)) or type(error).__name__, exit_code) from error


@contextmanager
def opened_log(url: str) -> Iterator[Log]:
    """Open the log at ``url``; its errors become one-line CLI errors."""
    log = open_log(url, kafka_config=kafka_config())
    try:
        yield log
    finally:
        log.close()


def json_line(value: Any) -> bytes:
    """One compact JSON line; bytes become text (or base64), Decimals strings."""
    return orjson.dumps(value, default=_json_default) + b"\n"


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="backslashreplace")
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    return str(value)
