"""`savepoint.log.Handler`: the standard `logging` module into the run's log."""

from __future__ import annotations

import logging

from savepoint.log import _emit


class Handler(logging.Handler):
    """A `logging` handler that writes records into the run's log
    (DEBUG -> debug, INFO -> info, WARNING -> warn, ERROR and CRITICAL ->
    error, below DEBUG -> trace)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
        except Exception:  # noqa: BLE001
            self.handleError(record)
            return
        if record.levelno >= logging.ERROR:
            level = "error"
        elif record.levelno >= logging.WARNING:
            level = "warn"
        elif record.levelno >= logging.INFO:
            level = "info"
        elif record.levelno >= logging.DEBUG:
            level = "debug"
        else:
            level = "trace"
        _emit(level, message)
