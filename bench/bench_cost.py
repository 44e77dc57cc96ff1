"""Cost of a Common Crawl run from measured per-core rates: core-hours and the nodes that finish it in a day.

    python bench/bench_cost.py [--workdir DIR] [--cores-per-node 64] [--pages 3e9,4e10]

Without ``--workdir`` it runs the default pipeline (``python -m pipeline run``, the mini-CC) into a
temporary folder first; with it, it reads that finished run (a fresh one: cached stages ran no units).

Rates, all CPU time of the units in their Ray workers (the executor records it per step, so a shared or
loaded machine does not inflate them):

- **pool**: the whole pool stage (read WARC, decode, extract with math, language ID) on one worker over the
  real pages of ../shared/data/pages wrapped in one WARC (mean 237 KB of HTML: heavier than Common
  Crawl's average page, so an upper bound), CPU seconds per page.
- **dedup, rounds, decontam, corpus, megatron**: a finished run's ``run_stats.json`` (``make corpus``: the
  mini-CC), CPU seconds per input row, scaled to real pages by text length (the run's mean text per
  page vs the real pages' mean extracted text): these stages are linear in the text they read.

Pages per stage for a pool of N pages: pool, dedup and rounds see every page (every recall round scores
the whole pool; the run's own number of rounds is used); decontam, corpus and megatron see the recalled
pages only, at the paper's share (35.5M of 40B pages, DeepSeekMath §2.1). The peer for the pool rate is
datatrove's (``WarcReader -> Trafilatura``) where bench_real_pages.py measured it in the same session; its
ratio is printed when given (``--datatrove-cpu-per-page``).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
REAL_PAGES_TOOL = REPO.parent / "shared" / "tools" / "real_pages.py"
PAPER_RECALLED_SHARE = 35.5e6 / 40e9  # DeepSeekMath §2.1: 35.5M pages recalled from a 40B-page pool
PER_POOL_PAGE = ("dedup", "rounds")
PER_RECALLED_PAGE = ("decontam", "corpus", "megatron")


def pool_rate() -> dict:
    """CPU seconds per page of the pool stage on one worker, on the real pages in one WARC."""
    import pyarrow.compute as pc

    from pipeline.core import storage
    from pipeline.core.config import load_config
    from pipeline.core.executor import Executor
    from pipeline.pool import run_pool

    spec = importlib.util.spec_from_file_location("real_pages", REAL_PAGES_TOOL)
    rp = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rp)
    cfg = load_config(REPO / "configs" / "default.yaml", {"pool.workers": 1})
    with tempfile.TemporaryDirectory() as tmp:
        warc = Path(tmp) / "real-pages.warc.gz"
        rp.write_warc(str(warc))
        with Executor(num_cpus=1) as ex:
            stats = run_pool([str(warc)], str(Path(tmp) / "pool"), cfg.pool, progress=False)
            cpu = sum(ex.unit_cpu_seconds.values())  # extraction, URL dedup, publishing
        pages = stats["totals"]["records_seen"]
        texts = [storage.read_parquet_table(f, ["text"]) for f in storage.list_files(Path(tmp) / "pool" / "pages",
                                                                                   ".parquet")]
        chars = sum(int(pc.sum(pc.utf8_length(t.column("text"))).as_py() or 0) for t in texts)
        kept = sum(t.num_rows for t in texts)
    return {"pages": pages, "cpu_seconds": cpu, "per_page": cpu / pages, "mean_text_chars": chars / max(kept, 1)}


def run_rates(workdir: Path) -> tuple[dict, dict]:
    """Per stage of a finished run: CPU seconds per input row; and the run's shape (rounds, mean text)."""
    import pyarrow.compute as pc

    from pipeline.core import storage

    stats = json.loads((workdir / "run_stats.json").read_text())
    rates = {}
    for s in stats["stages"]:
        cpu = sum((s.get("unit_cpu_seconds") or {}).values())
        if s["stage"] in PER_POOL_PAGE + PER_RECALLED_PAGE and s.get("rows_in") and cpu:
            rates[s["stage"]] = {"rows_in": s["rows_in"], "cpu_seconds": cpu, "per_row": cpu / s["rows_in"]}
    missing = [n for n in PER_POOL_PAGE + PER_RECALLED_PAGE if n not in rates]
    if missing:
        raise SystemExit(f"{workdir}/run_stats.json has no unit CPU time for {', '.join(missing)}: run `make corpus` "
                         "(a fresh run, not one resumed from cached stages) first")
    pages = storage.list_files(workdir / "pool" / "pages", ".parquet")
    tables = [storage.read_parquet_table(f, ["text"]) for f in pages]
    chars = sum(int(pc.sum(pc.utf8_length(t.column("text"))).as_py() or 0) for t in tables)
    rows = sum(t.num_rows for t in tables)
    rounds = next((s["stats"]["extra"].get("last_round") for s in stats["stages"] if s["stage"] == "rounds"), None)
    return rates, {"mean_text_chars": chars / max(rows, 1), "rounds": rounds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--cores-per-node", type=int, default=64)
    ap.add_argument("--pages", default="3e9,4e10", help="pool sizes: one snapshot, the paper's 40B-page pool")
    ap.add_argument("--datatrove-cpu-per-page", type=float, default=None)
    args = ap.parse_args()
    if args.workdir is None:
        import subprocess

        args.workdir = tempfile.mkdtemp(prefix="bench-cost-")
        print(f"running the default pipeline into {args.workdir} ...", flush=True)
        subprocess.run([sys.executable, "-m", "pipeline", "run", "--config", str(REPO / "configs" / "default.yaml"),
                        "--no-progress", "--set", f"workdir={args.workdir}"], cwd=REPO, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rates, shape = run_rates(Path(args.workdir))
    pool = pool_rate()
    scale = pool["mean_text_chars"] / shape["mean_text_chars"]
    print(f"pool (real pages, 1 worker): {pool['cpu_seconds']:.2f} CPU-s for {pool['pages']} pages = "
          f"{pool['per_page'] * 1e3:.2f} ms/page; mean text {pool['mean_text_chars']:,.0f} chars")
    if args.datatrove_cpu_per_page:
        print(f"  datatrove WarcReader -> Trafilatura: {args.datatrove_cpu_per_page * 1e3:.2f} ms/page "
              f"({args.datatrove_cpu_per_page / pool['per_page']:.2f}x ours)")
    print(f"run {args.workdir}: mean text {shape['mean_text_chars']:,.0f} chars/page ({shape['rounds']} rounds); "
          f"later stages scaled x{scale:.2f} to real pages' text")
    per_page = {"pool": pool["per_page"]}
    for name, r in rates.items():
        per_page[name] = r["per_row"] * scale
        print(f"  {name:<9} {r['cpu_seconds']:8.2f} CPU-s / {r['rows_in']:>7,} rows = {r['per_row'] * 1e3:7.3f} ms/row "
              f"-> {per_page[name] * 1e3:7.3f} ms/real page")
    sizes = [float(x) for x in args.pages.split(",")]
    print("\n| stage | pages it reads | " + " | ".join(f"core-hours, {n / 1e9:g}B-page pool" for n in sizes) + " |")
    print("|---|---|" + "---:|" * len(sizes))
    totals = [0.0] * len(sizes)
    for name in ("pool", *PER_POOL_PAGE, *PER_RECALLED_PAGE):
        share = PAPER_RECALLED_SHARE if name in PER_RECALLED_PAGE else 1.0
        what = "recalled (0.089%)" if name in PER_RECALLED_PAGE else "all"
        hours = [n * share * per_page[name] / 3600 for n in sizes]
        totals = [t + h for t, h in zip(totals, hours)]
        print(f"| {name} | {what} | " + " | ".join(f"{h:,.0f}" for h in hours) + " |")
    print("| **total** | | " + " | ".join(f"**{t:,.0f}**" for t in totals) + " |")
    print(f"| nodes of {args.cores_per_node} cores for one day | | " +
          " | ".join(f"{t / 24 / args.cores_per_node:,.0f}" for t in totals) + " |")


if __name__ == "__main__":
    main()
