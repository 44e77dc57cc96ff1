"""The pool stage: WARC files become deduplicated, math-preserving pool rows, every unit on the executor.

Layout of the stage folder (``<workdir>/pool/`` or ``extract --output DIR``; a local path or an fsspec URL
such as ``s3://bucket/run/pool``)::

    warcs/<key>/pages.parquet   candidate rows of one WARC (POOL_SCHEMA), before cross-WARC URL dedup
    warcs/<key>/drops.parquet   records of that WARC dropped while reading (DROP_LOG_SCHEMA)
    warcs/<key>/_SUCCESS        per-WARC completion marker with the WARC's stats and the fingerprint of the
                                extraction settings (written last)
    url_dedup/<fp>/...          the partitioned URL dedup's keys, losers and unit markers (pipeline.url_dedup)
    pages/<key>.parquet         the pool: rows that won URL dedup (ids unique across the run)
    drops/<key>.parquet         every dropped record of the WARC, ``duplicate_url`` losers included
    stats.json                  per-WARC and total stats, math survival, failures
    failures.json               inputs that failed: path and reason
    _SUCCESS                    the stage's StageStats (and its totals), written last

``<key>`` is the WARC's file name without ``.warc.gz`` plus 8 hex digits of sha1(path), so equal names from
different crawls never collide (:func:`pipeline.commoncrawl.inputs.warc_key`).

Three steps, each a set of units on :class:`pipeline.core.executor.Executor`; the driver holds one stats dict
per unit:

1. **extract** (``PoolWorker`` actors, the language-ID model loaded once per worker; a unit per WARC) writes
   ``warcs/<key>/``, its marker last; a rerun skips WARCs whose marker holds the same settings fingerprint.
2. **URL dedup** (:mod:`pipeline.url_dedup`: a unit per WARC, then a unit per hash partition of ids) picks
   one capture per normalised URL: the earliest ``fetch_time`` wins, ties broken by WARC path then offset, so
   the result does not depend on scheduling order.
3. **publish** (a unit per WARC) writes ``pages/<key>.parquet`` and ``drops/<key>.parquet``: the per-WARC
   files themselves (a hard link, or a server-side copy on an object store) when the WARC lost nothing.

:func:`run_pool_stage` is the stage for the orchestrator (``StageContext`` in, ``StageStats`` out);
:func:`run_pool` is the same work for ``pipeline extract``.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import resource
import time
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.commoncrawl.inputs import InputPolicy, open_input, resolve_inputs, warc_key
from pipeline.commoncrawl.warc import WarcReadError, iter_raw_records, quote_prefix
from pipeline.core import storage
from pipeline.core.io import is_complete, mark_complete, read_marker
from pipeline.core.schema import DROP_LOG_SCHEMA, POOL_SCHEMA, validate_table
from pipeline.core.stage import StageContext
from pipeline.core.stats import StageStats
from pipeline.extraction.extract import Drop, ExtractSettings, extract_record
from pipeline.url_dedup import loser_rows, partitions_for, url_dedup

log = logging.getLogger(__name__)

STAGE = "pool"


# --- step 1: one WARC ---------------------------------------------------------

def settings_from_config(pool_cfg) -> ExtractSettings:
    return ExtractSettings(
        max_record_bytes=pool_cfg.max_record_bytes,
        max_seconds_per_record=pool_cfg.max_seconds_per_record,
        min_text_chars=pool_cfg.min_text_chars,
        lang_chars=pool_cfg.lang_chars,
        include_tables=pool_cfg.include_tables,
        include_comments=pool_cfg.include_comments,
        favor_recall=pool_cfg.favor_recall,
        extractor=pool_cfg.extractor,
    )


def extract_fingerprint(settings: ExtractSettings) -> str:
    """What a WARC's outputs depend on besides its bytes: the extraction settings."""
    return hashlib.sha1(json.dumps(asdict(settings), sort_keys=True).encode()).hexdigest()[:16]


def warc_folder(out_dir: str, key: str) -> str:
    return storage.join(str(out_dir), "warcs", key)


def finished_warc(folder: str, fingerprint: str, storage_options: dict | None = None) -> dict | None:
    """The stats of a WARC already extracted with these settings (its outputs intact), else None."""
    if not is_complete(folder, storage_options):
        return None
    stats = read_marker(folder, storage_options)
    if stats.get("fingerprint") != fingerprint:
        return None
    stats["skipped"] = True
    return stats


#: Upper edges of the per-page math survival histogram (LaTeX fragments kept / math elements in the HTML).
SURVIVAL_BINS = (0.5, 0.9, 0.99, 1.0)


def _survival_bin(row: dict) -> str | None:
    """The histogram bin of a page's math survival, or None for a page without math elements."""
    if not row["math_elements_html"]:
        return None
    share = min(1.0, row["math_fragments_text"] / row["math_elements_html"])
    for edge in SURVIVAL_BINS[:-1]:
        if share < edge:
            return f"<{edge}"
    return "1.0" if share >= 1.0 else "<1.0"


def _drop_row(d: Drop, rec) -> dict:
    return {"stage": STAGE, "reason": d.reason, "detail": d.detail, "id": d.id, "url": d.url,
            "warc_path": rec.warc_path, "warc_record_id": rec.record_id, "warc_offset": rec.offset}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def process_warc(path: str, out_dir: str, settings: ExtractSettings, storage_options: dict | None = None,
                 out_options: dict | None = None) -> dict:
    """Extract one WARC into ``out_dir/warcs/<key>/``; return its stats. Never raises on bad input.

    ``storage_options`` open the WARC, ``out_options`` the stage folder (None: the process's defaults,
    :mod:`pipeline.core.storage`). A file damaged midway keeps the rows read before the damage: its outputs
    and marker are written with ``error`` set (rereading it gives the same result). A file that cannot be
    opened writes nothing, so a rerun tries again.
    """
    key = warc_key(path)
    folder = warc_folder(out_dir, key)
    fingerprint = extract_fingerprint(settings)
    done = finished_warc(folder, fingerprint, out_options)
    if done is not None:
        return done
    storage.makedirs(folder)
    if not storage.is_url(folder):
        for stale in storage.local_path(folder).glob(".*.tmp-*"):  # left by a killed run
            stale.unlink(missing_ok=True)
    t0 = time.perf_counter()
    rows: list[dict] = []
    drops: list[dict] = []
    reasons: Counter = Counter()
    math_kinds: Counter = Counter()
    survival: Counter = Counter()
    low_survival: list[str] = []
    visible_chars = 0
    seen = 0
    warc_bytes = 0
    html_bytes = 0
    error = None
    try:
        with open_input(path, storage_options) as fh:
            for rec in iter_raw_records(fh, path, settings.max_record_bytes):
                seen += 1
                warc_bytes += rec.length
                out = extract_record(rec, settings)
                if isinstance(out, Drop):
                    reasons[out.reason] += 1
                    drops.append(_drop_row(out, rec))
                else:
                    math_kinds.update(out.pop("_math_by_kind"))
                    visible_chars += out.pop("_visible_chars")
                    bin_ = _survival_bin(out)
                    if bin_ is not None:
                        survival[bin_] += 1
                        if bin_ in ("<0.5", "<0.9") and len(low_survival) < 20:
                            low_survival.append(out["url"])
                    html_bytes += out["html_bytes"]
                    rows.append(out)
    except WarcReadError as exc:
        if exc.retryable:  # the bytes could not be fetched: nothing is written, a rerun reads the file again
            return {"path": path, "key": key, "error": exc.reason[:500], "records_read": seen, "retryable": True}
        error = exc.reason  # damage in the file: the records before it are kept, the same on every read
    except FileNotFoundError:
        return {"path": path, "key": key, "error": "file not found", "retryable": True}
    except IsADirectoryError:
        return {"path": path, "key": key, "error": "a directory, not a WARC file", "retryable": False}
    except OSError as exc:  # opening failed (permissions, network): may succeed later
        return {"path": path, "key": key, "error": f"cannot open: {type(exc).__name__}: "
                f"{quote_prefix(str(exc), 300)}", "retryable": True}
    pages = pa.Table.from_pylist(rows, schema=POOL_SCHEMA)
    validate_table(pages, POOL_SCHEMA, f"pool rows of {path}")
    storage.write_parquet(storage.join(folder, "pages.parquet"), pages, out_options)
    storage.write_parquet(storage.join(folder, "drops.parquet"), pa.Table.from_pylist(drops, schema=DROP_LOG_SCHEMA),
                          out_options)
    math_html = sum(r["math_elements_html"] for r in rows)
    math_text = sum(r["math_fragments_text"] for r in rows)
    stats = {
        "path": path,
        "key": key,
        "records_seen": seen,
        "kept": len(rows),
        "dropped": sum(reasons.values()),
        "dropped_by_reason": dict(sorted(reasons.items())),
        "warc_bytes": warc_bytes,
        "html_bytes": html_bytes,
        "text_chars": sum(len(r["text"]) for r in rows),
        "visible_chars": visible_chars,
        "math_survival_pages": dict(sorted(survival.items())),
        "math_survival_low_urls": low_survival,
        "seconds": round(time.perf_counter() - t0, 3),
        "math_elements_html": math_html,
        "math_fragments_text": math_text,
        "math_elements_by_kind": dict(sorted(math_kinds.items())),
        "math_pages": sum(1 for r in rows if r["math_elements_html"]),
        "langs": dict(Counter(r["lang"] for r in rows).most_common(20)),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "worker_pid": os.getpid(),
        "fingerprint": fingerprint,
        "error": error,
    }
    assert stats["records_seen"] == stats["kept"] + stats["dropped"], stats
    mark_complete(folder, stats, outputs=["pages.parquet", "drops.parquet"], storage_options=out_options)
    return stats


class _PoolWorker:
    """A pool worker's state: the extraction settings, with the language-ID model loaded once per worker."""

    def __init__(self, settings: dict, storage_options: dict | None, out_dir: str, out_options: dict | None):
        from pipeline.extraction.extract import _identifier

        self.settings = ExtractSettings(**settings)
        self.storage_options = storage_options
        self.out_dir = out_dir
        self.out_options = out_options
        _identifier()


def _extract_warc(worker: _PoolWorker, path: str) -> dict:
    return process_warc(path, worker.out_dir, worker.settings, worker.storage_options, worker.out_options)


# --- step 3: publish one WARC's pool files ------------------------------------------

@dataclass(frozen=True)
class PublishUnit:
    key: str
    out_dir: str
    dedup_folder: str
    out_options: dict | None = None


def publish_warc(unit: PublishUnit) -> dict:
    """Write ``pages/<key>.parquet`` (the rows that won URL dedup) and ``drops/<key>.parquet`` (the WARC's drops
    and its ``duplicate_url`` losers). Returns the WARC's counts after URL dedup."""
    opts = unit.out_options
    folder = warc_folder(unit.out_dir, unit.key)
    pages_src, drops_src = storage.join(folder, "pages.parquet"), storage.join(folder, "drops.parquet")
    pages_dst = storage.join(unit.out_dir, "pages", f"{unit.key}.parquet")
    drops_dst = storage.join(unit.out_dir, "drops", f"{unit.key}.parquet")
    losers = loser_rows(unit.dedup_folder, unit.key, opts)
    if not losers.num_rows:
        # Nothing of this WARC lost to an earlier capture (the usual case on real Common Crawl, which
        # fetches a URL once per crawl): the pool's files are the per-WARC files themselves, not copies.
        storage.link_or_copy(pages_src, pages_dst, opts)
        storage.link_or_copy(drops_src, drops_dst, opts)
        return {"kept_after_dedup": storage.parquet_rows(pages_dst, opts), "duplicate_url": 0}
    pages = storage.read_parquet_table(pages_src, storage_options=opts)
    drops = storage.read_parquet_table(drops_src, storage_options=opts)
    rows = losers.column("row").to_numpy()
    if pages.column("id").take(pa.array(rows)) != losers.column("id"):
        raise RuntimeError(f"{pages_src}: the URL dedup's losers do not match the file's rows (changed under it?)")
    keep = np.ones(pages.num_rows, dtype=bool)
    keep[rows] = False
    mask = pa.array(keep)
    kept = pages.filter(mask)
    lost = pages.filter(pc.invert(mask))
    dup_rows = [{"stage": STAGE, "reason": "duplicate_url",
                 "detail": "earlier capture kept", "id": r["id"], "url": r["url"],
                 "warc_path": r["warc_path"], "warc_record_id": r["warc_record_id"],
                 "warc_offset": r["warc_offset"]}
                for r in lost.select(["id", "url", "warc_path", "warc_record_id", "warc_offset"]).to_pylist()]
    all_drops = pa.concat_tables([drops, pa.Table.from_pylist(dup_rows, schema=DROP_LOG_SCHEMA)])
    storage.write_parquet(pages_dst, kept, opts)
    storage.write_parquet(drops_dst, all_drops, opts)
    return {"kept_after_dedup": kept.num_rows, "duplicate_url": lost.num_rows}


# --- the stage ------------------------------------------------------------------------

def pool_stage(inputs: list[str], out_dir: str, pool_cfg, executor, *, progress: bool = True,
               input_options: dict | None = None, out_options: dict | None = None,
               url_partitions: int | None = None) -> tuple[StageStats, dict]:
    """Extract ``inputs`` (paths, globs, URLs, manifests) into ``out_dir`` on ``executor`` and publish the pool.

    Returns (the stage's stats, the summary ``stats.json`` holds: inputs, failures, totals, per-WARC stats).
    Writes ``stats.json`` and ``failures.json``; the stage marker is the caller's (whether failed inputs end
    the stage differs between ``extract`` and a run). ``input_options`` open the inputs (default:
    ``pool.storage_options``), ``out_options`` the stage folder; ``url_partitions`` fixes the URL dedup's
    partition count (default: about 2M candidates each; the result is the same for any count).
    """
    out_dir = str(out_dir)
    storage.makedirs(out_dir, out_options)
    input_options = pool_cfg.storage_options if input_options is None else input_options
    t0 = time.perf_counter()
    paths, failures = resolve_inputs(
        inputs, limit=pool_cfg.manifest_limit, sample=pool_cfg.manifest_sample, seed=pool_cfg.manifest_seed,
        base_url=pool_cfg.cc_base_url, storage_options=input_options, policy=InputPolicy.from_config(pool_cfg))
    settings = settings_from_config(pool_cfg)
    fingerprint = extract_fingerprint(settings)
    results: dict[str, dict] = {}
    todo = []
    for p in paths:
        done = finished_warc(warc_folder(out_dir, warc_key(p)), fingerprint, out_options)
        if done is not None:
            results[p] = done
        else:
            todo.append(p)
    if progress:
        log.info("pool: %d WARCs, %d already done, %d to extract with %d workers",
                 len(paths), len(paths) - len(todo), len(todo), pool_cfg.workers)
    extract_wall = 0.0
    if todo:
        def describe(path, stats):
            return f"{stats.get('kept', 0)} kept of {stats.get('records_seen', 0)} in {stats.get('seconds', 0):.1f}s"

        # one WARC in flight per worker; a worker that died is replaced and its WARC extracted again
        for r in executor.map(
                "pool", _extract_warc, todo, key=warc_key, setup=_PoolWorker,
                setup_args=(asdict(settings), input_options, out_dir, out_options), workers=pool_cfg.workers,
                max_retries=pool_cfg.max_retries, raise_on_error=False, progress=progress, unit_name="WARC",
                describe=describe if progress else None):
            if r.error is not None:  # the worker raised, or died more often than pool.max_retries
                cause = r.error.cause
                stats = {"path": r.unit, "key": warc_key(r.unit), "error": f"worker failed: {type(cause).__name__}: "
                         f"{str(cause).splitlines()[0][:300] if str(cause) else ''}", "retryable": True}
            else:
                stats = r.result
            results[r.unit] = stats
        extract_wall = executor.timings.get("pool", {}).get("run", 0.0)
    per_warc = []
    done_warcs = []
    for p in paths:
        st = results[p]
        per_warc.append(st)
        if st.get("error"):
            failures.append({"path": p, "reason": st["error"], "records_read": st.get("records_seen", 0),
                             "retryable": bool(st.get("retryable"))})
        if "records_seen" in st:  # outputs exist (damaged files included: their good records count)
            done_warcs.append(st)
    dedup = _dedup_and_publish(done_warcs, out_dir, executor, pool_cfg, fingerprint, out_options, url_partitions,
                               progress)
    totals = _totals(per_warc, dedup)
    summary = {
        "inputs": len(paths),
        "warcs_done": len(done_warcs),
        "failures": failures,
        "seconds": round(time.perf_counter() - t0, 2),
        "extract_wall_seconds": round(extract_wall, 2),  # from all workers ready to the last WARC done
        "url_dedup": {k: dedup[k] for k in ("candidates", "kept", "duplicate_url", "partitions", "seconds")},
        "totals": totals,
        "per_warc": [dict(s, **dedup["per_warc"].get(s.get("key"), {})) for s in per_warc],
    }
    _write_json(storage.join(out_dir, "failures.json"), failures, out_options)
    _write_json(storage.join(out_dir, "stats.json"), summary, out_options)
    extra = {k: v for k, v in totals.items() if k not in ("records_seen", "kept", "dropped", "dropped_by_reason")}
    extra.update({k: summary[k] for k in ("inputs", "warcs_done", "failures", "extract_wall_seconds", "url_dedup")})
    survival = totals.get("math_survival")
    stage_stats = StageStats(
        stage=STAGE, rows_in=totals.get("records_seen", 0), rows_out=totals["kept"],
        dropped=dict(totals["dropped_by_reason"]), units=len(paths), units_cached=len(paths) - len(todo),
        seconds=summary["seconds"], extra=extra,
        notes=f"{len(done_warcs)} of {len(paths)} WARCs" + (f", {len(failures)} failed" if failures else "")
        + (f", math survival {survival:.3f}" if survival is not None else ""))
    return stage_stats, summary


def _write_json(path: str, obj: Any, storage_options: dict | None) -> None:
    storage.write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode(),
                        storage_options)


def _dedup_and_publish(done_warcs: list[dict], out_dir: str, executor, pool_cfg, fingerprint: str,
                       out_options: dict | None, url_partitions: int | None, progress: bool) -> dict:
    """Steps 2 and 3: URL dedup over the WARCs' candidate files, then each WARC's pool files; outputs of WARCs
    no longer among the inputs are removed (they would make the pool disagree with its stats)."""
    keys = [s["key"] for s in done_warcs]
    dedup: dict[str, Any] = {"candidates": 0, "kept": 0, "duplicate_url": 0, "partitions": 0, "seconds": {},
                             "per_warc": {}}
    if keys:
        files = [storage.join(warc_folder(out_dir, k), "pages.parquet") for k in keys]
        # the candidate files' versions: the settings they were extracted with and their sizes
        sizes = [f"{fingerprint}:{storage.size(f, out_options)}" for f in files]
        partitions = url_partitions or partitions_for(sum(int(s.get("kept", 0)) for s in done_warcs))
        stats = url_dedup(files, storage.join(out_dir, "url_dedup"), executor, partitions, keys=keys,
                          storage_options=out_options, sizes=sizes, max_retries=pool_cfg.max_retries,
                          progress=progress)
        published = executor.map(
            "pool-publish", publish_warc, [PublishUnit(k, out_dir, stats["folder"], out_options) for k in keys],
            key=lambda u: u.key, markers=storage.join(stats["folder"], "_units", "publish"),
            fingerprint=storage.name(stats["folder"]), storage_options=out_options, max_retries=pool_cfg.max_retries,
            progress=progress, unit_name="WARC")
        dedup.update({k: stats[k] for k in ("candidates", "kept", "duplicate_url", "partitions", "seconds")})
        dedup["per_warc"] = {r.key: r.result for r in published}
    wanted = {f"{k}.parquet" for k in keys}
    for sub in ("pages", "drops"):
        for f in storage.list_files(storage.join(out_dir, sub), ".parquet", out_options):
            if storage.name(f) not in wanted:
                storage.remove(f, out_options)
    return dedup


def _finish(out_dir: str, stats: StageStats, summary: dict, out_options: dict | None, complete: bool) -> None:
    """The stage marker (its StageStats, and the summary's totals for readers of that shape), written last;
    removed when the stage is not complete."""
    if complete:
        payload = {k: v for k, v in summary.items() if k != "per_warc"}
        payload.update(stats.to_dict())
        mark_complete(out_dir, payload, outputs=pool_outputs(out_dir, out_options), storage_options=out_options)
    else:
        storage.remove(storage.join(out_dir, "_SUCCESS"), out_options)


def run_pool(inputs: list[str], out_dir: str, pool_cfg, *, progress: bool = True,
             storage_options: dict | None = None, url_partitions: int | None = None) -> dict:
    """Extract ``inputs`` (paths, globs, URLs, manifests) into ``out_dir``; return the summary (``stats.json``:
    inputs, warcs_done, failures, totals, per_warc) with the stage's stats under ``stage_stats``.

    ``out_dir`` may be an fsspec URL (``storage_options`` for it; None: the process's defaults). Runs on the
    running command's executor (:func:`pipeline.core.executor.current`). ``stats["failures"]`` lists every
    input that failed with its reason; the stage marker is written only when there are none, so a rerun
    retries them.
    """
    from pipeline.core.executor import current

    stats, summary = pool_stage(inputs, str(out_dir), pool_cfg, current(pool_cfg.workers), progress=progress,
                                out_options=storage_options, url_partitions=url_partitions)
    _finish(str(out_dir), stats, summary, storage_options, complete=not summary["failures"])
    summary["stage_stats"] = stats.to_dict()
    return summary


def run_pool_stage(ctx: StageContext) -> StageStats:
    """The pool stage of a run: ``pool.inputs`` / ``pool.crawls``, else the mini-CC's WARCs.

    Inputs that fail as they are (the mini-CC's damaged files, a refused manifest entry) are listed in the
    stats and the stage completes; an input that may succeed on a retry (an I/O error, a worker that died
    too often) leaves the stage incomplete and raises, and a rerun extracts only those. Inputs are opened
    with ``pool.storage_options``, or the run's storage options when that is empty (a mini-CC in the run
    folder on an object store).
    """
    pool_cfg = ctx.cfg.pool
    run_options = ctx.storage_options or None
    minicc = ctx.inputs.get("minicc") or storage.join(ctx.workdir, "minicc")
    inputs = pool_cfg.resolved_inputs() or [storage.join(minicc, "warc", "*.warc.gz")]
    stats, summary = pool_stage(inputs, ctx.folder, pool_cfg, ctx.executor, progress=ctx.progress,
                                input_options=pool_cfg.storage_options or run_options, out_options=run_options)
    failures = summary["failures"]
    for f in failures:
        log.warning("pool: input failed: %s: %s", f["path"], f["reason"])
    retryable = [f for f in failures if f["retryable"]]
    _finish(ctx.folder, stats, summary, run_options, complete=not retryable)
    if retryable:
        # the WARCs that finished keep their markers, and a rerun extracts only the ones listed here
        raise RuntimeError(f"pool: {len(retryable)} input(s) failed and may succeed on a retry (first: "
                           f"{retryable[0]['path']}: {retryable[0]['reason']}); rerun to extract only those")
    return stats


def pool_outputs(out_dir: str, storage_options: dict | None = None) -> list[str]:
    """The stage's published files (``pages/`` and ``drops/``), relative to ``out_dir``, for its marker."""
    return [f"{sub}/{storage.name(f)}" for sub in ("pages", "drops")
            for f in storage.list_files(storage.join(str(out_dir), sub), ".parquet", storage_options)]


def _totals(per_warc: list[dict], dedup: dict) -> dict:
    reasons: Counter = Counter()
    kinds: Counter = Counter()
    langs: Counter = Counter()
    survival: Counter = Counter()
    low_urls: list[str] = []
    tot = Counter()
    for s in per_warc:
        if "records_seen" not in s:
            continue
        for k in ("records_seen", "warc_bytes", "html_bytes", "math_elements_html", "math_fragments_text",
                  "math_pages", "text_chars", "visible_chars"):
            tot[k] += s.get(k, 0)
        survival.update(s.get("math_survival_pages", {}))
        low_urls.extend(s.get("math_survival_low_urls", []))
        tot["extract_seconds"] += s.get("seconds", 0.0)
        reasons.update(s.get("dropped_by_reason", {}))
        kinds.update(s.get("math_elements_by_kind", {}))
        langs.update(s.get("langs", {}))
    if dedup["duplicate_url"]:
        reasons["duplicate_url"] += dedup["duplicate_url"]
    out = dict(tot)
    out["kept"] = dedup["kept"]
    out["dropped"] = sum(reasons.values())
    out["dropped_by_reason"] = dict(sorted(reasons.items()))
    out["math_elements_by_kind"] = dict(sorted(kinds.items()))
    out["langs"] = dict(langs.most_common(20))
    out["math_survival"] = round(tot["math_fragments_text"] / tot["math_elements_html"], 4) if tot["math_elements_html"] else None
    # per page: the distribution, how many fell below 90%, and some of those pages to look at
    out["math_survival_pages"] = dict(sorted(survival.items()))
    out["math_pages_below_90"] = survival.get("<0.5", 0) + survival.get("<0.9", 0)
    out["math_survival_low_urls"] = low_urls[:50]
    out["boilerplate_share"] = (round(1 - tot["text_chars"] / tot["visible_chars"], 4)
                                if tot["visible_chars"] else None)
    out["peak_rss_mb_max"] = max((s.get("peak_rss_mb", 0) for s in per_warc), default=0)
    out["accounting_ok"] = out["records_seen"] == out["kept"] + out["dropped"] if "records_seen" in out else True
    return out


def read_pool(out_dir: str, storage_options: dict | None = None) -> pa.Table:
    """All pool rows of a finished stage folder (``pages/*.parquet``) in one table."""
    files = storage.list_files(storage.join(str(out_dir), "pages"), ".parquet", storage_options)
    if not files:
        return POOL_SCHEMA.empty_table()
    return pa.concat_tables([storage.read_parquet_table(f, storage_options=storage_options) for f in files])


def read_drops(out_dir: str, storage_options: dict | None = None) -> pa.Table:
    files = storage.list_files(storage.join(str(out_dir), "drops"), ".parquet", storage_options)
    if not files:
        return DROP_LOG_SCHEMA.empty_table()
    return pa.concat_tables([storage.read_parquet_table(f, storage_options=storage_options) for f in files])
