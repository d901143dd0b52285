"""The agent's log: one line per message on stderr, ``LEVEL logger: message`` (journald adds the time).

The standard ``logging`` package (with ``traceback``, ``string`` and their imports) is close to
a megabyte of a long-running agent that only ever writes a few lines to stderr; this is the
part of it the agent uses. The format is the one ``logging.basicConfig`` gave it before.
"""

from __future__ import annotations

import sys


class Logger:
    """``info``, ``warning``, ``error`` and ``exception`` with %-style arguments, like logging's."""

    def __init__(self, name: str) -> None:
        self.name = name

    def _emit(self, level: str, msg: str, args: tuple[object, ...], trace: bool = False) -> None:
        try:
            text = msg % args if args else msg
        except (TypeError, ValueError):
            text = f"{msg} {args!r}"
        line = f"{level} {self.name}: {text}\n"
        if trace and sys.exc_info()[0] is not None:
            import traceback  # only when something went wrong

            line += traceback.format_exc()
        stream = sys.stderr
        if stream is None:  # no stderr at all (pythonw, a closed descriptor): nowhere to write
            return
        try:
            stream.write(line)  # one write per message, so threads do not interleave lines
            stream.flush()
        except (OSError, ValueError):
            pass

    def info(self, msg: str, *args: object) -> None:
        self._emit("INFO", msg, args)

    def warning(self, msg: str, *args: object) -> None:
        self._emit("WARNING", msg, args)

    def error(self, msg: str, *args: object) -> None:
        self._emit("ERROR", msg, args)

    def exception(self, msg: str, *args: object) -> None:
        """An error with the traceback of the exception being handled."""
        self._emit("ERROR", msg, args, trace=True)


def get_logger(name: str) -> Logger:
    return Logger(name)
