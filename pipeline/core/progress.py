"""Progress bars for long stages: one helper so every stage draws them the same way.

Bars are tqdm bars on stderr showing units done / total (WARCs, files, tasks, rows, parts). They are
drawn only when ``progress`` is on *and* stderr is a terminal: under ``ray job submit``, CI or a
redirected log there is no bar at all (the stages' log lines say the same at a lower rate), so logs are
never flooded with carriage-return frames. ``mininterval`` keeps a bar from redrawing more than once a
second even on a terminal.
"""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator

from tqdm import tqdm

MININTERVAL = 1.0  # seconds between redraws
_switch = {"on": True}  # off for the whole process: `python -m pipeline run --no-progress`


def set_bars(on: bool) -> None:
    """Turn every bar of this process on or off (the stages' own ``progress`` flags still apply)."""
    _switch["on"] = bool(on)


def bars_enabled(progress: bool = True) -> bool:
    """True when a bar would be drawn: progress wanted, bars not switched off, stderr a terminal."""
    return bool(progress) and _switch["on"] and sys.stderr.isatty()


def progress_bar(total: int | None, desc: str, unit: str, progress: bool = True, initial: int = 0,
                 leave: bool = False) -> tqdm:
    """A tqdm bar on stderr (disabled, and then free, when :func:`bars_enabled` is false).

    ``initial`` counts units that were already done (a resumed stage starts its bar there).
    """
    return tqdm(total=total, desc=desc, unit=unit, initial=initial, disable=not bars_enabled(progress),
                file=sys.stderr, mininterval=MININTERVAL, leave=leave, dynamic_ncols=True)


@contextmanager
def logs_above_bars(progress: bool = True) -> Iterator[None]:
    """Route log records through tqdm while bars may be drawn, so a log line does not cut a bar in two."""
    if not bars_enabled(progress):
        yield
        return
    from tqdm.contrib.logging import logging_redirect_tqdm

    with logging_redirect_tqdm():
        yield
