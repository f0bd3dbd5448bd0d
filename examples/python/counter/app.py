"""`counter` in Python: the conformance node (guest-sdk/CONFORMANCE.md).

Adds `by` to the state's `count` (a missing `count` is 0), and in other modes
exercises every part of the contract. Every call logs one `info` line:
`<node>: <mode> call, attempt <attempt>`.

Config (every key optional):

| key | default | meaning |
|---|---|---|
| `by` | 1 | what to add to `count` |
| `delay_ms` | 0 | wait this long first (for crash tests) |
| `trace` | false | also return `"trace": [<ctx.node>]` |
| `mode` | "count" | count, echo, context, goto, interrupt, sleep, retryable, fatal, panic, fanout, item, signal |
| `goto` | none | mode "goto": the route to take; mode "fanout": the node to send to |
| `question` | "continue?" | mode "interrupt": the question |
| `sleep_ms` | 100 | mode "sleep": how long to sleep |
| `fail_attempts` | unlimited | mode "retryable": fail while attempt <= fail_attempts |
| `message` | "counter failed" | the failure / panic message |
| `signal` | "go" | mode "signal": the signal's name |
| `timeout_ms` | none | mode "signal": how long to wait for it (none: forever) |

Build: `guest-sdk/python/build examples/python/counter plugins/counter.wasm`.
"""

import sys
import time

from savepoint import (
    Context,
    Result,
    fatal,
    interrupt,
    log,
    node,
    retryable,
    sleep,
    update,
    wait_signal,
)


@node(
    name="counter",
    version="0.1.0",
    description="Adds `by` (default 1) to the state's `count`; "
    "`mode` exercises the rest of the contract (guest-sdk/CONFORMANCE.md).",
)
def run(ctx: Context, state: dict) -> Result:
    config = ctx.config
    mode = config.get("mode", "count")
    delay_ms = config.get("delay_ms", 0)
    if delay_ms:
        time.sleep(delay_ms / 1000)
    log.info(f"{ctx.node}: {mode} call, attempt {ctx.attempt}")

    count = state.get("count", 0)
    by = config.get("by", 1)
    if not _is_int(count):
        return fatal(f"count must be an integer, not {count!r}")
    if not _is_int(by):
        return fatal(f"config.by must be an integer, not {by!r}")
    counted = {"count": count + by}
    if config.get("trace", False):
        counted["trace"] = [ctx.node]
    message = config.get("message", "counter failed")

    if mode == "count":
        return update(counted)
    if mode == "echo":
        return update({**counted, "echo": state.get("payload")})
    if mode == "context":
        return update(
            {
                **counted,
                "ctx": {
                    "thread": ctx.thread,
                    "node": ctx.node,
                    "step": ctx.step,
                    "attempt": ctx.attempt,
                    "config": ctx.config,
                    "resume": ctx.resume,
                    "idempotency_key": ctx.idempotency_key,
                    "interrupt_timed_out": ctx.interrupt_timed_out,
                    "wakes": ctx.wakes,
                    "lease_epoch": ctx.lease_epoch,
                },
            }
        )
    if mode == "goto":
        return update(counted, goto=config.get("goto"))
    if mode == "interrupt":
        if not ctx.resumed:
            return interrupt({"question": config.get("question", "continue?")})
        return update({**counted, "answer": ctx.resume})
    if mode == "sleep":
        if ctx.wakes == 0:
            return sleep(config.get("sleep_ms", 100), {"slept": True})
        return update({**counted, "wakes": ctx.wakes})
    if mode == "retryable":
        fail_attempts = config.get("fail_attempts")
        if fail_attempts is None or ctx.attempt <= fail_attempts:
            return retryable(message)
        return update(counted)
    if mode == "fatal":
        return fatal(message)
    if mode == "panic":
        print(message, file=sys.stderr, flush=True)
        raise RuntimeError(message)
    if mode == "fanout":
        to = config.get("goto")
        if to is None:
            return fatal('mode "fanout" needs config.goto')
        items = state.get("items", [])
        if not isinstance(items, list):
            return fatal(f"state.items must be a list, not {type(items).__name__}")
        outcome = update(counted)
        for item in items:
            outcome = outcome.send(to, {"item": item})
        return outcome
    if mode == "item":
        seen = {
            "item": state.get("item"),
            "send_index": ctx.send_index,
            "idempotency_key": ctx.idempotency_key,
        }
        return update({"seen": [seen]})
    if mode == "signal":
        if ctx.signal is None and not ctx.interrupt_timed_out:
            return wait_signal(config.get("signal", "go"), timeout_ms=config.get("timeout_ms"))
        signal = None if ctx.signal is None else {"name": ctx.signal.name, "data": ctx.signal.data}
        return update({**counted, "signal": signal, "timed_out": ctx.interrupt_timed_out})
    return fatal(f'unknown mode "{mode}"')


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
