"""Dedup benchmark: quality on planted duplicates, signature speed and whole-run cost vs datatrove.

    python bench/bench_dedup.py [--pages 12000] [--dir bench_out/dedup] [--repeat 3]

1. Data: the mini Common Crawl (``python -m pipeline synth``) run through the pool
   stage (``python -m pipeline extract``); its truth.parquet says which pages
   are copies of one another (``dup_group``). If either command is missing the
   benchmark says so and plants copies in real web text from shared/data instead.
2. Pair recall / precision of our clusters (and of datatrove's) against the
   planted duplicate pairs among the pool's pages (goal: recall >= 0.95,
   precision >= 0.99).
3. Signature docs/s per core: our sign task vs datatrove's MinhashDedupSignature
   on the same documents, each on one core, same bands x rows (14 x 8, datatrove's
   default) and our default (goal >= 1.5x).
4. Whole dedup wall time and peak memory (RSS summed over the process tree,
   Ray's own processes included) vs datatrove's four minhash stages, both with
   2 workers, on the same Parquet input.

The datatrove peer runs from its own virtualenv: ``$DATATROVE_VENV`` (default
``/work/peers/datatrove-venv``, or ``../peers/datatrove-venv`` beside the repo).
"""
from __future__ import annotations

import argparse
import datetime as dt
import glob
import itertools
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared" / "data"
PY = sys.executable
ENV = dict(os.environ, RAY_AUTH_MODE="disabled", PYTHONPATH=str(REPO))


def peer_python() -> Path | None:
    for cand in (os.environ.get("DATATROVE_VENV"), "/work/peers/datatrove-venv", str(REPO.parent / "peers" / "datatrove-venv")):
        if cand and (Path(cand) / "bin" / "python").exists():
            return Path(cand) / "bin" / "python"
    return None


# --- measuring a process tree -----------------------------------------------------------------------

def run_measured(cmd: list[str], env=None, cwd=None) -> dict:
    """Run ``cmd``; wall seconds and peak RSS of the whole process tree (sampled every 50 ms)."""
    import psutil

    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd)
    peak_total = peak_single = 0
    stop = threading.Event()

    def watch():
        nonlocal peak_total, peak_single
        root = psutil.Process(proc.pid)
        while not stop.is_set():
            try:
                procs = [root] + root.children(recursive=True)
            except psutil.Error:
                break
            rss = []
            for p in procs:
                try:
                    rss.append(p.memory_info().rss)
                except psutil.Error:
                    pass
            if rss:
                peak_total = max(peak_total, sum(rss))
                peak_single = max(peak_single, max(rss))
            time.sleep(0.05)

    th = threading.Thread(target=watch, daemon=True)
    th.start()
    out, err = proc.communicate()
    stop.set()
    th.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err[-3000:]}")
    return {"seconds": time.perf_counter() - t0, "peak_rss_mb": peak_total / 2**20,
            "peak_single_rss_mb": peak_single / 2**20, "stdout": out, "stderr": err}


# --- data -------------------------------------------------------------------------------------------

def minicc_pool(bench: Path, pages: int) -> tuple[Path, pa.Table] | None:
    """Pool rows of a fresh mini-CC, joined with its truth; None if synth or extract is unavailable."""
    from pipeline.cli import build_parser

    commands = build_parser()._subparsers._group_actions[0].choices
    if "synth" not in commands or "extract" not in commands:
        return None
    try:
        import pipeline.synth  # noqa: F401
        import pipeline.pool  # noqa: F401
    except ImportError:
        return None
    mini = bench / "minicc"
    if not (mini / "_SUCCESS").exists():
        subprocess.run([PY, "-m", "pipeline", "synth", "--out", str(mini), "--pages", str(pages)], check=True,
                       env=ENV, cwd=REPO)
    pool = bench / "pool"
    if not any((pool / "pages").glob("*.parquet")):
        warcs = sorted(glob.glob(str(mini / "**" / "*.warc.gz"), recursive=True))
        # the mini-CC plants damaged files beside the WARCs: extract exits 1 on them, rows still land
        subprocess.run([PY, "-m", "pipeline", "extract", "--output", str(pool), "--input", *warcs], env=ENV, cwd=REPO)
    rows = pq.read_table(pool / "pages", columns=["id", "text", "fetch_time", "warc_record_id"])
    truth = pq.read_table(next(mini.rglob("truth.parquet")), columns=["warc_record_id", "dup_group", "dup_kind"])
    return mini, rows.join(truth, "warc_record_id", join_type="left outer")


def planted_from_seed(n_copies: int = 400) -> pa.Table:
    """Fallback: real web and math text with planted exact and near (1% of words) copies."""
    rng = random.Random(1)
    texts = []
    for f in sorted((SHARED / "seed" / "web_negative").glob("*.jsonl")):
        texts += [json.loads(line)["text"] for line in f.open()]
    for f in sorted((SHARED / "seed" / "web_mixed").glob("*.json")):
        data = json.loads(f.read_text())
        items = data if isinstance(data, list) else data.get("data", [])
        texts += [d.get("content") or d.get("text") or "" for d in items if isinstance(d, dict)]
    texts = [t for t in dict.fromkeys(texts) if len(t.split()) > 30]
    t0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    rows = [{"id": f"o{i:06d}", "text": t, "fetch_time": t0 + dt.timedelta(minutes=i), "warc_record_id": f"o{i}",
             "dup_group": i, "dup_kind": "original"} for i, t in enumerate(texts)]
    for j in range(n_copies):
        src = rows[rng.randrange(len(texts))]
        words = src["text"].split(" ")
        kind = "exact" if j % 2 else "near"
        if kind == "near":
            for k in rng.sample(range(len(words)), max(1, len(words) // 100)):
                words[k] = "w" + str(rng.randrange(10**6))
        rows.append({"id": f"c{j:06d}", "text": " ".join(words), "fetch_time": src["fetch_time"] + dt.timedelta(days=1),
                     "warc_record_id": f"c{j}", "dup_group": src["dup_group"], "dup_kind": kind})
    return pa.Table.from_pylist(rows)


def truth_pairs(table: pa.Table) -> set[tuple[str, str]]:
    groups: dict[int, list[str]] = {}
    for i, g in zip(table.column("id").to_pylist(), table.column("dup_group").to_pylist()):
        if g is not None:
            groups.setdefault(g, []).append(i)
    return {tuple(sorted(p)) for ids in groups.values() if len(ids) > 1 for p in itertools.combinations(ids, 2)}


def cluster_pairs(members: dict[str, list[str]]) -> set[tuple[str, str]]:
    return {tuple(sorted(p)) for ids in members.values() if len(ids) > 1 for p in itertools.combinations(ids, 2)}


def score(pred: set, true: set) -> dict:
    hit = len(pred & true)
    return {"true_pairs": len(true), "predicted_pairs": len(pred), "correct": hit,
            "recall": hit / len(true) if true else float("nan"), "precision": hit / len(pred) if pred else float("nan")}


# --- signature speed, ours (child process, one core) ------------------------------------------------

def sig_child(path: str, num_perm: int, bands: int, rows: int, repeat: int) -> dict:
    from dedup.minhash import ShingleParams
    from dedup.stage import Chunk, DedupParams, sign_chunk

    meta = pq.ParquetFile(path).metadata
    chunk = Chunk(0, path, tuple(range(meta.num_row_groups)), meta.num_rows)
    params = DedupParams(shingles=ShingleParams(num_perm=num_perm, bands=bands, rows=rows), partitions=1)
    times, cpu = [], []
    for rep in range(repeat):
        work = Path(path).parent / f"_sig_ours_{rep}"
        shutil.rmtree(work, ignore_errors=True)
        t0, c0 = time.perf_counter(), time.process_time()
        sign_chunk(chunk, params, work)  # read Parquet, sign, write the key rows: the whole map task
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        shutil.rmtree(work, ignore_errors=True)
    return {"docs": meta.num_rows, "seconds": times, "cpu_seconds": cpu}


def ray_baseline_child() -> None:
    """Ray's own footprint: a local head with 2 CPUs and two idle workers that imported the stage."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, runtime_env={"env_vars": {"PYTHONPATH": str(REPO)}})

    @ray.remote(num_cpus=1)
    def idle() -> int:
        import dedup.stage  # noqa: F401

        time.sleep(2)
        return 0

    ray.get([idle.remote(), idle.remote()])
    ray.shutdown()


def run_sig(kind: str, path: Path, num_perm: int, bands: int, rows: int, repeat: int, peer: Path | None):
    one_core = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    if kind == "ours":
        cmd = one_core + [PY, __file__, "--sig-child", str(path), "--sig-params", f"{num_perm},{bands},{rows}",
                          "--repeat", str(repeat)]
    else:
        cmd = one_core + [str(peer), str(REPO / "bench" / "peer_datatrove_minhash.py"), "sig", "--input", str(path),
                          "--out", str(path.parent / "_sig_dt"), "--buckets", str(bands), "--hashes", str(rows),
                          "--repeat", str(repeat)]
    r = run_measured(cmd, env=ENV)
    shutil.rmtree(path.parent / "_sig_dt", ignore_errors=True)
    res = json.loads(next(l for l in r["stdout"].splitlines() if l.startswith("RESULT "))[7:])
    # docs per CPU-second: on a shared machine wall time also counts the time other users held the core
    return {"docs": res["docs"], "seconds": res["seconds"], "cpu_seconds": res["cpu_seconds"],
            "docs_per_s": res["docs"] / min(res["seconds"]), "docs_per_cpu_s": res["docs"] / min(res["cpu_seconds"])}


# --- main -------------------------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=12_000, help="mini-CC size (response records)")
    ap.add_argument("--dir", default=str(REPO / "bench_out" / "dedup"), help="scratch folder")
    ap.add_argument("--repeat", type=int, default=3, help="signature timing repeats (best is reported)")
    ap.add_argument("--sig-docs", type=int, default=3000,
                    help="documents for the per-core signature timing (datatrove signs ~50-100 docs/s per core)")
    ap.add_argument("--sig-child", help=argparse.SUPPRESS)
    ap.add_argument("--ray-baseline-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--sig-params", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.ray_baseline_child:
        ray_baseline_child()
        return 0
    if args.sig_child:
        num_perm, bands, rows = (int(x) for x in args.sig_params.split(","))
        print("RESULT " + json.dumps(sig_child(args.sig_child, num_perm, bands, rows, args.repeat)))
        return 0

    from pipeline.core.config import DedupConfig

    bench = Path(args.dir)
    bench.mkdir(parents=True, exist_ok=True)
    peer = peer_python()
    print(f"machine: {os.cpu_count()} CPUs (shared with other users: timings are noisy)")

    got = minicc_pool(bench, args.pages)
    if got is None:
        print("NOTE: `pipeline synth`/`pipeline extract` not available: planted copies in shared seed text instead")
        if not SHARED.is_dir():
            print(f"shared data not found at {SHARED}; nothing to benchmark")
            return 0
        data, source = planted_from_seed(), "seed text with planted copies"
    else:
        data, source = got[1], f"mini-CC ({args.pages} records) through the pool stage"
    data = data.filter(pc.invert(pc.is_null(data.column("text"))))
    print(f"data: {source}: {data.num_rows} texts, "
          f"{pc.sum(pc.utf8_length(data.column('text'))).as_py() / max(1, data.num_rows):.0f} chars on average; "
          f"dup kinds: {dict(zip(*[c.to_pylist() for c in pc.value_counts(data.column('dup_kind')).flatten()]))}")

    inp = bench / "input"
    shutil.rmtree(inp, ignore_errors=True)
    inp.mkdir()
    # shuffled (seeded) so copies and originals spread over both files, as in a crawl
    order = list(range(data.num_rows))
    random.Random(5).shuffle(order)
    cols = data.select(["id", "text", "fetch_time"]).take(pa.array(order))
    half = cols.num_rows // 2
    pq.write_table(cols.slice(0, half), inp / "part-0.parquet", row_group_size=2000)
    pq.write_table(cols.slice(half), inp / "part-1.parquet", row_group_size=2000)
    single = bench / "single" / "all.parquet"
    single.parent.mkdir(exist_ok=True)
    sig_docs = cols.slice(0, min(args.sig_docs, cols.num_rows))
    pq.write_table(sig_docs, single, row_group_size=sig_docs.num_rows)

    # 2. + 4. whole dedup, ours then datatrove's
    ours_out = bench / "ours"
    shutil.rmtree(ours_out, ignore_errors=True)
    ours = run_measured([PY, "-m", "pipeline", "dedup", str(inp), "--out", str(ours_out), "--workers", "2"],
                        env=ENV, cwd=REPO)
    stats = json.loads((ours_out / "stats.json").read_text())
    removed = pq.read_table(ours_out / "removed")
    members: dict[str, list[str]] = {}
    for rid, kid in zip(removed.column("id").to_pylist(), removed.column("kept_id").to_pylist()):
        members.setdefault(kid, [kid]).append(rid)
    true = truth_pairs(data)
    q_ours = score(cluster_pairs(members), true)
    cfg = DedupConfig()
    print(f"\n== quality (pairs of pages in one duplicate group; b={stats['bands']} r={stats['rows']} "
          f"num_perm={stats['num_perm']} threshold={cfg.threshold}, fp/fn weights {cfg.fp_weight}/{cfg.fn_weight})")
    print(f"ours:      recall {q_ours['recall']:.4f}  precision {q_ours['precision']:.4f}  "
          f"({q_ours['correct']}/{q_ours['true_pairs']} true pairs found, {q_ours['predicted_pairs']} predicted)  "
          f"goal recall >= 0.95, precision >= 0.99")
    misses = true - cluster_pairs(members)
    extra = cluster_pairs(members) - true
    kinds = dict(zip(data.column("id").to_pylist(), data.column("dup_kind").to_pylist()))
    print(f"           missed pairs by kind: {_kind_counts(misses, kinds)}; extra pairs: {len(extra)}")
    if extra:
        texts = dict(zip(data.column("id").to_pylist(), data.column("text").to_pylist()))
        from dedup.minhash import normalize_texts, tokenize

        def shingles(t):
            toks = tokenize(normalize_texts(pa.array([t])))[0].to_pylist()
            return {tuple(toks[i:i + 5]) for i in range(max(0, len(toks) - 4))} or {tuple(toks)}

        js = sorted(len(shingles(texts[a]) & shingles(texts[b])) / max(1, len(shingles(texts[a]) | shingles(texts[b])))
                    for a, b in extra)
        print(f"           extra pairs' true 5-shingle Jaccard: min {js[0]:.2f} median {js[len(js) // 2]:.2f} "
              f"(>= 0.8: {sum(j >= 0.8 for j in js)}/{len(js)}: same text on pages the generator did not mark)")

    dt_full = dt_quality = None
    if peer is None:
        print("\nNOTE: datatrove venv not found (set DATATROVE_VENV); peer comparisons skipped")
    else:
        dt_out = bench / "datatrove"
        shutil.rmtree(dt_out, ignore_errors=True)
        dt_full = run_measured([str(peer), str(REPO / "bench" / "peer_datatrove_minhash.py"), "full", "--input", str(inp),
                                "--out", str(dt_out), "--tasks", "2", "--workers", "2"], env=ENV)
        dres = json.loads(next(l for l in dt_full["stdout"].splitlines() if l.startswith("RESULT "))[7:])
        dmembers: dict[str, list[str]] = {}
        for doc_id, c in dres["clusters"].items():
            dmembers.setdefault(str(c), []).append(doc_id)
        q_dt = score(cluster_pairs(dmembers), true)
        dt_quality = q_dt
        print(f"datatrove: recall {q_dt['recall']:.4f}  precision {q_dt['precision']:.4f}  "
              f"({q_dt['correct']}/{q_dt['true_pairs']}, {q_dt['predicted_pairs']} predicted; its defaults: 14x8, "
              f"no exact pass)")

    # 3. signature speed, one core each, same documents
    results = {"data": source, "docs": data.num_rows, "quality_ours": q_ours, "dedup_stats": stats}
    if peer is not None:
        print(f"\n== signatures, one core each (taskset -c 0), best of {args.repeat}, {sig_docs.num_rows} docs")
        d = run_sig("datatrove", single, 112, 14, 8, args.repeat, peer)
        results["sig_datatrove_14x8"] = d
        for label, (num_perm, b, r) in (("at datatrove's 14x8", (112, 14, 8)),
                                        (f"at our default {stats['bands']}x{stats['rows']}",
                                         (stats["num_perm"], stats["bands"], stats["rows"]))):
            o = run_sig("ours", single, num_perm, b, r, args.repeat, peer)
            results[f"sig_ours_{b}x{r}"] = o
            print(f"ours {label:>22}: {o['docs_per_cpu_s']:7.0f} docs per CPU-second "
                  f"(wall {o['docs_per_s']:.0f}/s); datatrove (14x8) {d['docs_per_cpu_s']:6.1f} "
                  f"(wall {d['docs_per_s']:.1f}/s); ratio {o['docs_per_cpu_s'] / d['docs_per_cpu_s']:.1f}x "
                  f"(wall {o['docs_per_s'] / d['docs_per_s']:.1f}x; goal >= 1.5x)")

    # 4. whole run
    print("\n== whole dedup, 2 workers, same Parquet input (wall incl. start-up; RSS summed over the process tree)")
    print(f"ours:      {ours['seconds']:7.1f} s  peak {ours['peak_rss_mb']:7.0f} MiB "
          f"(largest process {ours['peak_single_rss_mb']:.0f} MiB)  phases {stats['seconds']}")
    base = run_measured([PY, __file__, "--ray-baseline-child"], env=ENV)
    results["ray_baseline"] = {k: v for k, v in base.items() if k not in ("stdout", "stderr")}
    print(f"           of which Ray alone (head + 2 idle workers that imported the stage): "
          f"{base['peak_rss_mb']:.0f} MiB, {base['seconds']:.1f} s")
    if dt_full is not None:
        print(f"datatrove: {dt_full['seconds']:7.1f} s  peak {dt_full['peak_rss_mb']:7.0f} MiB "
              f"(largest process {dt_full['peak_single_rss_mb']:.0f} MiB)  stages "
              f"{ {k: round(v, 2) for k, v in dres['seconds'].items()} }")
        print(f"ratio:     time {dt_full['seconds'] / ours['seconds']:.2f}x faster, "
              f"peak memory {ours['peak_rss_mb'] / dt_full['peak_rss_mb']:.2f}x of datatrove's "
              f"(ours includes Ray's GCS, raylet and workers)")
    results.update({"quality_datatrove": dt_quality,
                    "whole_ours": {k: v for k, v in ours.items() if k not in ("stdout", "stderr")},
                    "whole_datatrove": None if dt_full is None else
                    {k: v for k, v in dt_full.items() if k not in ("stdout", "stderr")}})
    (bench / "results.json").write_text(json.dumps(results, indent=2, default=str))
    print(f"\nresults: {bench / 'results.json'}")
    return 0


def _kind_counts(pairs, kinds) -> dict:
    out: dict[str, int] = {}
    for a, b in pairs:
        k = "+".join(sorted({kinds.get(a) or "?", kinds.get(b) or "?"}))
        out[k] = out.get(k, 0) + 1
    return out


if __name__ == "__main__":
    sys.exit(main())
