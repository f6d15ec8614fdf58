"""Wire format for batches that leave the process (worker sockets, request topics).

One batch is one message: the list of payloads is encoded in a single call, and the
reply (results or the error) in another, so per-item overhead is one list element,
not one serializer round-trip. Two codecs:

* ``pickle`` (default): any picklable payload, highest protocol. Only for workers you
  trust, like any pickle.
* ``json``: orjson; payloads must be JSON values (numpy arrays are serialized as
  lists). Portable and safe to decode.

Replies are ``["ok", results]`` or ``["error", reason, error_type, message,
traceback]``; :func:`decode_reply` turns the latter into a
:class:`~slither_stream.dispatch.compute.BatchComputeError`.
"""

from __future__ import annotations

import pickle
import traceback
from typing import Any, Protocol, get_args

import orjson

from slither_stream.dispatch.compute import (
    BatchComputeError,
    ComputeFunction,
    FailureReason,
    call_checked,
)
from slither_stream.errors import ConfigError


class Codec(Protocol):
    """Encodes one whole message."""

    name: str

    def encode(self, value: Any) -> bytes: ...

    def decode(self, data: bytes) -> Any: ...


class PickleCodec:
    name = "pickle"

    def encode(self, value: Any) -> bytes:
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)

    def decode(self, data: bytes) -> Any:
        return pickle.loads(data)


class JsonCodec:
    name = "json"

    def encode(self, value: Any) -> bytes:
        return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)

    def decode(self, data: bytes) -> Any:
        return orjson.loads(data)


_CODECS: dict[str, Codec] = {"pickle": PickleCodec(), "json": JsonCodec()}


def get_codec(name: str) -> Codec:
    """The codec called ``name``; ConfigError naming the choices otherwise."""
    try:
        return _CODECS[name]
    except (KeyError, TypeError):
        raise ConfigError(
            f"serializer must be one of {sorted(_CODECS)}, got {name!r}") from None


def encode_request(codec: Codec, function: str, payloads: list[Any]) -> bytes:
    """Encode a batch's payloads; an unencodable payload fails the batch clearly."""
    try:
        return codec.encode(payloads)
    except Exception as error:
        raise BatchComputeError(
            f"cannot encode the batch for compute function {function} with the "
            f"{codec.name} serializer: {type(error).__name__}: {error}",
            function=function, reason="contract", error_type=type(error).__name__) from error


def serve_request(function: ComputeFunction, name: str, codec: Codec, data: bytes) -> bytes:
    """Worker side: decode a batch, run the function, encode the reply. Never raises
    for a bad batch: every failure becomes an error reply for the caller."""
    try:
        payloads = codec.decode(data)
        if not isinstance(payloads, list):
            raise BatchComputeError(f"request for {name} is not a list of payloads",
                                    function=name, reason="contract")
        return codec.encode(["ok", call_checked(function, name, payloads)])
    except BatchComputeError as failure:
        return encode_error(codec, failure.reason, failure.error_type or "BatchComputeError",
                            str(failure.args[0]), failure.remote_traceback)
    except Exception as error:
        return encode_error(codec, "raised", type(error).__name__,
                            f"compute worker for {name} failed: {type(error).__name__}: "
                            f"{error}", traceback.format_exc())


def encode_error(codec: Codec, reason: str, error_type: str, message: str,
                 trace: str | None) -> bytes:
    return codec.encode(["error", reason, error_type, message, trace])


def decode_reply(codec: Codec, function: str, data: bytes,
                 worker_pid: int | None = None) -> list[Any]:
    """Results of an ``ok`` reply; raise :class:`BatchComputeError` for an error reply."""
    try:
        reply = codec.decode(data)
    except Exception as error:
        raise BatchComputeError(
            f"unreadable reply from compute function {function}: {error}",
            function=function, reason="contract", worker_pid=worker_pid) from error
    if isinstance(reply, list | tuple) and len(reply) == 2 and reply[0] == "ok" \
            and isinstance(reply[1], list):
        return reply[1]
    if isinstance(reply, list | tuple) and len(reply) == 5 and reply[0] == "error":
        _, reason, error_type, message, trace = reply
        return_reason: FailureReason = "raised"
        for known in get_args(FailureReason):
            if reason == known:
                return_reason = known
        raise BatchComputeError(str(message), function=function, reason=return_reason,
                                error_type=error_type, remote_traceback=trace,
                                worker_pid=worker_pid)
    raise BatchComputeError(
        f"malformed reply from compute function {function}: {reply!r:.200}",
        function=function, reason="contract", worker_pid=worker_pid)
