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

from pipeline.core.config import Config
from pipeline.core.io import is_complete, mark_complete, read_marker, sweep_stale_temps, workdir_lock, write_json_atomic

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
    from pipeline.pool import pool_outputs, run_pool

    inputs = cfg.pool.resolved_inputs() or [str(cfg.workdir_path / "minicc" / "warc" / "*.warc.gz")]
    stats = run_pool(inputs, folder, cfg.pool, progress=True)
    for f in stats["failures"]:
        log.warning("pool: input failed: %s: %s", f["path"], f["reason"])
    summary = {k: v for k, v in stats.items() if k != "per_warc"}
    retryable = [f for f in stats["failures"] if f["retryable"]]
    if retryable:
        # An input that could not be opened, or whose worker died more often than pool.max_retries: the
        # WARCs that finished keep their markers, and a rerun extracts only the ones listed here.
        raise RuntimeError(f"pool: {len(retryable)} input(s) failed and may succeed on a retry (first: "
                           f"{retryable[0]['path']}: {retryable[0]['reason']}); rerun to extract only those")
    if stats["failures"]:
        # run_pool leaves its marker off while inputs fail (so `extract` retries them); inside
        # `make corpus` the damaged inputs are known and final, so the stage is complete.
        mark_complete(folder, summary, outputs=pool_outputs(folder))
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

    from pipeline.core.schema import CORPUS_SCHEMA
    from pipeline.shard import ShardSpec, write_corpus

    kept = sorted((cfg.workdir_path / "decontam" / "kept").glob("*.parquet"))
    if not is_complete(cfg.workdir_path / "decontam"):
        raise RuntimeError(f"corpus needs the decontam stage's output: {cfg.workdir_path / 'decontam'}/_SUCCESS")
    c = cfg.corpus
    spec = ShardSpec(target_rows=c.target_rows, target_bytes=c.target_bytes, row_group_rows=c.row_group_rows,
                     compression=c.compression)
    # Files are read in name order and each is sorted by id, so the shards are the same on every rerun.
    tables = (pq.read_table(f, columns=CORPUS_SCHEMA.names) for f in kept)
    total = sum(pq.ParquetFile(f).metadata.num_rows for f in kept)
    manifest = write_corpus(tables, folder, spec, stage_counts=stage_counts(cfg.workdir_path),
                            config=cfg.model_dump(), progress=True, total_rows=total)
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
    marker = read_marker(folder) if is_complete(folder) else {}  # adds what the marker holds (recalled pages)
    return marker | {k: v for k, v in summary.items() if k != "rounds"} | {
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


def stage_rows(name: str, stats: dict) -> tuple[int | None, int | None]:
    """(rows in, rows out) of a stage from its stats: WARC records or pages for the page stages,
    documents for megatron; None where a stage has no such count (the report)."""
    def num(v):
        return v if isinstance(v, int) and not isinstance(v, bool) else None

    if name == "minicc":
        return None, num(stats.get("response_records"))
    if name == "pool":
        t = stats.get("totals") or {}
        return num(t.get("records_seen")), num(t.get("kept"))
    if name == "dedup":
        return num(stats.get("docs")), num(stats.get("kept"))
    if name == "rounds":
        return num(stats.get("pool_pages")), num((stats.get("recalled") or {}).get("pages"))
    if name == "decontam":
        return num(stats.get("pages")), num(stats.get("kept"))
    if name == "corpus":
        return num(stats.get("rows")), num(stats.get("rows"))  # sharding keeps every row
    if name == "megatron" and isinstance(stats.get("sources"), dict):
        src = stats["sources"].values()
        return sum(s["docs"] + s["dropped"] for s in src), sum(s["docs"] for s in src)
    return None, None


def _notes(name: str, stats: dict) -> str:
    """What the rows in/out columns do not say, briefly."""
    def n(v) -> str:
        return f"{v:,}" if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v)

    if stats.get("error"):
        return f"FAILED: {stats['error']}"
    if stats.get("skipped"):
        return str(stats["skipped"])
    if name == "minicc":
        return f"{n(stats.get('warc_files'))} WARC files, {n(stats.get('math_pages'))} math pages"
    if name == "pool":
        t = stats.get("totals") or {}
        failed = len(stats.get("failures") or [])
        return f"{n(stats.get('inputs'))} WARCs, dropped {n(t.get('dropped'))}" + (
            f", {failed} input(s) failed" if failed else "")
    if name == "dedup":
        return (f"exact dups {n(stats.get('removed_exact'))}, near dups {n(stats.get('removed_near'))}, "
                f"empty {n(stats.get('dropped_empty'))}")
    if name == "rounds":
        return f"{n(stats.get('last_round'))} rounds, {stats.get('stop_reason')}"
    if name == "decontam":
        return f"removed {n(stats.get('removed'))}, files {n(stats.get('files'))}"
    if name == "corpus":
        return f"{n(stats.get('files'))} shards, {n(stats.get('bytes'))} bytes"
    if name == "megatron" and isinstance(stats.get("sources"), dict):
        return f"{n(stats.get('tokens'))} tokens, sources {', '.join(stats['sources'])}"
    if name == "report":
        t = stats.get("totals") or {}
        if t:
            verdict = "balanced" if t.get("balanced") else "NOT balanced"
            return (f"records in {n(t.get('in'))} = corpus {n(t.get('out'))} + dropped "
                    f"{n(sum((t.get('dropped') or {}).values()))}: {verdict}")
    return ""


def _print_summary(summary: list[dict], seconds: float, workdir: Path) -> None:
    """The table at the end of a run: per stage ran/cached, seconds, rows in and out, notes."""
    def cell(v) -> str:
        return "-" if v is None else f"{v:,}"

    rows = [(s["stage"], s["status"], f"{s['seconds']:.1f}", cell(s.get("rows_in")), cell(s.get("rows_out")),
             _notes(s["stage"], s["stats"])) for s in summary]
    head = ("stage", "status", "seconds", "rows in", "rows out", "notes")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(5)]
    just = [str.ljust, str.ljust, str.rjust, str.rjust, str.rjust]

    def line(r) -> str:
        return "  ".join(j(c, w) for j, c, w in zip(just, r[:5], widths)) + "  " + r[5]

    print("\n" + line(head))
    for r in rows:
        print(line(r))
    print(line(("total", "", f"{seconds:.1f}", "", "", f"report: {workdir / 'report' / 'index.html'}")))


def _sweep(name: str, folder: Path, whose: str) -> None:
    """Remove temporary files that killed processes left in a stage folder (see sweep_stale_temps)."""
    swept, freed = sweep_stale_temps(folder)
    if swept:
        log.info("stage %s: removed %d temporary file(s) of %s (%.1f MiB)", name, swept, whose, freed / 2**20)


def run_pipeline(cfg: Config, until: str | None = None) -> int:
    """Run every stage in order (or up to ``until``); skip complete ones; write run_stats.json after each.

    A stage that raises is recorded as ``failed`` (with its error) in run_stats.json and the summary
    table, then the error propagates: the stages before it keep their markers, so a rerun resumes there.
    """
    from pipeline.core.config import ConfigError

    names = [s.name for s in STAGES]
    if until is not None and until not in names:
        raise ConfigError(f"--until: unknown stage {until!r}; stages: {', '.join(names)}")
    stages = STAGES[: names.index(until) + 1] if until else STAGES
    workdir = cfg.workdir_path
    with workdir_lock(workdir) as lock:  # one run per workdir
        if lock.get("taken_over"):
            old = lock["taken_over"]
            log.info("took over the lock of an earlier run that ended without releasing it (pid %s on %s, started "
                     "%s)", old.get("pid"), old.get("host"), old.get("started"))
        # The config as this run resolved it (defaults, file, --set): the report shows it and `report --compare`
        # lists what differs between two runs.
        write_json_atomic(workdir / "run_config.json", cfg.model_dump(mode="json"))
        return _run_locked(cfg, stages, workdir)


def _run_locked(cfg: Config, stages: list[Stage], workdir: Path) -> int:
    from pipeline.core.progress import logs_above_bars
    from pipeline.core.executor import ensure_ray

    todo = [s for s in stages if s.always or not is_complete(workdir / s.name)]
    # One Ray for the whole run (joins RAY_ADDRESS under `ray job submit`): stages reuse it.
    started_ray = ensure_ray() if any(s.uses_ray for s in todo) else False
    summary: list[dict] = []
    t_run = time.perf_counter()

    def record(stage: Stage, status: str, t0: float, stats: dict) -> None:
        rows_in, rows_out = stage_rows(stage.name, stats)
        summary.append({"stage": stage.name, "status": status, "seconds": round(time.perf_counter() - t0, 2),
                        "rows_in": rows_in, "rows_out": rows_out, "stats": stats})
        write_json_atomic(workdir / "run_stats.json", {"stages": summary,
                                                       "seconds": round(time.perf_counter() - t_run, 2)})

    try:
        with logs_above_bars():
            for stage in stages:
                folder = workdir / stage.name
                t0 = time.perf_counter()
                if is_complete(folder) and not stage.always:
                    log.info("stage %s: complete, skipped", stage.name)
                    record(stage, "cached", t0, read_marker(folder))
                    continue
                log.info("stage %s: running", stage.name)
                _sweep(stage.name, folder, "an interrupted run")
                try:
                    stats = stage.run(cfg, folder)
                except BaseException as exc:
                    record(stage, "failed", t0, {"error": f"{type(exc).__name__}: {exc}"[:300]})
                    _print_summary(summary, time.perf_counter() - t_run, workdir)
                    raise
                _sweep(stage.name, folder, "workers killed during the stage")  # all its writers are done now
                record(stage, "ran", t0, stats)
    finally:
        if started_ray:
            import ray

            ray.shutdown()
    _print_summary(summary, time.perf_counter() - t_run, workdir)
    return 0
