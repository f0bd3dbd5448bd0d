"""Write savepoint workflow nodes in Python.

A node is a function that the savepoint host calls once per step with the
run's state; it answers what should happen next. `@node` makes it the
component's export; the WIT bindings stay out of sight.

    from savepoint import Context, log, node, update

    @node(name="counter", version="0.1.0", description="Adds `by` to `count`.")
    def run(ctx: Context, state: dict):
        count = state.get("count", 0) + ctx.config.get("by", 1)
        log.info(f"{ctx.node}: count -> {count}")
        return update({"count": count})

What `run` returns (or raises):

- `update(state, goto=None)`: merge `state` (a dict) into the run's state,
  commit, move on along `next`, or along the declared route `goto`. A plain
  dict is the same as `update(dict)`. `update(...).send(node, input)` adds a
  send (fan-out): the next step runs `node` with `input` as its state, once
  per send, in place of `next`/`goto`; the call sees `ctx.send_index`.
- `interrupt(payload, timeout_ms=None)`: park until someone answers with
  `savepoint resume ID --input JSON`; the node then runs again with
  `ctx.resume` set to the answer.
- `sleep(ms, update=None)`: commit `update`, park for `ms` milliseconds, run
  this node again with `ctx.wakes` one higher (polling).
- `wait_signal(name, timeout_ms=None)`: park until a signal `name` arrives
  (`savepoint signal ID NAME --data JSON`); the node then runs again with
  `ctx.signal` set (its `name` and parsed `data`).
- `raise Retryable(msg)` / `return retryable(msg)`: a transient failure (the
  workflow's `retry` policy applies); `raise Fatal(msg)` / `return
  fatal(msg)`: a permanent one (the run fails at this node).
- Any other exception traps the call: the traceback goes to stderr and the
  host fails the run at this node ("trapped") with its last lines.

Build a node with `guest-sdk/python/build NODE_DIR OUT.wasm`. Everything the
node needs must be imported at module level: the component is a snapshot
taken after the import, and a module first imported during a call is not
found. See README.md beside this package.
"""

from savepoint import log
from savepoint._core import (
    JSON,
    Context,
    Failure,
    Fatal,
    Interrupt,
    Outcome,
    Result,
    Retryable,
    Send,
    Signal,
    Sleep,
    Update,
    WaitSignal,
    fatal,
    interrupt,
    node,
    retry_on,
    retryable,
    sleep,
    update,
    wait_signal,
)

__version__ = "0.1.0"

__all__ = [
    "JSON",
    "Context",
    "Failure",
    "Fatal",
    "Interrupt",
    "Outcome",
    "Result",
    "Retryable",
    "Send",
    "Signal",
    "Sleep",
    "Update",
    "WaitSignal",
    "fatal",
    "interrupt",
    "log",
    "node",
    "retry_on",
    "retryable",
    "sleep",
    "update",
    "wait_signal",
]
