"""Recall benchmark: the iterative recall loop on the mini Common Crawl, and scoring cost vs a bare predict loop.

    python bench/bench_recall.py [--pages 12000] [--dir bench_out/recall] [--repeat 3]

1. Data: the default mini Common Crawl (``python -m pipeline synth``, 12,000 response records) run through the
   pool stage (``python -m pipeline extract``), both cached under ``--dir`` (generated once, reused later).
2. The recall loop (``python -m pipeline recall``, default config) from scratch; per round: pages and tokens
   recalled, new math domains, seed growth, overlap with the round before, held-out classifier metrics, and
   precision / recall of the recalled pages against ``truth.parquet``. Goals: the last round reaches recall
   >= 0.95 at precision >= 0.95; round 1 recall is clearly lower (the seed is LaTeX-heavy on purpose).
3. Scoring throughput per core: the Ray stage (``classifiers.score.score_pool``: actors, model loaded once per
   actor, Parquet in and out) vs the named peer, a bare ``model.predict`` loop over the same texts in one
   process on one core (with our normalisation, and over texts normalised beforehand). Goal: overhead <= 1.5x,
   judged per CPU-second (the actors' process time, model loads included, vs the loop's); wall time per worker is
   printed too. Ray workers run at nice 15 by default; the benchmark sets ``RAY_worker_niceness=0`` so both sides
   compete for a shared machine on equal terms. Best of ``--repeat`` runs each, interleaved.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
PY = sys.executable
ENV = dict(os.environ, RAY_AUTH_MODE="disabled", PYTHONPATH=str(REPO))
# Ray starts its workers at nice 15: on a machine shared with other work they yield to every normal process, and
# the bare loop (nice 0) would win for that reason alone. Measure both at the same priority.
os.environ.setdefault("RAY_worker_niceness", "0")


def sh(args: list[str], ok=(0,)) -> subprocess.CompletedProcess:
    t = time.perf_counter()
    out = subprocess.run(args, cwd=REPO, env=ENV, capture_output=True, text=True)
    if out.returncode not in ok:
        sys.exit(f"command failed ({out.returncode}): {' '.join(args)}\n{out.stderr[-3000:]}")
    print(f"  ({' '.join(args[2:5])} ...: {time.perf_counter() - t:.0f}s)")
    return out


def prepare(cache: Path, pages: int) -> tuple[Path, Path]:
    minicc, pool = cache / "minicc", cache / "pool"
    if not (minicc / "_SUCCESS").exists():
        print(f"generating the mini-CC ({pages} pages) into {minicc}")
        sh([PY, "-m", "pipeline", "synth", "--out", str(minicc), "--pages", str(pages)])
    if not (pool / "stats.json").exists() or not list((pool / "pages").glob("*.parquet")):
        print(f"extracting the pool into {pool}")
        # exit status 1: the mini-CC's two damaged files fail on purpose; every readable WARC is extracted
        out = sh([PY, "-m", "pipeline", "extract", "-i", str(minicc / "warc" / "*.warc.gz"), "-o", str(pool)],
                 ok=(0, 1))
        if not (pool / "stats.json").exists() or not list((pool / "pages").glob("*.parquet")):
            sys.exit(f"the pool stage wrote no pages into {pool}:\n{out.stderr[-3000:]}")
    return minicc, pool


def bench_loop(cache: Path, minicc: Path, pool: Path) -> dict:
    work = cache / "run"
    shutil.rmtree(work, ignore_errors=True)
    print("running the recall loop (default config) from scratch")
    t = time.perf_counter()
    sh([PY, "-m", "pipeline", "recall", "--config", str(REPO / "configs" / "default.yaml"),
        "--set", f"workdir={work}", "--pool", str(pool), "--seed-file", str(minicc / "seed" / "openwebmath.jsonl"),
        "--set", f"recall.truth={minicc / 'truth.parquet'}"])
    seconds = time.perf_counter() - t
    summary = json.loads((work / "rounds" / "summary.json").read_text())
    summary["wall_seconds"] = seconds
    return summary


def bench_scoring(pool: Path, model: Path, repeat: int) -> dict:
    import ray

    from classifiers.model import load, math_probability
    from classifiers.score import score_pool
    from classifiers.text import count_tokens, normalize
    from pipeline.core.config import RecallConfig

    rc = RecallConfig()
    files = sorted(str(p) for p in (pool / "pages").glob("*.parquet"))
    texts = [t for f in files for t in pq.read_table(f, columns=["text"]).column("text").to_pylist()]
    m = load(model)

    def timed(fn):
        t, c = time.perf_counter(), time.process_time()
        fn()
        return time.perf_counter() - t, time.process_time() - c

    def bare_full():  # what a user writes without the stage: normalise and predict, page by page
        for x in texts:
            m.predict(normalize(x, rc.max_chars), k=2)

    normed = [normalize(x, rc.max_chars) for x in texts]

    def bare_predict():  # predict only, texts normalised beforehand
        for x in normed:
            m.predict(x, k=2)

    def bare_batched():  # our actor's inner loop without Ray or Parquet: normalise, count, batched predict
        for i in range(0, len(texts), rc.batch_rows):
            chunk = texts[i:i + rc.batch_rows]
            math_probability(m, [normalize(x, rc.max_chars) for x in chunk])
            [count_tokens(x) for x in chunk]

    # Interleaved, best of ``repeat`` each: on a shared machine the load drifts, and measuring the bare loops
    # first and the Ray stage later would credit the drift to one side.
    best: dict[str, tuple[float, float, dict]] = {}

    def keep(name: str, seconds: float, cpu: float, extra: dict | None = None) -> None:
        if name not in best or seconds < best[name][0]:
            best[name] = (seconds, cpu, extra or {})

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        for r in range(repeat):
            keep("bare_normalize_predict", *timed(bare_full))
            keep("bare_predict_only", *timed(bare_predict))
            keep("bare_batched_like_actor", *timed(bare_batched))
            for workers in (1, 2):
                tmp = pool.parent / f"score-bench-{workers}-{r}"
                shutil.rmtree(tmp, ignore_errors=True)
                t = time.perf_counter()
                st = score_pool(files, model, tmp, workers=workers, max_chars=rc.max_chars, batch_rows=rc.batch_rows,
                                progress=False)
                keep(f"ray_stage_{workers}_workers", time.perf_counter() - t, st["actor_cpu_seconds"], {"inside_actors_normalize_s": st["normalize_seconds"],
                      "inside_actors_predict_s": st["predict_seconds"], "workers": workers})
                shutil.rmtree(tmp, ignore_errors=True)
    finally:
        ray.shutdown()
    out: dict = {"pages": len(texts)}
    for name, (seconds, cpu, extra) in best.items():
        cores = extra.get("workers", 1)
        out[name] = {"seconds": round(seconds, 3), "pages_per_s_per_core": round(len(texts) / seconds / cores, 1),
                     "cpu_seconds": round(cpu, 3), "pages_per_cpu_s": round(len(texts) / cpu, 1), **extra}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=12_000)
    ap.add_argument("--dir", default=str(REPO / "bench_out" / "recall"), help="cache and work folder")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--reuse-loop", action="store_true", help="reuse a finished loop under --dir (scoring only)")
    args = ap.parse_args()
    cache = Path(args.dir).resolve() / f"pages-{args.pages}"
    minicc, pool = prepare(cache, args.pages)

    from classifiers.report import format_rounds

    if args.reuse_loop and (cache / "run" / "rounds" / "_SUCCESS").exists():
        summary = json.loads((cache / "run" / "rounds" / "summary.json").read_text())
        summary["wall_seconds"] = float("nan")
    else:
        summary = bench_loop(cache, minicc, pool)
    rounds = summary["rounds"]
    print(f"\nrecall loop: {len(rounds)} rounds, stopped: {summary['stop_reason']}, "
          f"{summary['wall_seconds']:.0f}s on {summary['pool_pages']} pool pages")
    print(format_rounds(rounds))
    print("\nrecall by kind of math page (truth), per round:")
    kinds = sorted(rounds[0]["truth"]["recall_by_kind"])
    print("round " + " ".join(f"{k:>16}" for k in kinds))
    for r in rounds:
        print(f"{r['round']:>5} " + " ".join(f"{r['truth']['recall_by_kind'].get(k, 0):>16.3f}" for k in kinds))
    print("math pages:", rounds[0]["truth"]["math_pages_by_kind"])
    first, last = rounds[0]["truth"], rounds[-1]["truth"]
    ok_last = last["recall"] >= 0.95 and last["precision"] >= 0.95
    ok_first = first["recall"] <= last["recall"] - 0.05
    print(f"\ngoal last round recall >= 0.95 at precision >= 0.95: recall {last['recall']:.3f}, precision "
          f"{last['precision']:.3f} -> {'MET' if ok_last else 'NOT MET'}")
    print(f"goal round 1 recall clearly lower: {first['recall']:.3f} vs {last['recall']:.3f} -> "
          f"{'MET' if ok_first else 'NOT MET'}")
    print(f"curve: {cache / 'run' / 'rounds' / 'recall_curve.png'}")

    model = cache / "run" / "rounds" / f"r{rounds[-1]['round']}" / "model.bin"
    print(f"\nscoring throughput (best of {args.repeat}; shared 2-core machine, noisy), model {model.name} "
          f"of round {rounds[-1]['round']}:")
    sc = bench_scoring(pool, model, args.repeat)
    for k, v in sc.items():
        if isinstance(v, dict):
            inside = (f"  (inside actors: normalise {v['inside_actors_normalize_s']:.2f}s, predict "
                      f"{v['inside_actors_predict_s']:.2f}s)" if "workers" in v else "")
            print(f"  {k:26} {v['seconds']:8.2f}s  {v['pages_per_s_per_core']:8.1f} pages/s/core (wall)  "
                  f"{v['pages_per_cpu_s']:8.1f} pages/CPU-s{inside}")
    peer = sc["bare_normalize_predict"]
    for w in (1, 2):
        ours = sc[f"ray_stage_{w}_workers"]
        wall = peer["pages_per_s_per_core"] / ours["pages_per_s_per_core"]
        cpu = peer["pages_per_cpu_s"] / ours["pages_per_cpu_s"]
        # per core = per CPU-second: on a shared machine two actors rarely get two whole cores, so wall time per
        # worker mostly measures the neighbours; CPU time is what the stage costs on a core it has to itself
        print(f"  overhead per core, Ray stage with {w} worker(s) vs bare normalise+predict loop: CPU time {cpu:.2f}x "
              f"(goal <= 1.5x) -> {'MET' if cpu <= 1.5 else 'NOT MET'}; wall per worker {wall:.2f}x")
    po = sc["bare_predict_only"]["pages_per_s_per_core"]  # noqa: the ceiling without normalisation
    print(f"  Ray stage with 1 worker vs bare predict over pre-normalised texts: "
          f"{po / sc['ray_stage_1_workers']['pages_per_s_per_core']:.2f}x (normalisation included on our side only)")
    (cache / "bench_recall.json").write_text(json.dumps({"rounds": rounds, "scoring": sc}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
