"""The glue between `@node` and the generated bindings of `wit/node.wit`.

Imported only where the bindings (`wit_world`) exist: inside the component
build (componentize-py generates them) and in the SDK's own tests (against
bindings from `componentize-py bindings`). Node authors never import it.

The bindings are those of `savepoint:node@0.2.0`, or of 0.1.0 when the build
is pointed at an older WIT (SAVEPOINT_WIT=wit/0.1.0): then a send or a
signal wait is a fatal failure that says so.
"""

from __future__ import annotations

# Standard modules that other standard modules import only when first used,
# imported here so that they are in every component (the component has no
# files to import from at run time): `heapq` serves `Counter.most_common`.
import heapq  # noqa: F401
import json
import os
import sys
from collections.abc import Mapping
from types import TracebackType
from typing import Any, NoReturn

import wit_world
from componentize_py_types import Err
from wit_world.imports import types

from savepoint._core import (
    Context,
    Failure,
    Fatal,
    Interrupt,
    NodeSpec,
    Retryable,
    Signal,
    Sleep,
    Update,
    WaitSignal,
    load_config,
    registered,
)


class WitWorld(wit_world.WitWorld):
    """The `node` world's exports, implemented by the registered `@node`."""

    def describe(self) -> types.NodeInfo:
        spec = _spec()
        schema = None if spec.config_schema is None else _dumps(spec.config_schema)
        return types.NodeInfo(
            name=spec.name,
            version=spec.version,
            description=spec.description,
            config_schema=schema,
        )

    def run(self, ctx: types.Context, state: str) -> types.Outcome:
        """Call the node. A `Failure` (raised or returned) becomes the WIT
        `failure`; any other exception traps the call after its traceback
        went to stderr (which the host records)."""
        spec = _spec()
        try:
            result = _call(spec, ctx, state)
            return _outcome(result)
        except Failure as failure:
            raise Err(_failure(failure)) from None
        except BaseException as error:  # noqa: BLE001 (a crash: trap, as the contract says)
            _crash(error)


def _spec() -> NodeSpec:
    spec = registered()
    if spec is None:
        raise RuntimeError("no node: decorate the node's run function with @savepoint.node(...)")
    return spec


# Whether the bindings are of savepoint:node@0.2.0 (sends, signals).
_V0_2 = hasattr(types, "WaitSignal")


def _call(spec: NodeSpec, wctx: types.Context, state_json: str) -> Any:
    resumed = wctx.resume is not None
    signal = getattr(wctx, "signal", None)
    ctx = Context(
        thread=wctx.thread,
        node=wctx.node,
        step=wctx.step,
        attempt=wctx.attempt,
        config=load_config(spec.config_type, json.loads(wctx.config)),
        resume=json.loads(wctx.resume) if resumed else None,
        idempotency_key=wctx.idempotency_key,
        interrupt_timed_out=wctx.interrupt_timed_out,
        wakes=wctx.wakes,
        resumed=resumed,
        lease_epoch=_lease_epoch(),
        signal=None if signal is None else Signal(signal.name, json.loads(signal.data)),
        send_index=getattr(wctx, "send_index", None),
    )
    state = json.loads(state_json)
    result = spec.run(ctx, state)
    _flush()
    return result


# The host's functions, inside a component; None on plain CPython, where the
# SDK's own tests call this glue without a host.
_host = None
if sys.platform == "wasi":
    from wit_world.imports import host as _host


def _lease_epoch() -> int:
    """The call's lease epoch, from the host (0 without one)."""
    return 0 if _host is None else _host.lease_epoch()


def _outcome(result: Any) -> types.Outcome:
    if isinstance(result, Update):
        return types.Outcome_Update(_update(result))
    if isinstance(result, Mapping):
        return types.Outcome_Update(_update(Update(result)))
    if isinstance(result, Interrupt):
        payload = _dumps(result.payload, "interrupt payload")
        return types.Outcome_Interrupt(types.Interrupt(payload, result.timeout_ms))
    if isinstance(result, Sleep):
        state = _dumps_object(result.state, "sleep's update")
        return types.Outcome_Sleep(types.Sleep(result.duration_ms, state))
    if isinstance(result, WaitSignal):
        if not _V0_2:
            raise Fatal(_OLD_WIT.format("wait_signal"))
        return types.Outcome_WaitSignal(types.WaitSignal(result.name, result.timeout_ms))
    if isinstance(result, Failure):
        raise result
    if result is None:
        raise Fatal("the node returned None; return update({}) to change nothing")
    raise Fatal(
        f"the node returned a {type(result).__name__}; return update(...), interrupt(...), "
        "sleep(...), wait_signal(...), a dict (an update), or a failure"
    )


_OLD_WIT = (
    "{} needs savepoint:node@0.2.0, and this component was built against 0.1.0 "
    "(an older WIT folder: see SAVEPOINT_WIT)"
)


def _update(result: Update) -> types.Update:
    state = _dumps_object(result.state, "update")
    if not _V0_2:
        if result.sends:
            raise Fatal(_OLD_WIT.format("a send"))
        return types.Update(state, result.goto)
    sends = [
        types.Send(send.node, _dumps_object(send.input, f"input of the send to {send.node}"))
        for send in result.sends
    ]
    return types.Update(state, result.goto, sends)


def _failure(failure: Failure) -> types.Failure:
    if isinstance(failure, Retryable):
        return types.Failure_Retryable(failure.message)
    return types.Failure_Fatal(failure.message)


def _dumps_object(value: Any, what: str) -> str:
    if not isinstance(value, Mapping):
        raise Fatal(f"the {what} must be a dict (a JSON object), not {type(value).__name__}")
    return _dumps(dict(value), what)


def _dumps(value: Any, what: str = "value") -> str:
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as error:
        raise Fatal(f"the {what} is not JSON: {error}") from None


def _crash(error: BaseException) -> NoReturn:
    """Print the node's traceback (without the SDK's own frames) to stderr and
    abort: the call traps, and the host's error ends with the traceback's
    last lines (where the exception was raised, and its message)."""
    if sys.platform != "wasi":  # the SDK's tests on plain CPython: just raise
        raise error
    tb = error.__traceback__
    while tb is not None and tb.tb_frame.f_globals.get("__name__", "").startswith("savepoint."):
        tb = tb.tb_next
    try:
        sys.stderr.write("".join(_format_exception(error, tb, set())))
    finally:
        _flush()
        os.abort()


def _format_exception(error: BaseException, tb: TracebackType | None, seen: set[int]) -> list[str]:
    """A traceback as `traceback.format_exception` writes it, minus source
    lines (the component has no source files at run time). The `traceback`
    module itself would add about 1 MB to every component."""
    seen.add(id(error))
    lines: list[str] = []
    cause = error.__cause__
    context = None if error.__suppress_context__ else error.__context__
    if cause is not None and id(cause) not in seen:
        lines += _format_exception(cause, cause.__traceback__, seen)
        lines.append("\nThe above exception was the direct cause of the following exception:\n\n")
    elif context is not None and id(context) not in seen:
        lines += _format_exception(context, context.__traceback__, seen)
        lines.append("\nDuring handling of the above exception, another exception occurred:\n\n")
    if tb is not None:
        lines.append("Traceback (most recent call last):\n")
    while tb is not None:
        code = tb.tb_frame.f_code
        lines.append(f'  File "{code.co_filename}", line {tb.tb_lineno}, in {code.co_name}\n')
        tb = tb.tb_next
    kind = type(error)
    name = kind.__qualname__
    if kind.__module__ not in ("builtins", "__main__"):
        name = f"{kind.__module__}.{name}"
    try:
        message = str(error)
    except Exception:  # noqa: BLE001
        message = "<exception str() failed>"
    lines.append(f"{name}: {message}\n" if message else f"{name}\n")
    lines += [f"{note}\n" for note in getattr(error, "__notes__", ())]
    return lines


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001, S110 (a closed stream is not the node's failure)
            pass
