"""Score every pool page with a round's classifier on Ray.

One actor per worker loads the fastText model once (``__init__``) and scores
whole pool files, streaming them in batches of ``batch_rows`` pages (only the
``id`` and ``text`` columns are read). Each input file gives one output file
``<scores>/<stem>.parquet`` (SCORE_SCHEMA), written atomically, so a crashed
scoring pass resumes at the files that are missing; ``<scores>/_SUCCESS`` says
the pass is complete. The pool itself is never rewritten.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from classifiers.text import count_tokens, normalize
from pipeline.core.io import is_complete, mark_complete, parquet_ok, write_parquet_atomic
from pipeline.core.progress import progress_bar
from pipeline.core.executor import ensure_ray
from pipeline.core.schema import SCORE_SCHEMA, validate_table

log = logging.getLogger(__name__)


def output_name(in_path: str | Path) -> str:
    p = Path(in_path)
    return f"{p.parent.name}-{p.stem}.parquet" if p.parent.name not in ("", ".") else f"{p.stem}.parquet"


def score_file(model, in_path: str | Path, out_path: str | Path, *, max_chars: int, batch_rows: int) -> dict:
    """The pure core: score one pool file with a loaded model and write its scores atomically."""
    from classifiers.model import math_probability

    t0, c0 = time.perf_counter(), time.process_time()
    t_norm = t_pred = 0.0
    ids: list[pa.Array] = []
    scores: list[pa.Array] = []
    tokens: list[pa.Array] = []
    rows = 0
    for batch in pq.ParquetFile(in_path).iter_batches(columns=["id", "text"], batch_size=batch_rows):
        texts = batch.column("text").to_pylist()
        a = time.perf_counter()
        normed = [normalize(t, max_chars) for t in texts]
        counts = [count_tokens(t) for t in texts]
        b = time.perf_counter()
        probs = math_probability(model, normed)
        t_pred += time.perf_counter() - b
        t_norm += b - a
        ids.append(batch.column("id"))
        scores.append(pa.array(probs, type=pa.float32()))
        tokens.append(pa.array(counts, type=pa.int32()))
        rows += len(texts)
    table = pa.table({"id": pa.chunked_array(ids, pa.string()), "score": pa.chunked_array(scores, pa.float32()),
                      "tokens": pa.chunked_array(tokens, pa.int32())}, schema=SCORE_SCHEMA)
    validate_table(table, SCORE_SCHEMA, f"scores of {in_path}")
    write_parquet_atomic(out_path, table)
    return {"file": str(in_path), "rows": rows, "seconds": round(time.perf_counter() - t0, 4),
            "cpu_seconds": round(time.process_time() - c0, 4),
            "normalize_seconds": round(t_norm, 4), "predict_seconds": round(t_pred, 4)}


def _make_actor_class():
    import ray

    # A worker process that dies (OOM killer, a lost node, a SIGKILL) is restarted and its file is scored
    # again: outputs are written whole and atomically, so a retried file is never half there or doubled.
    @ray.remote(num_cpus=1, max_restarts=3, max_task_retries=3)
    class ScoringActor:
        """Holds one copy of the round's model for all the files it is given."""

        def __init__(self, model_path: str, max_chars: int, batch_rows: int):
            from classifiers.model import load

            t, c = time.perf_counter(), time.process_time()
            self.model = load(model_path)
            self.load_seconds = time.perf_counter() - t
            self.load_cpu_seconds = time.process_time() - c
            self.first = True
            self.max_chars = max_chars
            self.batch_rows = batch_rows

        def score(self, in_path: str, out_path: str) -> dict:
            stats = score_file(self.model, in_path, out_path, max_chars=self.max_chars, batch_rows=self.batch_rows)
            # the model load is charged once per actor, to its first file
            stats["model_load_seconds"] = round(self.load_seconds, 4) if self.first else 0.0
            stats["cpu_seconds"] += round(self.load_cpu_seconds, 4) if self.first else 0.0
            self.first = False
            return stats

    return ScoringActor


def score_pool(files: list[str], model_path: str | Path, out_dir: str | Path, *, workers: int, max_chars: int,
               batch_rows: int, progress: bool = True) -> dict:
    """Score ``files`` into ``out_dir`` with ``workers`` Ray actors; skip files already scored."""
    import ray
    from ray.util import ActorPool

    out_dir = Path(out_dir)
    t0 = time.perf_counter()
    todo = [(f, out_dir / output_name(f)) for f in files]
    names = [o.name for _, o in todo]
    if len(set(names)) != len(names):
        raise ValueError(f"pool files give clashing score file names under {out_dir}")
    if is_complete(out_dir):
        return {"files": len(files), "skipped": len(files), "rows": None, "seconds": 0.0}
    pending = [(str(f), str(o)) for f, o in todo if not parquet_ok(o)]  # missing, or damaged since
    per_file: list[dict] = []
    if pending:
        started = ensure_ray(num_cpus=workers)
        try:
            actor_cls = _make_actor_class()
            n = max(1, min(workers, len(pending)))
            actors = [actor_cls.remote(str(model_path), max_chars, batch_rows) for _ in range(n)]
            pool = ActorPool(actors)
            bar = progress_bar(len(files), f"score {out_dir.parent.name}", "file", progress,
                               initial=len(files) - len(pending))
            for i, stats in enumerate(pool.map_unordered(lambda a, job: a.score.remote(*job), pending), 1):
                per_file.append(stats)
                bar.update(1)
                if progress:
                    log.info("score: %d/%d %s: %d pages in %.1fs", i, len(pending), Path(stats["file"]).name,
                             stats["rows"], stats["seconds"])
            bar.close()
            for a in actors:
                ray.kill(a)
        finally:
            if started:
                ray.shutdown()
    wall = time.perf_counter() - t0
    scored = sum(s["rows"] for s in per_file)
    # a resumed pass scored only the missing files: the pass's row count is that of every output
    rows = sum(pq.ParquetFile(o).metadata.num_rows for _, o in todo)
    stats = {
        "files": len(files), "skipped": len(files) - len(pending), "rows": rows, "rows_scored_now": scored,
        "seconds": round(wall, 3), "workers": min(workers, len(pending)) if pending else 0,
        "normalize_seconds": round(sum(s["normalize_seconds"] for s in per_file), 3),
        "predict_seconds": round(sum(s["predict_seconds"] for s in per_file), 3),
        "actor_cpu_seconds": round(sum(s["cpu_seconds"] for s in per_file), 3),
        "pages_per_second": round(scored / wall, 1) if scored and wall else None,
    }
    mark_complete(out_dir, stats, outputs=[o.name for _, o in todo])
    return stats


def read_scores(out_dir: str | Path) -> pa.Table:
    files = sorted(Path(out_dir).glob("*.parquet"))
    if not files:
        return SCORE_SCHEMA.empty_table()
    return pa.concat_tables([pq.read_table(f, schema=SCORE_SCHEMA) for f in files])
