"""Score every pool page with a round's classifier, one pool file per unit, on the executor's workers.

Each worker (Ray reports its class as ``ScoringWorker``, the step being ``scoring``) loads the fastText
model once (a model on an object store is copied to the worker's local disk first: fastText reads files)
and scores whole pool files, streaming the pages dedup kept in batches of ``batch_rows`` (only the ``id``
and ``text`` columns are read). Each pool file gives one output ``<scores>/<stem>.parquet``
(SCORE_SCHEMA), written atomically, so a crashed pass resumes at the files that are missing (the round
empties the folder whenever its model changes), and ``<scores>/_SUCCESS`` says the pass is complete. The pool itself
is never rewritten.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import pyarrow as pa

from classifiers.pool_pages import PoolPart, iter_pages
from classifiers.text import count_tokens, normalize
from pipeline.core import storage
from pipeline.core.io import is_complete, mark_complete, read_marker
from pipeline.core.schema import SCORE_SCHEMA, validate_table

log = logging.getLogger(__name__)

STEP = "scoring"


def score_batches(model, batches, *, max_chars: int) -> tuple[pa.Table, dict]:
    """The pure core: SCORE_SCHEMA rows for record batches with ``id`` and ``text``, and timings."""
    from classifiers.model import math_probability

    t_norm = t_pred = 0.0
    ids: list[pa.Array] = []
    scores: list[pa.Array] = []
    tokens: list[pa.Array] = []
    for batch in batches:
        texts = batch.column("text").to_pylist()
        a = time.perf_counter()
        normed = [normalize(t, max_chars) for t in texts]
        counts = [count_tokens(t) for t in texts]
        b = time.perf_counter()
        probs = math_probability(model, normed)
        t_pred += time.perf_counter() - b
        t_norm += b - a
        ids.append(batch.column("id").cast(pa.string()))
        scores.append(pa.array(probs, type=pa.float32()))
        tokens.append(pa.array(counts, type=pa.int32()))
    table = pa.table({"id": pa.chunked_array(ids, pa.string()), "score": pa.chunked_array(scores, pa.float32()),
                      "tokens": pa.chunked_array(tokens, pa.int32())}, schema=SCORE_SCHEMA)
    return table, {"normalize_seconds": round(t_norm, 4), "predict_seconds": round(t_pred, 4)}


def score_file(model, in_path: str | Path, out_path: str | Path, *, max_chars: int, batch_rows: int,
               removed: str | None = None, storage_options: dict | None = None) -> dict:
    """Score one pool file (minus the ids in ``removed``) with a loaded model; write its scores atomically."""
    t0, c0 = time.perf_counter(), time.process_time()
    part = PoolPart(stem="", pages=str(in_path), removed=removed)
    table, timing = score_batches(model, iter_pages(part, ["id", "text"], batch_rows, storage_options),
                                  max_chars=max_chars)
    validate_table(table, SCORE_SCHEMA, f"scores of {in_path}")
    storage.write_parquet(str(out_path), table, storage_options)
    return {"file": str(in_path), "rows": table.num_rows, "seconds": round(time.perf_counter() - t0, 4),
            "cpu_seconds": round(time.process_time() - c0, 4), **timing}


def load_scorer(model_path: str, storage_options: dict | None = None) -> dict:
    """A worker's set-up: the model, loaded once (from a local copy when it lives on an object store)."""
    from classifiers.model import load_local_copy

    t, c = time.perf_counter(), time.process_time()
    model = load_local_copy(model_path, storage_options)
    return {"model": model, "load_seconds": time.perf_counter() - t, "load_cpu": time.process_time() - c,
            "first": True}


def score_unit(state: dict, unit: dict) -> dict:
    stats = score_file(state["model"], unit["pages"], unit["out"], max_chars=unit["max_chars"],
                       batch_rows=unit["batch_rows"], removed=unit["removed"],
                       storage_options=unit.get("storage_options"))
    # the model load is charged once per worker, to its first file
    stats["model_load_seconds"] = round(state["load_seconds"], 4) if state["first"] else 0.0
    stats["cpu_seconds"] += round(state["load_cpu"], 4) if state["first"] else 0.0
    state["first"] = False
    return stats


def parquet_intact(path: str, storage_options: dict | None = None) -> bool:
    """The Parquet file is there and its footer reads (outputs are published whole, so it is complete)."""
    try:
        storage.parquet_rows(path, storage_options)
        return True
    except (OSError, pa.ArrowException):
        return False


def score_pool(parts: list[PoolPart], model_path: str, out_dir: str, *, executor, workers: int, max_chars: int,
               batch_rows: int, progress: bool = True, storage_options: dict | None = None) -> dict:
    """Score ``parts`` into ``out_dir/<stem>.parquet`` on ``workers`` workers; a file already scored (its output
    is there and reads) is not scored again. The caller empties ``out_dir`` whenever the model changes."""
    if is_complete(out_dir):
        return read_marker(out_dir)
    t0 = time.perf_counter()
    units = [{"stem": p.stem, "pages": p.pages, "removed": p.removed, "out": storage.join(out_dir, f"{p.stem}.parquet"),
              "max_chars": max_chars, "batch_rows": batch_rows, "storage_options": storage_options} for p in parts]
    todo = [u for u in units if not parquet_intact(u["out"], storage_options)]  # missing, or damaged since
    results = executor.map(STEP, score_unit, todo, key=lambda u: u["stem"], setup=load_scorer,
                           setup_args=(str(model_path), storage_options), workers=workers, progress=progress, unit_name="file",
                           describe=lambda u, s: f"{s['rows']} pages in {s['seconds']:.1f}s") if todo else []
    wall = time.perf_counter() - t0
    now = [r.result for r in results]
    scored = sum(s["rows"] for s in now)
    # a resumed pass scored only the missing files: the pass's row count is that of every output
    stats = {
        "files": len(parts), "skipped": len(parts) - len(now),
        "rows": sum(storage.parquet_rows(u["out"], storage_options) for u in units),
        "rows_scored_now": scored, "seconds": round(wall, 3), "workers": min(workers, len(now)) if now else 0,
        "normalize_seconds": round(sum(s["normalize_seconds"] for s in now), 3),
        "predict_seconds": round(sum(s["predict_seconds"] for s in now), 3),
        "actor_cpu_seconds": round(sum(s["cpu_seconds"] for s in now), 3),
        "pages_per_second": round(scored / wall, 1) if scored and wall else None,
    }
    mark_complete(out_dir, stats, outputs=[f"{p.stem}.parquet" for p in parts])
    return stats
