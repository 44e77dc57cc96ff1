"""Decontamination benchmark: recall on planted real benchmark items, false positives on
clean math pages, and scan throughput against datatrove's NGramsDecontFilter.

    python bench/bench_decontam.py [--pages 12000] [--minicc DIR] [--plant all|K] [--work DIR] [--json OUT]

1. Loads the real test sets from ``../shared/data/benchmarks`` (GSM8K, MATH, CMATH,
   AGIEval x4) and builds the index (n=10, exact texts of 3..9 tokens).
2. Clean math pages: the mini Common Crawl's math pages (``truth.is_math``, no
   generated benchmark item planted by synth), extracted by the pool stage when the
   checkout has it (``pipeline.pool``), else by trafilatura. The mini-CC is generated
   into a temporary folder unless ``--minicc`` names one.
3. Planting: every item of every real file (or ``--plant K`` per file) is copied
   into a clean math page of its language at a paragraph boundary: its question,
   its answer/solution, or both, sometimes re-wrapped (white space changes only).
4. Scans clean + planted pages with our core on one core (3 repeats) and with
   datatrove's NGramsDecontFilter on one core in its own venv (``DATATROVE_PYTHON``,
   default /work/peers/datatrove-venv/bin/python), same pages, same benchmark texts.
   tokens/s counts the pages' tokens under our rule for both tools.
5. Runs the Ray stage on the same pages and checks it removes exactly what the core does.
6. Extra false-positive probes on real text that is not contaminated by construction:
   real web pages in shared/data (magic-html, DCLM, dolma) and the GSM8K/MATH *train*
   sets (hard negatives: same style, different items).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from decontam.index import BenchmarkIndex  # noqa: E402
from decontam.loaders import load_benchmark  # noqa: E402
from decontam.text import normalize, tokens  # noqa: E402

DATA = REPO.parent / "shared" / "data"
REAL = [
    ("gsm8k", "gsm8k/test.jsonl", "en"),
    ("math", "math/MATH_test.tar.gz", "en"),
    ("cmath", "cmath/test.jsonl", "zh"),
    ("agieval-gaokao-mathqa", "agieval/gaokao-mathqa.jsonl", "zh"),
    ("agieval-gaokao-mathcloze", "agieval/gaokao-mathcloze.jsonl", "zh"),
    ("agieval-sat-math", "agieval/sat-math.jsonl", "en"),
    ("agieval-math", "agieval/math.jsonl", "en"),
]
QUESTION_FIELDS = ("question", "problem", "passage")
DEFAULT_PEER = "/work/peers/datatrove-venv/bin/python"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --- clean math pages ----------------------------------------------------------------------

def make_minicc(work: Path, pages: int) -> Path:
    out = work / "minicc"
    log(f"generating a mini Common Crawl of {pages} records into {out}")
    # math_fraction 0.3: ~3,300 clean math pages, so one false positive is 0.03%, under the 0.1% goal.
    subprocess.run([sys.executable, "-m", "pipeline", "synth", "--out", str(out), "--pages", str(pages),
                    "--set", "synth.math_fraction=0.3"], cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    return out


def _pool_extract(minicc: Path, work: Path) -> tuple[pa.Table, str]:
    """Pool rows of the mini-CC's WARCs: the pool stage when present, else trafilatura."""
    warcs = sorted(str(p) for p in minicc.rglob("*.warc.gz"))
    try:
        from pipeline.core.config import Config
        from pipeline.pool import read_pool, run_pool
    except ImportError:
        run_pool = None
    if run_pool is not None:
        out = work / "pool"  # the pool's units start Ray through the executor
        run_pool(warcs, out, Config().pool, progress=False)
        return read_pool(out), "pool stage (pipeline.pool)"
    import trafilatura
    from warcio.archiveiterator import ArchiveIterator

    rows = []
    for w in warcs:
        try:
            with open(w, "rb") as fh:
                for rec in ArchiveIterator(fh):
                    if rec.rec_type != "response" or not rec.http_headers or rec.http_headers.get_statuscode() != "200":
                        continue
                    if "html" not in (rec.http_headers.get_header("Content-Type") or ""):
                        continue
                    html = rec.content_stream().read()
                    text = trafilatura.extract(html.decode("utf-8", "replace"), include_formatting=False) or ""
                    rows.append({"url": rec.rec_headers.get_header("WARC-Target-URI"), "text": text,
                                 "warc_record_id": rec.rec_headers.get_header("WARC-Record-ID")})
        except Exception as exc:  # the mini-CC ships damaged files on purpose
            log(f"  skipped {Path(w).name}: {type(exc).__name__}")
    return pa.Table.from_pylist(rows), "trafilatura (pool stage not in this checkout)"


def clean_math_pages(minicc: Path, work: Path) -> tuple[list[dict], str, Counter]:
    truth = pq.read_table(minicc / "truth.parquet").to_pylist()
    math_ids = {r["warc_record_id"]: r for r in truth if r["is_math"]}
    pool, how = _pool_extract(minicc, work)
    pages, skipped = [], Counter()
    for r in pool.to_pylist():
        t = math_ids.get(r["warc_record_id"])
        if t is None:
            continue
        if t["benchmark"]:
            skipped["quotes a generated benchmark item (synth)"] += 1
            continue
        if not (r["text"] or "").strip():
            skipped["empty after extraction"] += 1
            continue
        lang = "zh" if str(t["language"]).startswith("zh") else "en"
        pages.append({"id": f"clean-{len(pages)}", "url": r["url"], "text": r["text"], "lang": lang})
    return pages, how, skipped


# --- planting -------------------------------------------------------------------------------

def plant(texts, pages: list[dict], per_file: int | None, rng: random.Random, index: BenchmarkIndex):
    by_lang = defaultdict(list)
    for p in pages:
        by_lang[p["lang"]].append(p)
    items = defaultdict(list)
    for t in texts:
        items[(t.benchmark, t.item_id)].append(t)
    lang_of = {name: lang for name, _, lang in REAL}
    planted, undetectable = [], []
    keys = sorted(items)
    if per_file is not None:
        chosen = []
        for name, _, _ in REAL:
            ks = [k for k in keys if k[0] == name]
            chosen += rng.sample(ks, min(per_file, len(ks)))
        keys = sorted(chosen)
    # Plant only texts the rule indexes (n-gram texts and short texts with a word): a bare
    # formula answer or option list ("\\frac{1}{6}", "(A)1 (B)2 ...") is ignored by design.
    visible = {int(o) for _h, owners, _b in index.tables.values() for o in np.unique(owners)}
    visible |= {o for owners in index.short.values() for o in owners}
    pos_of = {id(t): i for i, t in enumerate(index.texts)}
    for key in keys:
        fields = [t for t in items[key] if pos_of.get(id(t)) in visible]
        qs = [t for t in fields if t.field in QUESTION_FIELDS]
        ans = [t for t in fields if t.field not in QUESTION_FIELDS]
        if not fields:
            undetectable.append(key)
            continue
        mode = rng.random()
        if qs and (mode < 0.6 or not ans):
            chosen_texts, how = [rng.choice(qs)], "question"
        elif ans and (mode < 0.85 or not qs):
            chosen_texts, how = [rng.choice(ans)], "answer"
        else:
            chosen_texts, how = [rng.choice(qs), rng.choice(ans)], "question+answer"
        block = "\n\n".join(t.text for t in chosen_texts)
        if rng.random() < 0.3:
            block = " ".join(block.split())  # re-wrapped by a web page: white space only
        pool = by_lang.get(lang_of[key[0]]) or pages
        host = rng.choice(pool)
        paras = host["text"].split("\n")
        at = rng.randint(0, len(paras))
        lead = rng.choice(["", "Problem: ", "Example. ", "题目：", "Q: "])
        text = "\n".join(paras[:at] + [lead + block] + paras[at:])
        planted.append({"id": f"planted-{len(planted)}", "url": host["url"] + f"#planted-{len(planted)}",
                        "text": text, "item": key, "how": how})
    return planted, undetectable


# --- runs -----------------------------------------------------------------------------------

def scan_core(index: BenchmarkIndex, pages: list[dict], repeats: int = 3):
    results, times = None, []
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = [index.scan(p["text"]) for p in pages]
        times.append(time.perf_counter() - t0)
        results = res
    return results, times


def run_datatrove(peer: str, work: Path, texts, pages: list[dict], n: int, n_clean: int) -> dict | None:
    if not Path(peer).exists():
        log(f"datatrove peer venv not found at {peer}: set DATATROVE_PYTHON (skipping the comparison)")
        return None
    with open(work / "bench_texts.jsonl", "w", encoding="utf-8") as fh:
        for t in texts:
            fh.write(json.dumps({"benchmark": t.benchmark, "item_id": t.item_id, "field": t.field, "text": t.text},
                                ensure_ascii=False) + "\n")
    with open(work / "pages.jsonl", "w", encoding="utf-8") as fh:
        for p in pages:
            fh.write(json.dumps({"id": p["id"], "text": p["text"]}, ensure_ascii=False) + "\n")
    script = Path(__file__).with_name("_datatrove_decont_peer.py")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = subprocess.run([peer, str(script), str(work), str(n), str(n_clean)], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        log(f"datatrove run failed:\n{proc.stderr[-3000:]}")
        return None
    return json.loads((work / "datatrove_result.json").read_text())


def run_stage(work: Path, pages: list[dict], n: int) -> tuple[dict, set[str]]:
    from decontam.stage import run_decontam
    from pipeline.core.executor import Executor
    from pipeline.core.config import load_config

    inp = work / "stage_in"
    inp.mkdir(exist_ok=True)
    per = max(1, len(pages) // 8)
    for i in range(0, len(pages), per):
        chunk = pages[i:i + per]
        pq.write_table(pa.table({"id": [p["id"] for p in chunk], "url": [p["url"] for p in chunk],
                                 "text": pa.array([p["text"] for p in chunk], pa.large_string())}),
                       inp / f"part-{i // per:05d}.parquet")
    specs = [{"name": name, "path": str(DATA / "benchmarks" / rel)} for name, rel, _ in REAL]
    cfg = load_config(None, {"workdir": str(work / "w"), "decontam.input": str(inp), "decontam.n": n,
                             "decontam.workers": 2, "decontam.benchmarks": specs})
    with Executor(num_cpus=2) as executor:
        executor.start()  # Ray's start-up is not the stage's time
        t0 = time.perf_counter()
        stats = run_decontam(cfg, work / "w" / "decontam", progress=False, executor=executor)
        stats["wall_seconds"] = time.perf_counter() - t0
    removed = set(pq.read_table(work / "w" / "decontam" / "drops", columns=["id"]).column("id").to_pylist())
    return stats, removed


def real_negatives() -> dict[str, list[dict]]:
    import gzip

    sets: dict[str, list[dict]] = {"real web pages (magic-html, DCLM, dolma)": [], "GSM8K train": [], "MATH train": []}
    web = sets["real web pages (magic-html, DCLM, dolma)"]
    for f in ("magic-html_article_base.json", "magic-html_forum_base.json"):
        for k, v in json.loads((DATA / "seed" / "web_mixed" / f).read_text()).items():
            web.append({"id": f"{f}:{k[:12]}", "text": v.get("content") or ""})
    for f in sorted((DATA / "seed" / "web_negative").glob("*.jsonl")):
        for i, line in enumerate(f.read_text().splitlines()):
            rec = json.loads(line)
            web.append({"id": f"{f.name}:{i + 1}", "text": rec.get("text") or ""})
    with gzip.open(DATA / "seed" / "math_positive" / "gsm8k_train.jsonl.gz", "rt") as fh:
        for i, line in enumerate(fh):
            r = json.loads(line)
            sets["GSM8K train"].append({"id": f"gsm8k-train:{i + 1}", "text": r["question"] + "\n" + r["answer"]})
    with gzip.open(DATA / "seed" / "math_positive" / "MATH_train.jsonl.gz", "rt") as fh:
        for i, line in enumerate(fh):
            r = json.loads(line)
            sets["MATH train"].append({"id": f"math-train:{r.get('id', i + 1)}", "text": r["problem"] + "\n" + r["solution"]})
    return sets


def describe(index: BenchmarkIndex, res) -> str:
    m = res.matches[0]
    t = index.texts[m.owner]
    return f"{t.benchmark} {t.item_id} {t.field} ({m.kind}): {m.matched!r}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pages", type=int, default=12000, help="mini-CC response records to generate")
    ap.add_argument("--minicc", type=Path, default=None, help="use this mini-CC instead of generating one")
    ap.add_argument("--plant", default="all", help="'all' items of every real file, or K per file")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    ap.add_argument("--work", type=Path, default=None,
                    help="keep intermediate files here (the pool stage resumes from its markers); default: a temp dir")
    args = ap.parse_args()
    if not (DATA / "benchmarks").is_dir():
        print(f"real benchmarks not found under {DATA}: nothing to measure")
        return 0
    rng = random.Random(args.seed)
    report: dict = {"machine_note": "2-core machine shared with other developers' test runs: timings are noisy"}
    with tempfile.TemporaryDirectory(prefix="bench-decontam-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for stale in ("stage_in", "w", "datatrove_index"):
            shutil.rmtree(work / stale, ignore_errors=True)
        texts = []
        for name, rel, _ in REAL:
            texts += load_benchmark(name, DATA / "benchmarks" / rel)
        t0 = time.perf_counter()
        index = BenchmarkIndex(texts, n=args.n)
        report["index"] = {**index.stats, "build_seconds": round(time.perf_counter() - t0, 2)}
        log(f"index: {index.stats}")

        minicc = args.minicc or make_minicc(work, args.pages)
        clean, how, skipped = clean_math_pages(minicc, work)
        report["clean_source"] = {"minicc": str(minicc), "extraction": how, "pages": len(clean),
                                  "by_lang": dict(Counter(p["lang"] for p in clean)), "excluded": dict(skipped)}
        log(f"clean math pages: {len(clean)} via {how} ({report['clean_source']['by_lang']}), excluded {dict(skipped)}")

        per_file = None if args.plant == "all" else int(args.plant)
        planted, undetectable = plant(texts, clean, per_file, rng, index)
        log(f"planted {len(planted)} items ({dict(Counter(p['how'] for p in planted))}); "
            f"{len(undetectable)} items have no text of >= {index.short_min} tokens")
        pages = clean + planted

        results, times = scan_core(index, pages)
        ntok = sum(r.tokens for r in results)
        ours_s = statistics.median(times)
        clean_res, clean_times = scan_core(index, clean)
        ntok_clean = sum(r.tokens for r in clean_res)
        ours_clean_s = statistics.median(clean_times)
        by_id = {p["id"]: r for p, r in zip(pages, results)}
        found = [p for p in planted if p["item"] in {(index.texts[m.owner].benchmark, index.texts[m.owner].item_id)
                                                      for m in by_id[p["id"]].matches}]
        missed = [p for p in planted if p not in found]
        per_bench = Counter(p["item"][0] for p in planted)
        per_bench_found = Counter(p["item"][0] for p in found)
        fps = [(p, by_id[p["id"]]) for p in clean if by_id[p["id"]].contaminated]
        report["recall"] = {"planted": len(planted), "found": len(found),
                            "found_pct": round(100 * len(found) / len(planted), 3) if planted else None,
                            "by_benchmark": {b: f"{per_bench_found[b]}/{per_bench[b]}" for b in sorted(per_bench)},
                            "missed": [{"item": p["item"], "how": p["how"]} for p in missed[:20]],
                            "items_without_rule_text": len(undetectable)}
        report["clean_removed"] = {"pages": len(clean), "removed": len(fps),
                                   "removed_pct": round(100 * len(fps) / len(clean), 4) if clean else None,
                                   "false_positives": [{"id": p["id"], "url": p["url"], "match": describe(index, r)}
                                                       for p, r in fps]}
        report["ours"] = {"tokens": ntok, "pages": len(pages), "seconds_runs": [round(t, 3) for t in times],
                          "tokens_per_s_core": round(ntok / ours_s),
                          "clean_tokens": ntok_clean, "clean_seconds_runs": [round(t, 3) for t in clean_times],
                          "clean_tokens_per_s_core": round(ntok_clean / ours_clean_s)}
        log(f"ours: {ntok} tokens, runs {report['ours']['seconds_runs']} s -> {report['ours']['tokens_per_s_core']:,} tokens/s/core")

        log("datatrove NGramsDecontFilter on the same pages (one core, its own venv) ...")
        dt = run_datatrove(os.environ.get("DATATROVE_PYTHON", DEFAULT_PEER), work, texts, pages, args.n, len(clean))
        if dt is not None:
            dt_flag = {f[0] for f in dt["flagged"]}
            report["datatrove"] = {
                "scan_seconds": round(dt["scan_seconds"], 3), "index_seconds": round(dt["index_seconds"], 2),
                "tokens_per_s_core": round(ntok / dt["scan_seconds"]),
                "clean_seconds": round(dt["clean_seconds"], 3),
                "clean_tokens_per_s_core": round(ntok_clean / dt["clean_seconds"]),
                "planted_pages_flagged_pct": round(100 * len({p["id"] for p in planted} & dt_flag) / len(planted), 3),
                "clean_pages_flagged": len({p["id"] for p in clean} & dt_flag),
                "clean_pages_flagged_pct": round(100 * len({p["id"] for p in clean} & dt_flag) / len(clean), 4),
                "planted_by_benchmark": {b: f"{sum(1 for p in planted if p['item'][0] == b and p['id'] in dt_flag)}/{per_bench[b]}"
                                         for b in sorted(per_bench)},
            }
            report["speedup_vs_datatrove"] = round(dt["scan_seconds"] / ours_s, 2)
            report["speedup_vs_datatrove_clean_pages"] = round(dt["clean_seconds"] / ours_clean_s, 2)
            log(f"datatrove: {dt['scan_seconds']:.1f} s -> {report['datatrove']['tokens_per_s_core']:,} tokens/s/core; "
                f"ours is {report['speedup_vs_datatrove']}x")

        log("Ray stage (2 workers) on the same pages ...")
        stats, removed = run_stage(work, pages, args.n)
        core_removed = {p["id"] for p in pages if by_id[p["id"]].contaminated}
        report["stage"] = {"pages": stats["rows_in"], "removed": sum(stats["dropped"].values()),
                           "wall_seconds": round(stats["wall_seconds"], 2),
                           "tokens_per_s_per_worker": stats["extra"]["tokens_per_second_per_worker"],
                           "same_removals_as_core": removed == core_removed}

        negs = {}
        for name, docs in real_negatives().items():
            res = [index.scan(d["text"]) for d in docs]
            hit = [(d, r) for d, r in zip(docs, res) if r.contaminated]
            negs[name] = {"docs": len(docs), "flagged": len(hit),
                          "examples": [f"{d['id']}: {describe(index, r)}" for d, r in hit[:15]]}
        report["real_text_probes"] = negs

    print_report(report)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str))
    ok = report["recall"]["found"] == report["recall"]["planted"] and report["clean_removed"]["removed_pct"] <= 0.1
    return 0 if ok else 1


def print_report(r: dict) -> None:
    print("\n=== decontamination benchmark ===")
    print(f"note: {r['machine_note']}")
    print(f"index: {r['index']['items']} items, {r['index']['ngrams']:,} distinct 10-grams, "
          f"{r['index']['short_texts']} short exact texts, built in {r['index']['build_seconds']} s")
    cs = r["clean_source"]
    print(f"clean math pages: {cs['pages']} {cs['by_lang']} from {cs['minicc']} via {cs['extraction']}")
    rc = r["recall"]
    print(f"planted items found: {rc['found']}/{rc['planted']} = {rc['found_pct']}%  {rc['by_benchmark']}")
    for m in rc["missed"]:
        print(f"  missed: {m}")
    cr = r["clean_removed"]
    print(f"clean math pages removed: {cr['removed']}/{cr['pages']} = {cr['removed_pct']}%")
    for fp in cr["false_positives"]:
        print(f"  FP {fp['id']} {fp['url']}: {fp['match']}")
    o = r["ours"]
    print("throughput, one core each (tokens counted by our rule for both tools):")
    print(f"  all pages (clean + planted):  ours {o['tokens_per_s_core']:>9,} tokens/s  "
          f"({o['tokens']:,} tokens, runs {o['seconds_runs']} s)")
    if "datatrove" in r:
        d = r["datatrove"]
        print(f"                                datatrove {d['tokens_per_s_core']:>9,} tokens/s  ({d['scan_seconds']} s)"
              f"  -> ours {r['speedup_vs_datatrove']}x")
    print(f"  clean math pages only:        ours {o['clean_tokens_per_s_core']:>9,} tokens/s  "
          f"({o['clean_tokens']:,} tokens, runs {o['clean_seconds_runs']} s)")
    if "datatrove" in r:
        print(f"                                datatrove {d['clean_tokens_per_s_core']:>9,} tokens/s  "
              f"({d['clean_seconds']} s)  -> ours {r['speedup_vs_datatrove_clean_pages']}x")
        print(f"datatrove flags {d['planted_pages_flagged_pct']}% of planted pages {d['planted_by_benchmark']}, "
              f"{d['clean_pages_flagged']} clean pages ({d['clean_pages_flagged_pct']}%)")
    s = r["stage"]
    print(f"Ray stage: {s['pages']} pages, {s['removed']} removed in {s['wall_seconds']} s wall, "
          f"{s['tokens_per_s_per_worker']:,} tokens/s/worker, same removals as core: {s['same_removals_as_core']}")
    for name, v in r["real_text_probes"].items():
        print(f"probe {name}: {v['flagged']}/{v['docs']} flagged")
        for e in v["examples"]:
            print(f"    {e}")


if __name__ == "__main__":
    sys.exit(main())
