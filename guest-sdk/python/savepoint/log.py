"""Log lines into the run's log (`savepoint logs ID`).

    from savepoint import log
    log.info(f"{ctx.node}: fetched {n} items")

Each line is stored with the run, the step, the node and the attempt. Levels:
`trace`, `debug`, `info`, `warn` (alias `warning`), `error`.

To route the standard `logging` module there too:

    import logging
    logging.basicConfig(level=logging.INFO, handlers=[log.Handler()])

Outside a component (unit tests on plain CPython) the lines go to stderr as
`info: ...`; `log.capture()` collects them instead.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["trace", "debug", "info", "warn", "warning", "error", "Handler", "capture"]

# The host's `log` import, inside a component; None on plain CPython.
_host = None
if sys.platform == "wasi":
    try:
        from wit_world.imports import host as _host
    except ImportError:  # a WASI build without the node world's bindings
        _host = None

# Where lines go instead of the host while `capture()` is active.
_sink: Callable[[str, str], None] | None = None


def _emit(level: str, message: object) -> None:
    text = message if isinstance(message, str) else str(message)
    if _sink is not None:
        _sink(level, text)
    elif _host is not None:
        _host.log(getattr(_host.Level, level.upper()), text)
    else:
        print(f"{level}: {text}", file=sys.stderr)


def trace(message: object) -> None:
    """Log at level `trace`."""
    _emit("trace", message)


def debug(message: object) -> None:
    """Log at level `debug`."""
    _emit("debug", message)


def info(message: object) -> None:
    """Log at level `info`."""
    _emit("info", message)


def warn(message: object) -> None:
    """Log at level `warn`."""
    _emit("warn", message)


warning = warn


def error(message: object) -> None:
    """Log at level `error`."""
    _emit("error", message)


def __getattr__(name: str) -> Any:
    # `Handler` imports `logging` (about 1 MB in every component) only for
    # the nodes that use it.
    if name == "Handler":
        from savepoint._logging import Handler

        return Handler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@contextmanager
def capture() -> Iterator[list[tuple[str, str]]]:
    """Collect log lines as `(level, message)` pairs, for tests:

    with log.capture() as lines:
        run(Context.for_test(), {})
    assert lines == [("info", "test: count 0 -> 1")]
    """
    global _sink
    lines: list[tuple[str, str]] = []
    previous = _sink
    _sink = lambda level, message: lines.append((level, message))  # noqa: E731
    try:
        yield lines
    finally:
        _sink = previous
