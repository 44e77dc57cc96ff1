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
    uses_ray: bool = True
    always: bool = False  # rebuilt on every run (the report reflects the latest state)


def _stage_minicc(cfg: Config, folder: Path) -> dict:
    from pipeline.synth import generate_minicc

    if not cfg.pool.reads_minicc:  # a real crawl: nothing synthetic is generated (and no marker written)
        log.info("stage minicc: skipped, the pool reads %s", ", ".join(cfg.pool.resolved_inputs()))
        return {"skipped": "the pool reads real input (pool.inputs / pool.crawls)"}
    return generate_minicc(cfg.synth, folder, progress=True)


def _stage_pool(cfg: Config, folder: Path) -> dict:
    """Extract the pool. Inputs that fail (the mini-CC's damaged files) are listed in the stats,
    not fatal: the stage keeps every record it could read and the run goes on."""
    from pipeline.pool import run_pool

    inputs = cfg.pool.resolved_inputs() or [str(cfg.workdir_path / "minicc" / "warc" / "*.warc.gz")]
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
    """Benchmark decontamination of the recalled pages (decontam.input overrides; see decontam/stage.py)."""
    from decontam.stage import run_decontam

    return run_decontam(cfg, folder)


def _stage_corpus(cfg: Config, folder: Path) -> dict:
    """Shard decontam's kept pages into CORPUS_SCHEMA Parquet files with a manifest."""
    import pyarrow.parquet as pq

    from pipeline.schema import CORPUS_SCHEMA
    from pipeline.shard import ShardSpec, write_corpus

    kept = sorted((cfg.workdir_path / "decontam" / "kept").glob("*.parquet"))
    if not is_complete(cfg.workdir_path / "decontam"):
        raise RuntimeError(f"corpus needs the decontam stage's output: {cfg.workdir_path / 'decontam'}/_SUCCESS")
    c = cfg.corpus
    spec = ShardSpec(target_rows=c.target_rows, target_bytes=c.target_bytes, row_group_rows=c.row_group_rows,
                     compression=c.compression)
    # Files are read in name order and each is sorted by id, so the shards are the same on every rerun.
    tables = (pq.read_table(f, columns=CORPUS_SCHEMA.names) for f in kept)
    manifest = write_corpus(tables, folder, spec, stage_counts=stage_counts(cfg.workdir_path),
                            config=cfg.model_dump())
    return {"rows": manifest["rows"], "files": len(manifest["files"]), "bytes": manifest["bytes"]}


def stage_counts(workdir: Path) -> dict:
    """Pages in and out of each finished stage, from their markers (for the manifest and the report)."""
    out: dict = {}
    for name in ("pool", "dedup", "rounds", "decontam"):
        marker = workdir / name / "_SUCCESS"
        if marker.exists():
            m = read_marker(workdir / name)
            out[name] = {k: m[k] for k in ("records_seen", "kept", "dropped", "input_rows", "removed", "pages",
                                           "recalled") if k in m}
            if "totals" in m:
                out[name].update({k: m["totals"].get(k) for k in ("records_seen", "kept", "dropped")})
    return out


def _stage_rounds(cfg: Config, folder: Path) -> dict:
    """The iterative recall loop on dedup's kept pages when dedup ran, else on the pool (rounds/rN/)."""
    from classifiers.recall import run_recall

    summary = run_recall(cfg, folder, progress=True)
    return {k: v for k, v in summary.items() if k != "rounds"} | {
        "per_round": [{k: r.get(k) for k in ("round", "pages_recalled", "tokens_recalled", "overlap_prev",
                                              "seed_growth", "new_domains", "truth")} for r in summary["rounds"]]}


def _stage_report(cfg: Config, folder: Path) -> dict:
    from pipeline.report import build_report

    stats = build_report(cfg.workdir_path, folder)
    return {"plots": stats["plots"], "totals": stats["totals"]}


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
    Stage("minicc", _stage_minicc, uses_ray=False),
    Stage("pool", _stage_pool),
    Stage("dedup", _stage_dedup),
    Stage("rounds", _stage_rounds),
    Stage("decontam", _stage_decontam),
    Stage("corpus", _stage_corpus, uses_ray=False),
    Stage("megatron", _stage_megatron),
    Stage("report", _stage_report, uses_ray=False, always=True),
]


def _headline(stats: dict) -> str:
    """A few numbers of a stage's stats for the summary table."""
    t = stats.get("totals") if isinstance(stats.get("totals"), dict) else stats
    keys = [("response_records", "records"), ("records_seen", "seen"), ("kept", "kept"), ("dropped", "dropped"),
            ("removed_exact", "exact dups"), ("removed_near", "near dups"), ("last_round", "rounds"),
            ("removed", "removed"), ("rows", "rows"), ("files", "files")]
    if "bands" in t:  # dedup's "rows" is its LSH rows per band, not a row count
        keys = [kl for kl in keys if kl[0] != "rows"]
    parts = [f"{label} {t[k]:,}" if isinstance(t.get(k), int) else "" for k, label in keys if k in t]
    return ", ".join(p for p in parts if p)


def run_pipeline(cfg: Config, until: str | None = None) -> int:
    """Run every stage in order (or up to ``until``); skip complete ones; write run_stats.json after each."""
    from pipeline.config import ConfigError
    from pipeline.ray_env import ensure_ray

    names = [s.name for s in STAGES]
    if until is not None and until not in names:
        raise ConfigError(f"--until: unknown stage {until!r}; stages: {', '.join(names)}")
    stages = STAGES[: names.index(until) + 1] if until else STAGES
    workdir = cfg.workdir_path
    workdir.mkdir(parents=True, exist_ok=True)
    todo = [s for s in stages if s.always or not is_complete(workdir / s.name)]
    # One Ray for the whole run (joins RAY_ADDRESS under `ray job submit`): stages reuse it.
    started_ray = ensure_ray() if any(s.uses_ray for s in todo) else False
    summary: list[dict] = []
    t_run = time.perf_counter()
    try:
        for stage in stages:
            folder = workdir / stage.name
            t0 = time.perf_counter()
            if is_complete(folder) and not stage.always:
                log.info("stage %s: complete, skipped", stage.name)
                stats, status = read_marker(folder), "cached"
            else:
                log.info("stage %s: running", stage.name)
                stats, status = stage.run(cfg, folder), "ran"
            summary.append({"stage": stage.name, "status": status, "seconds": round(time.perf_counter() - t0, 2),
                            "stats": stats})
            write_json_atomic(workdir / "run_stats.json", {"stages": summary,
                                                           "seconds": round(time.perf_counter() - t_run, 2)})
    finally:
        if started_ray:
            import ray

            ray.shutdown()
    width = max(len(s["stage"]) for s in summary)
    print(f"\n{'stage'.ljust(width)}  status  seconds  summary")
    for s in summary:
        print(f"{s['stage'].ljust(width)}  {s['status']:6}  {s['seconds']:7.1f}  {_headline(s['stats'])}")
    print(f"{'total'.ljust(width)}          {time.perf_counter() - t_run:7.1f}  report: {workdir / 'report' / 'index.html'}")
    return 0
