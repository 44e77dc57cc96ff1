"""Scale benchmark: the global steps at 1M and 10M pages, driver memory flat, against one process doing it all.

    python bench/bench_scale.py [--sizes 1000000,10000000] [--dir bench_out/scale] [--workers 2]

The data is pool-shaped Parquet written directly (no HTML, no text): ids, URLs over a Zipf distribution of
domains (a few large sites, a long tail), fetch times, WARC locations, text lengths, classifier scores and
token counts; 4% of URLs are captured twice, in different files, so URL dedup has work. Each step runs in a
fresh driver process (``--step``) so its peak RSS is its own:

- ``url_dedup``   the pool's cross-WARC URL dedup (earliest fetch wins), hash-partitioned
- ``select``      recall's cut by token budget (the top pages by score until the budget is spent)
- ``domains``     recall's domain statistics and path-prefix proposals for the math domains
- ``seed``        seed growth: pages under accepted prefixes that the selection missed

The peer, measured in the same run on the same files, is the single-process way (every row of the step's
columns in one pyarrow table in the driver: one sort, one group-by), which is how the stages worked before
they were distributed. The table prints per size and step: seconds, microseconds per page, driver peak RSS,
the largest worker's peak RSS, and the peer's figures with the ratio. The goal: driver peak RSS flat and
<= 1 GB from 1M to 10M pages, time per page flat, each worker's peak RSS bounded.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

ROWS_PER_FILE = 250_000
DUPLICATE_SHARE = 0.04
MATH_DOMAIN_SHARE = 0.02
SECTIONS = ("questions", "wiki", "blog", "forum", "math", "lessons", "news", "tag", "users", "docs")


# --- the data -------------------------------------------------------------------------------------------

def _hex_ids(values: np.ndarray) -> pa.Array:
    """16 hex digits per value (the pool's id shape: sha1 of the normalised URL, truncated)."""
    return pa.array([format(int(v), "016x") for v in values], pa.string())


def write_pool(folder: Path, pages: int, seed: int = 0) -> dict:
    """``pages`` capture rows in files of ROWS_PER_FILE under ``candidates/`` (what URL dedup reads: some URLs
    twice) and the same files without the repeated captures under ``pages/`` (the pool after URL dedup: ids
    unique, what recall reads); returns what was written."""
    folder.mkdir(parents=True, exist_ok=True)
    done = folder / "_SUCCESS"
    if done.exists():
        return json.loads(done.read_text())
    rng = np.random.default_rng(seed)
    n_domains = max(1000, pages // 20)
    # Zipf over domain ranks, truncated: the head sites hold a large share, the tail one page each
    ranks = rng.zipf(1.3, size=pages)
    ranks = np.where(ranks > n_domains, rng.integers(1, n_domains + 1, size=pages), ranks) - 1
    is_math_domain = (np.arange(n_domains) % int(1 / MATH_DOMAIN_SHARE)) == 7
    unique = pages - int(pages * DUPLICATE_SHARE)
    url_ids = np.concatenate([np.arange(unique), rng.integers(0, unique, size=pages - unique)])
    url_ids = url_ids[rng.permutation(pages)]
    first = np.zeros(pages, bool)
    first[np.unique(url_ids, return_index=True)[1]] = True  # a URL's first capture in file order is the pool's
    (folder / "candidates").mkdir(exist_ok=True)
    (folder / "pages").mkdir(exist_ok=True)
    files, pool_files = [], []
    for f, start in enumerate(range(0, pages, ROWS_PER_FILE)):
        stop = min(pages, start + ROWS_PER_FILE)
        uid = url_ids[start:stop]
        dom = ranks[uid]  # a URL always belongs to one domain
        math = is_math_domain[dom]
        section = np.where(math & (uid % 3 != 0), SECTIONS.index("math"), uid % len(SECTIONS))
        domains = [f"site{d}.example.org" for d in dom]
        urls = [f"https://{d}/{SECTIONS[s]}/{u % 97}/page-{u}" for d, s, u in zip(domains, section, uid)]
        ids = _hex_ids(np.frombuffer(b"".join(hashlib.sha1(u.encode()).digest()[:8] for u in urls), ">u8"))
        score = np.clip(rng.beta(0.6, 4.0, size=stop - start) + 0.5 * math * (section == SECTIONS.index("math")),
                        0, 1).astype(np.float32)
        score = np.round(score, 3)  # coarse scores: many ties at the budget's cut
        text_chars = rng.lognormal(7.5, 1.0, size=stop - start).astype(np.int32) + 200
        table = pa.table({
            "id": ids,
            "url": pa.array(urls, pa.string()),
            "url_normalized": pa.array(urls, pa.string()),
            "domain": pa.array(domains, pa.string()),
            "lang": pa.array(np.where(rng.random(stop - start) < 0.1, "zh", "en"), pa.string()),
            "fetch_time": pa.array(1_700_000_000_000_000 + rng.integers(0, 10**12, size=stop - start),
                                   pa.timestamp("us", tz="UTC")),
            "warc_path": pa.array([f"s3://commoncrawl/crawl-data/CC-MAIN-2026-01/segments/{f:05d}.warc.gz"] *
                                  (stop - start), pa.string()),
            "warc_offset": pa.array(np.arange(stop - start, dtype=np.int64) * 30_000),
            "text_chars": pa.array(text_chars),
            "score": pa.array(score),
            "tokens": pa.array((text_chars // 4).astype(np.int32)),
        })
        path = folder / "candidates" / f"part-{f:05d}.parquet"
        pq.write_table(table, path, compression="zstd")
        files.append(str(path))
        pool_path = folder / "pages" / f"part-{f:05d}.parquet"
        pq.write_table(table.filter(pa.array(first[start:stop])), pool_path, compression="zstd")
        pool_files.append(str(pool_path))
    info = {"pages": pages, "files": files, "pool_files": pool_files, "domains": n_domains,
            "bytes": sum(os.path.getsize(p) for p in files)}
    done.write_text(json.dumps(info))
    return info


# --- measuring --------------------------------------------------------------------------------------------

class TreeRss:
    """Peak RSS of this process and, separately, of the largest child (Ray's workers are children of the
    raylet this driver started), sampled every 50 ms. (Not ``ru_maxrss``: a child forked from a large
    parent inherits its high-water mark.)"""

    def __init__(self):
        import psutil

        self.me = psutil.Process()
        self.driver_peak = self.me.memory_info().rss
        self.worker_peak = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        import psutil

        while not self._stop.is_set():
            try:
                self.driver_peak = max(self.driver_peak, self.me.memory_info().rss)
                for c in self.me.children(recursive=True):
                    try:
                        if "ray::" in " ".join(c.cmdline()[:1]):
                            self.worker_peak = max(self.worker_peak, c.memory_info().rss)
                    except (psutil.NoSuchProcess, psutil.AccessDenied):
                        pass
            except psutil.NoSuchProcess:
                pass
            self._stop.wait(0.05)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()




# --- the steps, distributed (ours) and in one process (the peer) --------------------------------------------

BUDGET_SHARE = 0.05  # the selection keeps the top pages holding 5% of the tokens
MATH_SHARE = 0.10  # a domain is a math domain when more than 10% of its pages are recalled (the paper's rule)


def _parts(files: list[str]):
    from classifiers.steps import PoolPart

    return [PoolPart(stem=Path(f).stem, pages=f, scores=f, url_column="url") for f in files]


def _budget(files: list[str]) -> int:
    total = sum(pq.read_metadata(f).num_rows for f in files)
    mean = 400  # tokens per page, as written
    return int(total * mean * BUDGET_SHARE)


def ours(step: str, files: list[str], work: Path, executor) -> dict:
    import shutil

    from classifiers import steps

    work.mkdir(parents=True, exist_ok=True)
    # each step starts from nothing of its own (its unit markers would make a rerun free); the steps
    # after it read what the earlier ones wrote (the selection, the accepted prefixes)
    for own in {"url_dedup": ["url_dedup"], "select": ["selected"], "domains": ["domains"], "seed": ["seed"]}[step]:
        shutil.rmtree(work / own, ignore_errors=True)
    if step == "url_dedup":
        from pipeline.url_dedup import partitions_for, url_dedup

        n = sum(pq.read_metadata(f).num_rows for f in files)
        st = url_dedup(files, str(work / "url_dedup"), executor, partitions_for(n))
        return {"kept": st["kept"], "duplicate_url": st["duplicate_url"]}
    parts = _parts(files)
    sel = work / "selected"
    if step == "select":
        cut = steps.select_by_budget(parts, executor, budget_tokens=_budget(files))
        out = steps.write_selection(parts, cut, str(sel), executor)
        return {"selected": out["rows_out"], "tokens": out["tokens"]}
    if step == "domains":
        st = steps.domain_stats(parts, str(sel), str(work / "domains"), executor, share=MATH_SHARE)
        accepted: dict[str, list[str]] = {}
        for row in st.proposals:
            if row.accepted:
                accepted.setdefault(row.domain, []).append(row.prefix)
        (work / "accepted.json").write_text(json.dumps(accepted))
        return {"domains": st.domains, "math_domains": st.math_domains,
                "accepted_prefixes": sum(p.accepted for p in st.proposals)}
    if step == "seed":
        accepted = json.loads((work / "accepted.json").read_text())  # the domains step's proposals, accepted
        added = steps.grow_seed(parts, accepted, str(work / "seed"), executor, round_no=2,
                                exclude_folders=[str(sel)])
        return {"added": added, "accepted_domains": len(accepted)}
    raise ValueError(step)


def peer(step: str, files: list[str]) -> dict:
    """The single-process way: the step's columns of every page in one table, one sort or group-by."""
    if step == "url_dedup":
        t = pa.concat_tables(pq.read_table(f, columns=["id", "fetch_time", "warc_path", "warc_offset"]) for f in files)
        t = t.sort_by([("id", "ascending"), ("fetch_time", "ascending"), ("warc_path", "ascending"),
                       ("warc_offset", "ascending")])
        ids = t.column("id").combine_chunks()
        first = np.ones(len(ids), bool)
        first[1:] = pc.not_equal(ids[1:], ids[:-1]).to_numpy(zero_copy_only=False)
        return {"kept": int(first.sum()), "duplicate_url": int((~first).sum())}
    t = pa.concat_tables(pq.read_table(f, columns=["id", "url", "domain", "score", "tokens"]) for f in files)
    order = np.lexsort((t.column("id").to_numpy(zero_copy_only=False).astype(str),
                        -t.column("score").to_numpy()))
    tokens = t.column("tokens").to_numpy()[order]
    keep = np.cumsum(tokens) <= _budget(files)
    selected = np.zeros(t.num_rows, bool)
    selected[order[keep]] = True
    if step == "select":
        return {"selected": int(selected.sum()), "tokens": int(tokens[keep].sum())}
    g = pa.table({"domain": t.column("domain"), "sel": pa.array(selected.astype(np.int64))}).group_by(
        "domain").aggregate([("sel", "sum"), ("sel", "count")])
    math = int(pc.sum(pc.greater(pc.divide(pc.cast(g.column("sel_sum"), pa.float64()), g.column("sel_count")),
                                 MATH_SHARE)).as_py() or 0)
    if step == "domains":
        return {"domains": g.num_rows, "math_domains": math}
    if step == "seed":
        return {"pages": t.num_rows, "selected": int(selected.sum())}  # the peer holds what growth would walk
    raise ValueError(step)


STEPS = ("url_dedup", "select", "domains", "seed")


def run_step(step: str, who: str, data: Path, work: Path, workers: int) -> dict:
    """One step in this (fresh) process; prints a JSON line with the figures."""
    info = json.loads((data / "_SUCCESS").read_text())
    files = info["files"] if step == "url_dedup" else info["pool_files"]
    t0 = time.perf_counter()
    with TreeRss() as rss:
        if who == "ours":
            from pipeline.core.executor import Executor

            with Executor(num_cpus=workers) as ex:
                ex.start()
                t0 = time.perf_counter()  # Ray's start-up is not the step's
                out = ours(step, files, work, ex)
        else:
            out = peer(step, files)
    seconds = time.perf_counter() - t0
    return {"step": step, "who": who, "seconds": round(seconds, 2), "driver_peak_mb": rss.driver_peak / 2**20,
            "worker_peak_mb": rss.worker_peak / 2**20, **out}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1000000,10000000")
    ap.add_argument("--dir", default=str(REPO / "bench_out" / "scale"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--step", help=argparse.SUPPRESS)
    ap.add_argument("--who", help=argparse.SUPPRESS)
    ap.add_argument("--pages", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    base = Path(args.dir)
    if args.step:  # a child: one step, one size
        data = base / f"pool-{args.pages}"
        print(json.dumps(run_step(args.step, args.who, data, base / f"work-{args.pages}", args.workers)))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    for n in sizes:
        t = time.perf_counter()
        info = write_pool(base / f"pool-{n}", n)
        print(f"pool-shaped data: {n:,} pages in {len(info['files'])} files, {info['domains']:,} domains, "
              f"{info['bytes'] / 2**20:,.0f} MiB ({time.perf_counter() - t:.0f}s)", flush=True)
        for step in STEPS:
            for who in ("ours", "peer"):
                cmd = [sys.executable, __file__, "--dir", str(base), "--workers", str(args.workers), "--step", step,
                       "--who", who, "--pages", str(n)]
                p = subprocess.run(cmd, capture_output=True, text=True)
                if p.returncode != 0:
                    print(f"  {step} {who} failed:\n{p.stderr[-3000:]}", flush=True)
                    raise SystemExit(1)
                r = json.loads(p.stdout.strip().splitlines()[-1])
                r["pages"] = n
                rows.append(r)
                print(f"  {n:>11,} {step:<10} {who:<5} {r['seconds']:8.1f}s  driver {r['driver_peak_mb']:7.0f} MB  "
                      f"worker {r['worker_peak_mb']:6.0f} MB  {json.dumps({k: v for k, v in r.items() if k not in ('step', 'who', 'seconds', 'driver_peak_mb', 'worker_peak_mb', 'pages')})}",
                      flush=True)
    print_table(rows, sizes)
    (base / "results.json").write_text(json.dumps(rows, indent=2))


def print_table(rows: list[dict], sizes: list[int]) -> None:
    print("\n| step | pages | ours s | ours us/page | ours driver MB | ours max worker MB | one process s | "
          "one process driver MB | driver RSS, one process / ours |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    by = {(r["step"], r["who"], r["pages"]): r for r in rows}
    for step in STEPS:
        for n in sizes:
            o, p = by[(step, "ours", n)], by[(step, "peer", n)]
            print(f"| {step} | {n:,} | {o['seconds']:.1f} | {o['seconds'] / n * 1e6:.1f} | {o['driver_peak_mb']:.0f} | "
                  f"{o['worker_peak_mb']:.0f} | {p['seconds']:.1f} | {p['driver_peak_mb']:.0f} | "
                  f"{p['driver_peak_mb'] / o['driver_peak_mb']:.1f}x |")
    if len(sizes) >= 2:
        lo, hi = sizes[0], sizes[-1]
        for step in STEPS:
            o1, o2 = by[(step, "ours", lo)], by[(step, "ours", hi)]
            print(f"{step}: driver peak {o1['driver_peak_mb']:.0f} -> {o2['driver_peak_mb']:.0f} MB "
                  f"({o2['driver_peak_mb'] / o1['driver_peak_mb']:.2f}x for {hi / lo:.0f}x the pages); time per page "
                  f"{o1['seconds'] / lo * 1e6:.1f} -> {o2['seconds'] / hi * 1e6:.1f} us")


if __name__ == "__main__":
    main()
