"""Tokenising into Megatron .bin/.idx: this pipeline (Ray) vs Megatron-LM's tools/preprocess_data.py.

Same input (a jsonl of real math and web text from ../shared/data, repeated to ~MIB MiB), same tokenizer (a
byte-level BPE trained here, saved as a Hugging Face tokenizer, loaded by both through transformers), same number
of workers, EOD appended by both. Each tool runs as a fresh process (imports, Ray / multiprocessing start-up
and the final merge included), alternately, REPEAT times; the median counts. Ours is also timed with Ray already
running (as inside `make corpus`, where all stages share one Ray). The outputs must be byte-identical.

Environment:
  MEGATRON_LM_DIR      a Megatron-LM checkout whose tools/ match the installed megatron-core
                       (default /work/peers/Megatron-LM; tag core_v0.16.1 for megatron-core 0.16.1)
  MEGATRON_PYTHON      a Python that runs it (default /work/peers/megatron-venv/bin/python: this venv's packages
                       plus triton, which Megatron-LM's training package imports)
  BENCH_WORKERS (2), BENCH_MIB (24), BENCH_REPEAT (3), BENCH_VOCAB (32000)
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's packages, even where another checkout is installed
SHARED = REPO.parent / "shared" / "data"
MEGATRON_LM_DIR = Path(os.environ.get("MEGATRON_LM_DIR", "/work/peers/Megatron-LM"))
MEGATRON_PYTHON = os.environ.get("MEGATRON_PYTHON", "/work/peers/megatron-venv/bin/python")
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
MIB = int(os.environ.get("BENCH_MIB", "24"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))
VOCAB = int(os.environ.get("BENCH_VOCAB", "32000"))


def real_texts() -> list[str]:
    texts = []
    for name, fields in (("seed/math_positive/MATH_train.jsonl.gz", ("problem", "solution")),
                         ("seed/math_positive/gsm8k_train.jsonl.gz", ("question", "answer"))):
        with gzip.open(SHARED / name, "rt", encoding="utf-8") as fh:
            for line in fh:
                rec = json.loads(line)
                texts.append("\n\n".join(str(rec[f]) for f in fields if rec.get(f)))
    for name in ("dclm_agreement_data.jsonl", "dclm_majority_data.jsonl", "dolma_cc_en_head-0091.jsonl",
                 "dolma_cc_en_head-0174.jsonl"):
        with open(SHARED / "seed" / "web_negative" / name, encoding="utf-8") as fh:
            for line in fh:
                rec = json.loads(line)
                text = rec.get("text") or rec.get("content") or ""
                if text:
                    texts.append(text)
    return texts


def write_input(folder: Path, texts: list[str]) -> Path:
    path = folder / "input.jsonl"
    target = MIB << 20
    written = 0
    with open(path, "w", encoding="utf-8") as fh:
        while written < target:
            for t in texts:
                line = json.dumps({"text": t}, ensure_ascii=False) + "\n"
                fh.write(line)
                written += len(line.encode())
                if written >= target:
                    break
    return path


def digest(prefix: Path) -> str:
    return hashlib.sha256(Path(f"{prefix}.bin").read_bytes() + Path(f"{prefix}.idx").read_bytes()).hexdigest()


def run_ours(inp: Path, tok: Path, out: Path, warm_ray: bool = False) -> tuple[float, dict]:
    """Wall time of a fresh process doing the whole job; with ``warm_ray``, Ray is started before the clock
    (as in ``make corpus``, where every stage shares one Ray) and the time is measured inside the process."""
    code = ("import json,time,ray; from dataclasses import asdict; "
            + (f"ray.init(num_cpus={WORKERS}, include_dashboard=False, log_to_driver=False); " if warm_ray else "")
            + "t0=time.perf_counter(); from training.indexed import tokenize_to_megatron; "
            f"s=tokenize_to_megatron([{str(inp)!r}], {str(tok)!r}, {str(out)!r}, 'bench', workers={WORKERS}); "
            "d=asdict(s); d['inner_seconds']=time.perf_counter()-t0; print(json.dumps(d))")
    # a loaded shared machine can take longer than Ray's default to register a local node
    env = {"RAY_raylet_start_wait_time_s": "120", **os.environ, "PYTHONPATH": str(REPO), "RAY_AUTH_MODE": "disabled"}
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env)
    seconds = time.perf_counter() - t0
    if res.returncode:
        raise RuntimeError(f"ours failed:\n{res.stderr[-3000:]}")
    stats = json.loads(res.stdout.strip().splitlines()[-1])
    return (stats["inner_seconds"] if warm_ray else seconds), stats


def run_megatron(inp: Path, tok: Path, out: Path) -> float:
    args = [MEGATRON_PYTHON, str(MEGATRON_LM_DIR / "tools" / "preprocess_data.py"), "--input", str(inp),
            "--output-prefix", str(out / "bench"), "--tokenizer-type", "HuggingFaceTokenizer",
            "--tokenizer-model", str(tok), "--workers", str(WORKERS), "--append-eod", "--log-interval", "100000"]
    env = {**os.environ, "PYTHONPATH": str(MEGATRON_LM_DIR)}
    t0 = time.perf_counter()
    res = subprocess.run(args, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t0
    if res.returncode:
        raise RuntimeError(f"Megatron-LM preprocess_data.py failed:\n{res.stderr[-3000:]}")
    return seconds


def main() -> int:
    if not SHARED.is_dir():
        print(f"SKIP: real data not found at {SHARED}")
        return 0
    peer = (MEGATRON_LM_DIR / "tools" / "preprocess_data.py").exists() and Path(MEGATRON_PYTHON).exists()
    if not peer:
        print(f"PEER MISSING: Megatron-LM not found (MEGATRON_LM_DIR={MEGATRON_LM_DIR}, "
              f"MEGATRON_PYTHON={MEGATRON_PYTHON}); measuring this pipeline alone, no ratio")
    from training.tokenizer import train_bpe_tokenizer

    with tempfile.TemporaryDirectory(prefix="bench-tokenize-") as tmp:
        tmp = Path(tmp)
        texts = real_texts()
        tok = tmp / "tokenizer"
        train_bpe_tokenizer(texts, tok, VOCAB)
        inp = write_input(tmp, texts)
        size = inp.stat().st_size
        print(f"input: {size / 2**20:.1f} MiB jsonl, real math and web text from {SHARED}; tokenizer: byte-level "
              f"BPE, {VOCAB} tokens; workers: {WORKERS}; {REPEAT} alternating runs each, median; machine: "
              f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
        ours_s, warm_s, peer_s, stats = [], [], [], {}
        for r in range(REPEAT):
            out = tmp / f"ours-{r}"
            s, stats = run_ours(inp, tok, out)
            ours_s.append(s)
            w, _ = run_ours(inp, tok, tmp / f"warm-{r}", warm_ray=True)
            warm_s.append(w)
            line = f"run {r + 1}: ours {s:.1f} s (with Ray already up: {w:.1f} s)"
            if peer:
                pout = tmp / f"megatron-{r}"
                pout.mkdir()
                peer_s.append(run_megatron(inp, tok, pout))
                same = digest(out / "bench_text_document") == digest(pout / "bench_text_document")
                line += f", Megatron-LM {peer_s[-1]:.1f} s, outputs identical: {same}"
                if not same:
                    print(line + "\nERROR: the two .bin/.idx pairs differ")
                    return 1
            print(line, flush=True)
        tokens = stats["tokens"]
        ours, warm = statistics.median(ours_s), statistics.median(warm_s)
        print(f"tokens: {tokens:,} in {stats['docs']:,} documents ({stats['dtype']})")
        print(f"ours, fresh process incl. Ray start ({WORKERS} workers): {tokens / ours:10,.0f} tokens/s  ({ours:.1f} s)")
        print(f"ours, Ray already running ({WORKERS} workers):         {tokens / warm:10,.0f} tokens/s  ({warm:.1f} s)")
        if peer:
            theirs = statistics.median(peer_s)
            print(f"Megatron-LM preprocess_data.py ({WORKERS} workers):     {tokens / theirs:10,.0f} tokens/s  "
                  f"({theirs:.1f} s)")
            print(f"ratio ours / Megatron-LM: {theirs / ours:.2f}x fresh process, {theirs / warm:.2f}x with Ray up "
                  f"(goal >= 1x); load average now {os.getloadavg()[0]:.1f}: the machine is shared, timings are noisy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
