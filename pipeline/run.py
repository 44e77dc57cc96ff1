"""``python -m pipeline run``: every stage in order under one workdir (a local path or an fsspec URL).

``STAGES`` is the whole wiring: each stage's name (also its folder, ``<workdir>/<name>``), the function that
runs it (``run(ctx) -> StageStats``) and the stages whose outputs it reads; nothing else in the project says
which stage reads whose output. A stage whose marker vouches for its outputs is skipped, so a rerun after a
crash resumes. One :class:`~pipeline.core.executor.Executor` serves the whole run: Ray starts and stops there
only. The summary table, ``run_stats.json`` and the report read :class:`~pipeline.core.stats.StageStats`.
"""
from __future__ import annotations

import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Callable

from pipeline.core import storage
from pipeline.core.config import Config
from pipeline.core.executor import Executor
from pipeline.core.io import is_complete, read_marker, sweep_stale_temps, workdir_lock
from pipeline.core.stage import Stage, StageContext
from pipeline.core.stats import StageStats

log = logging.getLogger(__name__)


# --- stages whose writers know local folders only, and their dicts as StageStats ----------------------------
# The page stages (pool, dedup, rounds, decontam, corpus) are run_<stage>_stage(ctx) -> StageStats in their
# own packages; the mini-CC generator and the Megatron build write local folders and return dicts.

def _staged(ctx: StageContext, build: Callable[[Path], dict]) -> dict:
    """Run ``build(local folder)``; for a URL folder build in a local temporary folder, then publish every
    file under ``ctx.folder`` with the marker last (for writers that know local files only)."""
    if not storage.is_url(ctx.folder):
        return build(Path(ctx.folder))
    with tempfile.TemporaryDirectory(prefix=f"{Path(ctx.folder).name}-") as tmp:
        local = Path(tmp) / "stage"
        stats = build(local)
        storage.publish_folder(local, ctx.folder)
    return stats


def minicc_stats(d: dict) -> StageStats:
    return StageStats("minicc", rows_out=d.get("response_records"), seconds=float(d.get("seconds") or 0),
                      notes=f"{d.get('warc_files')} WARC files, {d.get('math_pages')} math pages",
                      extra={k: d[k] for k in ("warc_files", "math_pages", "response_records") if k in d})


def _run_minicc(ctx: StageContext) -> StageStats:
    from pipeline.synth import generate_minicc

    cfg = ctx.cfg
    if not cfg.pool.reads_minicc:  # a real crawl: nothing synthetic is generated (and no marker written)
        why = "the pool reads real input (pool.inputs / pool.crawls)"
        log.info("stage minicc: skipped, the pool reads %s", ", ".join(cfg.pool.resolved_inputs()))
        return StageStats("minicc", notes=why, extra={"skipped": why})
    return minicc_stats(_staged(ctx, lambda folder: generate_minicc(cfg.synth, folder, progress=ctx.progress)))


def megatron_stats(d: dict) -> StageStats:
    src = d.get("sources") or {}
    return StageStats("megatron", rows_in=sum(s["docs"] + s["dropped"] for s in src.values()),
                      rows_out=sum(s["docs"] for s in src.values()),
                      dropped={"empty_after_tokenization": sum(s["dropped"] for s in src.values())},
                      units=len(src), notes=f"{d.get('tokens', 0):,} tokens, sources {', '.join(src)}",
                      extra={"sources": src, "tokens": d.get("tokens")})


def corpus_files(folder: str) -> list[str]:
    """The corpus stage's shards, ``<workdir>/corpus/part-*.parquet`` (empty when there is no corpus yet)."""
    return [f for f in storage.list_files(folder, ".parquet") if storage.name(f).startswith("part-")]


def _run_megatron(ctx: StageContext) -> StageStats:
    from training.mixture import build_megatron

    corpus = ctx.inputs["corpus"]
    if not corpus_files(corpus):
        why = f"no corpus in {corpus}"
        log.warning("stage megatron: no corpus shards in %s yet, nothing to tokenise: skipped (no marker written; "
                    "a later run tokenises the corpus once it exists)", corpus)
        return StageStats("megatron", notes=why, extra={"skipped": why})
    # On an object store the datasets are built locally and published; the tokenised parts go to the run
    # folder, where every node can write them and a rerun finds them.
    parts_root = ctx.folder if storage.is_url(ctx.folder) else None
    return megatron_stats(_staged(ctx, lambda folder: build_megatron(ctx.cfg, folder, parts_root=parts_root)))


def _run_report(ctx: StageContext) -> StageStats:
    from pipeline.report import build_report

    stats = build_report(ctx.workdir, ctx.folder)
    t = stats["totals"]
    notes = ""
    if t:
        verdict = "balanced" if t.get("balanced") else "NOT balanced"
        notes = (f"records in {t.get('in'):,} = corpus {t.get('out'):,} + dropped "
                 f"{sum((t.get('dropped') or {}).values()):,}: {verdict}")
    return StageStats("report", notes=notes, units=len(stats["plots"]), extra={"plots": stats["plots"], "totals": t})


#: What reads the marker of a stage that returns a dict (the others' markers are StageStats).
_MARKER_STATS: dict[str, Callable[[dict], StageStats]] = {"minicc": minicc_stats, "megatron": megatron_stats}


def _run_pool(ctx: StageContext) -> StageStats:
    from pipeline.pool import run_pool_stage

    return run_pool_stage(ctx)


def _run_dedup(ctx: StageContext) -> StageStats:
    from dedup.stage import run_dedup_stage

    return run_dedup_stage(ctx)


def _run_rounds(ctx: StageContext) -> StageStats:
    from classifiers.recall import run_recall_stage

    return run_recall_stage(ctx)


def _run_decontam(ctx: StageContext) -> StageStats:
    from decontam.stage import run_decontam_stage

    return run_decontam_stage(ctx)


def _run_corpus(ctx: StageContext) -> StageStats:
    from pipeline.corpus import run_corpus_stage

    return run_corpus_stage(ctx)


# --- the wiring --------------------------------------------------------------------------------------------

STAGES: list[Stage] = [
    Stage("minicc", _run_minicc),
    Stage("pool", _run_pool, reads=("minicc",)),
    Stage("dedup", _run_dedup, reads=("pool",)),
    Stage("rounds", _run_rounds, reads=("minicc", "pool", "dedup")),
    Stage("decontam", _run_decontam, reads=("minicc", "pool", "dedup", "rounds")),
    Stage("corpus", _run_corpus, reads=("pool", "dedup", "rounds", "decontam")),
    Stage("megatron", _run_megatron, reads=("corpus",)),
    Stage("report", _run_report, reads=("minicc", "pool", "dedup", "rounds", "decontam", "corpus", "megatron"),
          always=True),
]

#: The stages that pass pages on, in order: rows out of one are rows in of the next (the report's accounting).
PAGE_STAGES = ("pool", "dedup", "rounds", "decontam", "corpus")


def stage_stats(workdir: str, name: str) -> StageStats | None:
    """A finished stage's StageStats, from its marker (None when the stage is not complete)."""
    folder = storage.join(workdir, name)
    if not is_complete(folder):
        return None
    marker = read_marker(folder)
    if marker.get("stage") == name and "rows_in" in marker:
        return StageStats.from_dict(marker)
    convert = _MARKER_STATS.get(name)
    return convert(marker) if convert else StageStats(name)


# --- running -----------------------------------------------------------------------------------------------

def run_stage(cfg: Config, name: str, folder: str | None = None, *, progress: bool = True) -> StageStats:
    """One stage alone (the CLI's stage commands), wired as in ``STAGES``: it reads the folders of the stages
    it declares under the config's workdir and writes ``folder`` (default ``<workdir>/<name>``). Runs on the
    command's executor (:func:`pipeline.core.executor.current`)."""
    from pipeline.core.executor import current

    stage = next((s for s in STAGES if s.name == name), None)
    if stage is None:
        raise ValueError(f"no stage {name!r}")
    cfg.apply_storage_options()
    ctx = StageContext(cfg=cfg, workdir=cfg.workdir, folder=folder or storage.join(cfg.workdir, name),
                       inputs={r: storage.join(cfg.workdir, r) for r in stage.reads}, executor=current(),
                       progress=progress, storage_options=dict(cfg.storage_options))
    return stage.run(ctx)


def _print_summary(summary: list[dict], seconds: float, workdir: str) -> None:
    """The table at the end of a run: per stage ran/cached, seconds, rows in and out, notes."""
    def cell(v) -> str:
        return "-" if v is None else f"{v:,}"

    rows = [(s["stage"], s["status"], f"{s['seconds']:.1f}", cell(s.get("rows_in")), cell(s.get("rows_out")),
             s.get("notes", "")) for s in summary]
    head = ("stage", "status", "seconds", "rows in", "rows out", "notes")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(5)]
    just = [str.ljust, str.ljust, str.rjust, str.rjust, str.rjust]

    def line(r) -> str:
        return "  ".join(j(c, w) for j, c, w in zip(just, r[:5], widths)) + "  " + r[5]

    print("\n" + line(head))
    for r in rows:
        print(line(r))
    print(line(("total", "", f"{seconds:.1f}", "", "", f"report: {storage.join(workdir, 'report', 'index.html')}")))


def _sweep(name: str, folder: str, whose: str) -> None:
    """Remove temporary files (local) or keys (object store) that killed writers left in a stage folder."""
    if storage.is_url(folder):
        swept = storage.sweep_temp_keys(folder)
        freed = 0
    else:
        swept, freed = sweep_stale_temps(folder)
    if swept:
        log.info("stage %s: removed %d temporary file(s) of %s (%.1f MiB)", name, swept, whose, freed / 2**20)


def run_pipeline(cfg: Config, until: str | None = None, *, progress: bool = True) -> int:
    """Run every stage in order (or up to ``until``); skip complete ones; write run_stats.json after each.

    A stage that raises is recorded as ``failed`` (with its error) in run_stats.json and the summary
    table, then the error propagates: the stages before it keep their markers, so a rerun resumes there.
    """
    from pipeline.core.config import ConfigError

    names = [s.name for s in STAGES]
    if until is not None and until not in names:
        raise ConfigError(f"--until: unknown stage {until!r}; stages: {', '.join(names)}")
    for s in STAGES:
        unknown = [r for r in s.reads if r not in names[: names.index(s.name)]]
        if unknown:
            raise RuntimeError(f"stage {s.name} reads {unknown}, which do not run before it")
    stages = STAGES[: names.index(until) + 1] if until else STAGES
    cfg.apply_storage_options()
    workdir = cfg.workdir
    storage.makedirs(workdir)
    with workdir_lock(workdir, stale_after=cfg.lock_stale_seconds) as lock:  # one run per workdir
        if lock.get("taken_over"):
            old = lock["taken_over"]
            log.info("took over the lock of an earlier run that ended without releasing it (pid %s on %s, started "
                     "%s)", old.get("pid"), old.get("host"), old.get("started"))
        # The config as this run resolved it (defaults, file, --set): the report shows it and `report --compare`
        # lists what differs between two runs.
        _write_json(storage.join(workdir, "run_config.json"), cfg.model_dump(mode="json"))
        with Executor() as executor:
            return _run_locked(cfg, stages, workdir, executor, progress)


def _write_json(url: str, obj) -> None:
    storage.write_bytes(url, (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode())


def _run_locked(cfg: Config, stages: list[Stage], workdir: str, executor: Executor, progress: bool) -> int:
    from pipeline.core.progress import logs_above_bars

    summary: list[dict] = []
    skipped: set[str] = set()
    t_run = time.perf_counter()

    def record(stage: Stage, status: str, t0: float, stats: StageStats, error: str | None = None) -> None:
        entry = {"stage": stage.name, "status": status, "seconds": round(time.perf_counter() - t0, 2),
                 "rows_in": stats.rows_in, "rows_out": stats.rows_out, "dropped": stats.dropped,
                 "notes": f"FAILED: {error}" if error else stats.notes, "stats": stats.to_dict()}
        if error:
            entry["error"] = error
        cpu = {k: round(v - cpu_before.get(k, 0.0), 3) for k, v in executor.unit_cpu_seconds.items()
               if v - cpu_before.get(k, 0.0) > 0}
        if cpu:
            entry["unit_cpu_seconds"] = cpu  # per executor step: the CPU its units spent in the workers
        nodes = _nodes_of(executor, placed_before)
        if nodes:
            entry["nodes"] = nodes  # units run per Ray node during this stage
        summary.append(entry)
        _write_json(storage.join(workdir, "run_stats.json"),
                    {"stages": summary, "seconds": round(time.perf_counter() - t_run, 2)})

    with logs_above_bars():
        for stage in stages:
            folder = storage.join(workdir, stage.name)
            t0 = time.perf_counter()
            placed_before = {k: dict(v) for k, v in executor.placement.items()}
            cpu_before = dict(executor.unit_cpu_seconds)
            if not stage.always and is_complete(folder):
                log.info("stage %s: complete, skipped", stage.name)
                record(stage, "cached", t0, stage_stats(workdir, stage.name) or StageStats(stage.name))
                continue
            log.info("stage %s: running", stage.name)
            ctx = StageContext(cfg=cfg, workdir=workdir, folder=folder,
                               inputs={r: storage.join(workdir, r) for r in stage.reads}, executor=executor,
                               progress=progress, storage_options=dict(cfg.storage_options))
            try:
                missing = [r for r in stage.reads if r not in skipped and not is_complete(ctx.inputs[r])]
                if missing and not stage.always:
                    raise RuntimeError(f"{stage.name} needs the output of {', '.join(missing)}: "
                                       f"{ctx.inputs[missing[0]]} is not complete")
                _sweep(stage.name, folder, "an interrupted run")
                stats = stage.run(ctx)
            except BaseException as exc:
                error = f"{type(exc).__name__}: {exc}"[:300]
                record(stage, "failed", t0, StageStats(stage.name), error)
                _print_summary(summary, time.perf_counter() - t_run, workdir)
                raise
            _sweep(stage.name, folder, "workers killed during the stage")  # all its writers are done now
            if stats.extra.get("skipped"):
                skipped.add(stage.name)
            record(stage, "skipped" if stats.extra.get("skipped") else "ran", t0, stats)
    _print_summary(summary, time.perf_counter() - t_run, workdir)
    return 0


def _nodes_of(executor: Executor, before: dict[str, dict[str, int]]) -> dict[str, int]:
    """Units the executor ran per Ray node since ``before`` (a copy of its placement)."""
    out: dict[str, int] = {}
    for step, placed in executor.placement.items():
        for node, n in placed.items():
            d = n - before.get(step, {}).get(node, 0)
            if d:
                out[node] = out.get(node, 0) + d
    return out
