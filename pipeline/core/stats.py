"""One stats type for every stage: rows in, rows out, rows dropped by reason, and what else the stage says.

A unit's function returns :class:`UnitStats` (as a dict, so it crosses Ray and lands in a unit marker
as JSON); a stage's ``finish`` folds its units into :class:`StageStats`, which the orchestrator's summary
table, ``run_stats.json``, the stage marker and the report all read the same way. ``rows_in`` is what the
stage read (WARC records for the pool, pages for the page stages, documents for megatron), ``rows_out``
what it passed on; ``rows_in == rows_out + sum(dropped)`` wherever a stage accounts for every row.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable


@dataclass
class UnitStats:
    rows_in: int = 0
    rows_out: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "UnitStats":
        return cls(rows_in=int(d.get("rows_in", 0)), rows_out=int(d.get("rows_out", 0)),
                   dropped={k: int(v) for k, v in (d.get("dropped") or {}).items()},
                   seconds=float(d.get("seconds", 0.0)), extra=dict(d.get("extra") or {}))


@dataclass
class StageStats:
    """What a stage did. ``notes`` is the one line the summary table prints after the counts."""

    stage: str
    rows_in: int | None = None
    rows_out: int | None = None
    dropped: dict[str, int] = field(default_factory=dict)
    units: int = 0
    units_cached: int = 0
    seconds: float = 0.0
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def balanced(self) -> bool | None:
        """rows in == rows out + dropped, where the stage counts both."""
        if self.rows_in is None or self.rows_out is None:
            return None
        return self.rows_in == self.rows_out + sum(self.dropped.values())

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["balanced"] = self.balanced
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "StageStats":
        known = {"stage", "rows_in", "rows_out", "dropped", "units", "units_cached", "seconds", "notes", "extra"}
        s = cls(**{k: v for k, v in d.items() if k in known})
        s.dropped = {k: int(v) for k, v in (s.dropped or {}).items()}
        s.extra = dict(s.extra or {})
        return s

    @classmethod
    def fold(cls, stage: str, units: Iterable[UnitStats | dict[str, Any]], **kwargs: Any) -> "StageStats":
        """Sum units' rows and drops (and count them); ``kwargs`` set the other fields."""
        rows_in = rows_out = n = 0
        dropped: Counter = Counter()
        seconds = 0.0
        for u in units:
            u = u if isinstance(u, UnitStats) else UnitStats.from_dict(u)
            rows_in += u.rows_in
            rows_out += u.rows_out
            dropped.update(u.dropped)
            seconds += u.seconds
            n += 1
        out = cls(stage=stage, rows_in=rows_in, rows_out=rows_out, dropped=dict(sorted(dropped.items())), units=n)
        out.extra["unit_seconds"] = round(seconds, 3)
        for k, v in kwargs.items():
            if k == "extra":
                out.extra.update(v)
            else:
                setattr(out, k, v)
        return out


def sum_extra(units: Iterable[dict[str, Any]], keys: Iterable[str]) -> dict[str, int | float]:
    """Sum numeric ``extra[key]`` over unit stats dicts (counts the stage adds up as it folds)."""
    keys = list(keys)
    total: dict[str, int | float] = {k: 0 for k in keys}
    for u in units:
        ex = u.get("extra", {}) if isinstance(u, dict) else u.extra
        for k in keys:
            v = ex.get(k)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                total[k] += v
    return total
