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
from pipeline.io import is_complete, read_marker, write_json_atomic

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stage:
    name: str  # also the sub-folder of the workdir
    run: Callable[[Config, Path], dict]


def _stage_minicc(cfg: Config, folder: Path) -> dict:
    from pipeline.synth import generate_minicc

    return generate_minicc(cfg.synth, folder, progress=True)


def corpus_files(folder: Path) -> list[Path]:
    """The corpus stage's shards, ``<workdir>/corpus/part-*.parquet`` (empty when there is no corpus yet)."""
    return sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []


def _stage_megatron(cfg: Config, folder: Path) -> dict:
    from training.mixture import build_megatron

    corpus = cfg.workdir_path / "corpus"
    if not corpus_files(corpus):
        log.warning("stage megatron: no corpus shards in %s yet, nothing to tokenise: skipped (no marker written; "
                    "a later run tokenises the corpus once it exists)", corpus)
        return {"skipped": f"no corpus in {corpus}"}
    return build_megatron(cfg, folder)


STAGES: list[Stage] = [
    Stage("minicc", _stage_minicc),
    Stage("megatron", _stage_megatron),
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
            stats = stage.run(cfg, folder)
            status = "skipped" if stats.get("skipped") else "ran"
        summary.append({"stage": stage.name, "status": status, "seconds": round(time.perf_counter() - t0, 2),
                        "stats": stats})
    write_json_atomic(workdir / "run_stats.json", {"stages": summary})
    width = max(len(s["stage"]) for s in summary)
    print(f"\n{'stage'.ljust(width)}  status  seconds")
    for s in summary:
        print(f"{s['stage'].ljust(width)}  {s['status']:6}  {s['seconds']:7.1f}")
    return 0
