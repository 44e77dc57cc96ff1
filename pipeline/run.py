"""``python -m pipeline run``: every stage in order under one workdir.

Each stage owns ``<workdir>/<stage>/`` and its completion marker; a stage whose
marker exists is skipped, so a rerun after a crash resumes. Stages are added to
``STAGES`` as they are built.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pipeline.config import Config
from pipeline.io import is_complete, mark_complete, read_marker, write_json_atomic

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stage:
    name: str  # also the sub-folder of the workdir
    run: Callable[[Config, Path], dict]


def _stage_minicc(cfg: Config, folder: Path) -> dict:
    from pipeline.synth import generate_minicc

    return generate_minicc(cfg.synth, folder, progress=True)


def _stage_pool(cfg: Config, folder: Path) -> dict:
    """Extract the pool. Inputs that fail (the mini-CC's damaged files) are listed in the stats,
    not fatal: the stage keeps every record it could read and the run goes on."""
    from pipeline.pool import run_pool

    inputs = cfg.pool.inputs or [str(cfg.workdir_path / "minicc" / "warc" / "*.warc.gz")]
    stats = run_pool(inputs, folder, cfg.pool, progress=True)
    for f in stats["failures"]:
        log.warning("pool: input failed: %s: %s", f["path"], f["reason"])
    summary = {k: v for k, v in stats.items() if k != "per_warc"}
    if stats["failures"] and not any(f["retryable"] for f in stats["failures"]):
        # run_pool leaves its marker off while inputs fail (so `extract` retries them); inside
        # `make corpus` the damaged inputs are known and final, so the stage is complete.
        mark_complete(folder, summary)
    return summary


def _stage_dedup(cfg: Config, folder: Path) -> dict:
    """Exact + near dedup of the pool (before recall, as DeepSeekMath does)."""
    from dedup.stage import run_dedup

    pool = cfg.workdir_path / "pool"
    inputs = cfg.dedup.inputs or [str(pool)]
    if not cfg.dedup.inputs and not is_complete(pool):
        raise RuntimeError(f"dedup needs the pool stage's output: {pool}/_SUCCESS is missing")
    return run_dedup(inputs, folder, cfg.dedup)


def _stage_decontam(cfg: Config, folder: Path) -> dict:
    # Reads decontam.input, else the latest complete of dedup/kept, dedup/pages, pool/pages
    # (see decontam/stage.py); the recall issue points it at the last recall round.
    from decontam.stage import run_decontam

    upstream = {s.name for s in STAGES} & {"pool", "dedup", "rounds"}
    if not cfg.decontam.input and not upstream:
        # Only while no page-producing stage is wired in: once one is, missing pages are an error.
        log.warning("stage decontam: no page-producing stage precedes it and decontam.input is unset: "
                    "skipped, not marked complete")
        return {"skipped": "no upstream page stage in this pipeline yet"}
    return run_decontam(cfg, folder)


def _stage_rounds(cfg: Config, folder: Path) -> dict:
    """The iterative recall loop on dedup's kept pages when dedup ran, else on the pool (rounds/rN/)."""
    from classifiers.recall import run_recall

    summary = run_recall(cfg, folder, progress=True)
    return {k: v for k, v in summary.items() if k != "rounds"} | {
        "per_round": [{k: r.get(k) for k in ("round", "pages_recalled", "tokens_recalled", "overlap_prev",
                                              "seed_growth", "new_domains", "truth")} for r in summary["rounds"]]}


STAGES: list[Stage] = [
    Stage("minicc", _stage_minicc),
    Stage("pool", _stage_pool),
    Stage("dedup", _stage_dedup),
    Stage("rounds", _stage_rounds),
    Stage("decontam", _stage_decontam),
]


def run_pipeline(cfg: Config) -> int:
    workdir = cfg.workdir_path
    workdir.mkdir(parents=True, exist_ok=True)
    summary = []
    for stage in STAGES:
        folder = workdir / stage.name
        t0 = time.perf_counter()
        if is_complete(folder):
            log.info("stage %s: complete, skipped", stage.name)
            stats, status = read_marker(folder), "cached"
        else:
            log.info("stage %s: running", stage.name)
            stats, status = stage.run(cfg, folder), "ran"
        summary.append({"stage": stage.name, "status": status, "seconds": round(time.perf_counter() - t0, 2),
                        "stats": stats})
    write_json_atomic(workdir / "run_stats.json", {"stages": summary})
    width = max(len(s["stage"]) for s in summary)
    print(f"\n{'stage'.ljust(width)}  status  seconds")
    for s in summary:
        print(f"{s['stage'].ljust(width)}  {s['status']:6}  {s['seconds']:7.1f}")
    return 0
