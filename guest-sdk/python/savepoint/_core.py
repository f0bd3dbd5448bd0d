"""The node author's types: the context, the outcomes, the failures, `@node`.

Pure Python: nothing here touches the WebAssembly bindings, so a node's unit
tests run on any CPython (see `Context.for_test`).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import sys
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, Union

C = TypeVar("C")

# A JSON value as `json.loads` returns it.
JSON = Any


@dataclass(frozen=True)
class Context(Generic[C]):
    """What the host tells the node about the call it is making.

    `config` is the node's `config` table from the workflow file: a `dict`, or
    an instance of the dataclass given to `@node(config=...)`.
    """

    #: The run (thread) id: the save slot this call belongs to.
    thread: str
    #: The name of this node in the workflow file (`[nodes.<name>]`).
    node: str
    #: The step this call will commit, counted from 1. A replay keeps it.
    step: int
    #: Which attempt at this step this is, counted from 1 (retries, replays).
    attempt: int
    #: The node's `config` table (`{}` when the workflow gives none).
    config: C
    #: The answer to this node's interrupt (`savepoint resume ID --input JSON`),
    #: parsed; `None` when this call answers no interrupt.
    resume: JSON | None
    #: `<thread>/<step>/<node>`: the same for every attempt at this step. Pass
    #: it to outside systems so that a repeated side effect happens only once.
    idempotency_key: str
    #: True when this call follows an interrupt whose deadline passed unanswered.
    interrupt_timed_out: bool = False
    #: How many times in a row this node has slept and been woken (0, 1, ...).
    wakes: int = 0
    #: True when this call answers an interrupt, even with a JSON `null`
    #: answer (which makes `resume` `None` too).
    resumed: bool = False
    #: The run's lease epoch, a fencing token: it grows every time the run
    #: passes to another process (a takeover after a crash or a stall). Send
    #: it with writes to outside systems, and have them refuse a write whose
    #: epoch is lower than one they have seen. 0 outside a run.
    lease_epoch: int = 0
    #: The signal this call receives after `wait_signal(...)`: the oldest
    #: undelivered one of that name. `None` otherwise, and when the wait's
    #: deadline passed first (`interrupt_timed_out` is then True).
    signal: Signal | None = None
    #: For a call made for a send (`update(...).send(node, input)`): its place
    #: among all the sends of the previous step, from 0 (the state is then the
    #: send's input; `idempotency_key` ends in `/<send_index>`). `None` for an
    #: ordinary call.
    send_index: int | None = None

    @classmethod
    def for_test(cls, config: Any = None, **fields: Any) -> Context[Any]:
        """A context for unit tests: step 1, attempt 1, thread "test", node
        "test", config `{}`, lease epoch 1; override any field by keyword.
        `signal` may be a `Signal` or a `(name, data)` pair.

        >>> Context.for_test({"by": 2}, attempt=3).attempt
        3
        >>> Context.for_test(signal=("go", {"n": 1})).signal
        Signal(name='go', data={'n': 1})
        """
        values: dict[str, Any] = {
            "thread": "test",
            "node": "test",
            "step": 1,
            "attempt": 1,
            "config": {} if config is None else config,
            "resume": None,
            "lease_epoch": 1,
        }
        values.update(fields)
        if isinstance(values.get("signal"), tuple):
            values["signal"] = Signal(*values["signal"])
        key = f"{values['thread']}/{values['step']}/{values['node']}"
        if values.get("send_index") is not None:
            key += f"/{values['send_index']}"
        values.setdefault("idempotency_key", key)
        values.setdefault("resumed", values["resume"] is not None)
        return cls(**values)


@dataclass(frozen=True)
class Signal:
    """A named message delivered to the run (`savepoint signal ID NAME --data
    JSON`, or `POST /runs/{id}/signals/{name}`): `ctx.signal` after
    `wait_signal(name)`."""

    #: The name it was sent under, e.g. "go".
    name: str
    #: What it carries, parsed (`None` when sent without data).
    data: JSON = None


# --------------------------------------------------------------------------
# Outcomes: what a successful call asks the host to do.


@dataclass(frozen=True)
class Send:
    """One call of `node` in the next step, with `input` as its whole state
    (fan-out). Add them with `update(...).send(node, input)`."""

    node: str
    input: Mapping[str, JSON]


@dataclass(frozen=True)
class Update:
    """Merge `state` into the run's state, commit, and move on (along `next`,
    or along the declared route `goto`, or to the `sends`). Build it with
    `update()`, and add sends with `.send(node, input)`."""

    state: Mapping[str, JSON]
    goto: str | None = None
    sends: tuple[Send, ...] = ()

    def send(self, node: str, input: Mapping[str, JSON] | None = None) -> Update:
        """This update plus one send: the next step runs `node` (a node of
        the workflow) once more with `input` (a dict) as its whole state,
        in place of the `next` edge or `goto`. Call it once per element to
        fan out over a list; the sent calls run in parallel, their updates
        merge in the order of the sends, and each then follows its own
        node's edges. At most the workflow's `max_fanout` sends (default
        1000).

        >>> update({"n": 2}).send("work", {"item": 1}).send("work", {"item": 2}).sends
        (Send(node='work', input={'item': 1}), Send(node='work', input={'item': 2}))
        """
        if not isinstance(node, str) or not node:
            raise TypeError(f"send's node must be a node name (a str), not {node!r}")
        sent = Send(node, _object(input, f"the input of the send to {node}"))
        return dataclasses.replace(self, sends=(*self.sends, sent))


@dataclass(frozen=True)
class Interrupt:
    """Park the run until someone answers (`savepoint resume ID --input
    JSON`); the node then runs again with `ctx.resume` set. Build it with
    `interrupt()`."""

    payload: JSON
    timeout_ms: int | None = None


@dataclass(frozen=True)
class Sleep:
    """Commit `state`, park the run for `duration_ms`, then run this node
    again with `ctx.wakes` one higher. Build it with `sleep()`."""

    duration_ms: int
    state: Mapping[str, JSON] = field(default_factory=dict)


@dataclass(frozen=True)
class WaitSignal:
    """Park the run until a signal named `name` arrives, then run this node
    again with `ctx.signal` set. Build it with `wait_signal()`."""

    name: str
    timeout_ms: int | None = None


Outcome = Union[Update, Interrupt, Sleep, WaitSignal]

# The largest duration the contract carries (a WIT `u64`).
_U64_MAX = (1 << 64) - 1


def _millis(value: int | datetime.timedelta, what: str) -> int:
    if isinstance(value, datetime.timedelta):
        value = value // datetime.timedelta(milliseconds=1)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int (milliseconds) or a timedelta, not {value!r}")
    if not 0 <= value <= _U64_MAX:
        raise ValueError(f"{what} must be between 0 and 2**64-1 milliseconds, not {value}")
    return value


def _object(value: Mapping[str, JSON] | None, what: str) -> Mapping[str, JSON]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"{what} must be a dict (a JSON object), not {type(value).__name__}")
    return value


def update(state: Mapping[str, JSON] | None = None, goto: str | None = None) -> Update:
    """Merge `state` (a dict: each top-level key goes through the workflow's
    reducer for it) into the run's state, commit a checkpoint and move on:
    along the node's `next` edge, or along `goto`, one of the node's declared
    `routes` (a node name or "end").

    >>> update({"count": 3})
    Update(state={'count': 3}, goto=None, sends=())
    """
    if goto is not None and not isinstance(goto, str):
        raise TypeError(f"goto must be a str (a route), not {goto!r}")
    return Update(_object(state, "update's state"), goto)


def interrupt(payload: JSON, timeout_ms: int | datetime.timedelta | None = None) -> Interrupt:
    """Park the run until a human (or another system) answers with
    `savepoint resume ID --input JSON`. Nothing is committed. `payload` (any
    JSON value, e.g. the question) is what `savepoint status ID` shows. The
    node then runs again on the same state with `ctx.resume` set to the
    answer. With `timeout_ms` (milliseconds or a `timedelta`), silence past
    it runs the node again with `ctx.interrupt_timed_out` set."""
    timeout = None if timeout_ms is None else _millis(timeout_ms, "timeout_ms")
    return Interrupt(payload, timeout)


def sleep(ms: int | datetime.timedelta, update: Mapping[str, JSON] | None = None) -> Sleep:
    """Commit `update` (a dict, merged like any update), park the run durably
    for `ms` milliseconds (or a `timedelta`), then run this same node again
    with `ctx.wakes` one higher: the polling pattern."""
    return Sleep(_millis(ms, "sleep's duration"), _object(update, "sleep's update"))


def wait_signal(name: str, timeout_ms: int | datetime.timedelta | None = None) -> WaitSignal:
    """Park the run as `waiting` until a signal called `name` is in its
    mailbox (`savepoint signal ID NAME --data JSON`; one sent before the wait
    counts too), then run this node again, on the same state, with
    `ctx.signal` set to it. Nothing is committed. With `timeout_ms`
    (milliseconds or a `timedelta`), no signal by then runs the node again
    with `ctx.signal` None and `ctx.interrupt_timed_out` set.

    >>> wait_signal("approved", timeout_ms=datetime.timedelta(hours=1))
    WaitSignal(name='approved', timeout_ms=3600000)
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"wait_signal's name must be a non-empty str, not {name!r}")
    timeout = None if timeout_ms is None else _millis(timeout_ms, "wait_signal's timeout_ms")
    return WaitSignal(name, timeout)


# --------------------------------------------------------------------------
# Failures: raise them, or return them.


class Failure(Exception):
    """A failed call. A failure is data: the host records it with the node's
    name and the run stays inspectable and resumable. Raise a `Retryable` or
    a `Fatal` (anywhere below `run`), or return one (`retryable(msg)`,
    `fatal(msg)`)."""

    kind = "failure"

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = str(message) or f"{self.kind} failure"

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Failure):
            return NotImplemented
        return type(self) is type(other) and self.message == other.message

    def __hash__(self) -> int:
        return hash((type(self), self.message))


class Retryable(Failure):
    """A transient problem (an outage, a rate limit): the workflow's `retry`
    policy applies, and the step runs again with `ctx.attempt` one higher.
    Without a policy, or once its attempts are used up, the run fails."""

    kind = "retryable"


class Fatal(Failure):
    """A permanent problem (bad input, a bug you caught): the run fails at
    this node; `savepoint resume ID` replays it once the cause is fixed."""

    kind = "fatal"


def retryable(message: str) -> Retryable:
    """A transient failure to return: `return retryable("rate limited")`."""
    return Retryable(message)


def fatal(message: str) -> Fatal:
    """A permanent failure to return: `return fatal("no such user")`."""
    return Fatal(message)


@contextmanager
def retry_on(*errors: type[BaseException]) -> Iterator[None]:
    """Turn the given exception types into `Retryable` failures (the rest
    still propagate):

        with retry_on(TimeoutError, ConnectionError):
            reply = call_the_api()
    """
    try:
        yield
    except Failure:
        raise
    except errors as error:
        raise Retryable(f"{type(error).__name__}: {error}") from error


# What `run` may return.
Result = Union[Update, Interrupt, Sleep, WaitSignal, Failure, Mapping[str, JSON]]


# --------------------------------------------------------------------------
# @node


@dataclass(frozen=True)
class NodeSpec:
    """What `@node` recorded: the function and what `describe` says."""

    run: Callable[[Context[Any], dict[str, JSON]], Result]
    name: str
    version: str
    description: str
    config_type: type | None = None
    config_schema: Mapping[str, JSON] | None = None
    warmup: tuple[Any, ...] = ()


# The node of this component (one per component).
_spec: NodeSpec | None = None


def registered() -> NodeSpec | None:
    """The node `@node` registered, if any."""
    return _spec


def node(
    name: str,
    version: str = "0.1.0",
    description: str | None = None,
    *,
    config: type | None = None,
    config_schema: Mapping[str, JSON] | None = None,
    warmup: Iterable[Mapping[str, JSON] | tuple[Mapping[str, JSON], Mapping[str, JSON]]] = (),
) -> Callable[[Callable[..., Result]], Callable[..., Result]]:
    """Declare the function that runs the node: `run(ctx, state) -> result`.

        @node(name="greet", version="1.0.0", description="Says hello.")
        def run(ctx: Context, state: dict) -> Outcome:
            return update({"greeting": f"Hello, {state['name']}!"})

    - `description` defaults to the first paragraph of the function's
      docstring.
    - `config`: a dataclass; `ctx.config` is then an instance of it, built
      from the workflow's `config` table (unknown keys and values of the wrong
      type are a fatal failure that names them; `run` is not called).
    - `config_schema`: a JSON Schema (a dict) for `savepoint plugins`; made
      from the `config` dataclass when not given.
    - `warmup`: example states (or `(config, state)` pairs) that the build
      runs the node on once, after the module is imported: every module the
      node imports lazily on that path (the standard library does, e.g.
      `heapq` in `Counter.most_common`) is then in the component, and caches
      such as compiled regular expressions are warm. A warm-up call that
      raises anything but a `Failure` fails the build. Its log is dropped.

    The function is returned unchanged (tests call it directly). One
    component has one node; the decorator also defines `WitWorld` in the
    function's module, the class componentize-py exports.
    """

    def register(fn: Callable[..., Result]) -> Callable[..., Result]:
        global _spec
        if _spec is not None and _spec.run is not fn:
            raise RuntimeError(
                f"@node is used twice ({_spec.name} and {name}): a component has one node"
            )
        if config is not None and not dataclasses.is_dataclass(config):
            raise TypeError(f"@node(config=...) must be a dataclass, not {config!r}")
        text = description
        if text is None:
            text = " ".join((fn.__doc__ or "").strip().split("\n\n")[0].split())
        schema = config_schema
        if schema is None and config is not None:
            schema = _schema_of(config)
        _spec = NodeSpec(fn, name, version, text, config, schema, tuple(warmup))
        _export_into(sys.modules.get(fn.__module__))
        return fn

    return register


def _export_into(module: types.ModuleType | None) -> None:
    """Define `WitWorld` in the node's module (only inside the component
    build, where the bindings `wit_world` exist)."""
    if module is None or hasattr(module, "WitWorld"):
        return
    try:
        from savepoint._export import WitWorld
    except ImportError:  # plain CPython: no bindings, nothing to export
        return
    module.WitWorld = WitWorld  # type: ignore[attr-defined]


def prepare(module: str) -> None:
    """Called by the build once the node's module is imported: check that it
    has a node, and run the warm-up calls."""
    spec = _spec
    if spec is None:
        raise RuntimeError(
            f"{module} defines no node: decorate its run function with @savepoint.node(...)"
        )
    from savepoint import log
    from savepoint._export import _outcome

    for sample in spec.warmup:
        config, state = sample if isinstance(sample, tuple) else ({}, sample)
        ctx = Context.for_test(
            load_config(spec.config_type, dict(config)), thread="warmup", node=spec.name
        )
        with log.capture():
            try:
                _outcome(spec.run(ctx, json.loads(json.dumps(state))))
            except Failure:
                pass


# --------------------------------------------------------------------------
# Typed config


def load_config(config_type: type | None, raw: JSON) -> Any:
    """The workflow's `config` object as the node wants it (a dict, or an
    instance of its config dataclass). Raises `Fatal` naming the problem."""
    if not isinstance(raw, dict):
        # Never the config's text: it may hold the node's secrets.
        raise Fatal(f"config must be a JSON object, not {_json_kind(raw)}")
    if config_type is None:
        return raw
    fields = {f.name: f for f in dataclasses.fields(config_type) if f.init}
    unknown = [key for key in raw if key not in fields]
    if unknown:
        raise Fatal(
            f"config: unknown key {unknown[0]!r} (known: {', '.join(sorted(fields)) or 'none'})"
        )
    hints = typing.get_type_hints(config_type)
    for key, value in raw.items():
        hint = hints.get(key, Any)
        if not _fits(value, hint):
            raise Fatal(f"config: {key} is {_json_kind(value)}, not {_type_name(hint)}")
    try:
        return config_type(**raw)
    except (TypeError, ValueError) as error:  # a missing required key, __post_init__
        raise Fatal(f"config: {error}") from error


_SIMPLE: dict[Any, tuple[type, ...]] = {
    int: (int,),
    float: (int, float),
    str: (str,),
    bool: (bool,),
    list: (list,),
    dict: (dict,),
    type(None): (type(None),),
}


def _fits(value: Any, hint: Any) -> bool:
    """A light check of a JSON value against a type hint: the simple types,
    their `Optional`/unions, and `list[...]`/`dict[...]` (shallow). Anything
    else is accepted."""
    origin = typing.get_origin(hint)
    if origin is Union or origin is types.UnionType:
        return any(_fits(value, arg) for arg in typing.get_args(hint))
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if origin in (list, dict):
        hint = origin
    if hint in _SIMPLE:
        if isinstance(value, bool) and hint is not bool:
            return False
        return isinstance(value, _SIMPLE[hint])
    return True


def _json_kind(value: JSON) -> str:
    """What kind of JSON value `value` is, for a message that must not quote
    it (a config value may be a secret)."""
    if value is None:
        return "null"
    for kind, name in ((bool, "a boolean"), (int, "an integer"), (float, "a number"),
                       (str, "a string"), (list, "a list"), (dict, "a table")):
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _type_name(hint: Any) -> str:
    if hint in _SIMPLE:
        return {
            int: "an integer",
            float: "a number",
            str: "a string",
            bool: "a boolean",
            list: "a list",
            dict: "a table",
            type(None): "null",
        }[hint]
    return f"a {hint}".replace("typing.", "")


def _schema_of(config_type: type) -> dict[str, JSON]:
    """A JSON Schema for a config dataclass (types of simple fields, defaults)."""
    kinds = {
        int: "integer",
        float: "number",
        str: "string",
        bool: "boolean",
        list: "array",
        dict: "object",
        type(None): "null",
    }
    hints = typing.get_type_hints(config_type)
    properties: dict[str, JSON] = {}
    required: list[str] = []
    for f in dataclasses.fields(config_type):
        if not f.init:
            continue
        hint = hints.get(f.name, Any)
        origin = typing.get_origin(hint)
        options = typing.get_args(hint) if origin in (Union, types.UnionType) else (hint,)
        names = [kinds.get(typing.get_origin(o) or o) for o in options]
        prop: dict[str, JSON] = {}
        if all(names):
            prop["type"] = names[0] if len(names) == 1 else names
        if origin is typing.Literal:
            prop = {"enum": list(typing.get_args(hint))}
        if f.default is not dataclasses.MISSING and _is_json(f.default):
            prop["default"] = f.default
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(f.name)
        properties[f.name] = prop
    schema: dict[str, JSON] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        schema["required"] = required
    return schema


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True
