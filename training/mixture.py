"""The training mixture: which sources are present, their renormalised weights, the Megatron ``--data-path``
blend, and a ready Megatron-LM launch script with DeepSeekMath's hyper-parameters.

``<workdir>/megatron/`` after the stage::

    tokenizer/                          the Hugging Face tokenizer every dataset was made with
    <source>_text_document.{bin,idx}    one Megatron indexed dataset per present source
    <source>_stats.json                 documents, tokens, dropped, seconds per source
    drops/<source>.parquet              documents not written (DROP_LOG_SCHEMA), when any
    standins/{code,cc_text}.jsonl       synth stand-ins, for sources configured without paths
    mixture.json                        sources, configured and renormalised weights, prefixes, tokens
    data_path.txt                       the blend, as Megatron's --data-path takes it: "w1 prefix1 w2 prefix2 ..."
    pretrain_gpt.sh                     Megatron-LM launch script (three phases, see below)
    _SUCCESS                            written last
"""
from __future__ import annotations

import logging
import math
import shlex
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline.config import Config, MixtureConfig
from pipeline.io import (atomic_path, is_complete, is_vouched, mark_complete, read_marker, write_bytes_atomic,
                         write_json_atomic)

log = logging.getLogger(__name__)


@dataclass
class PresentSource:
    name: str
    configured_weight: float
    weight: float  # renormalised: the present sources' weights sum to 1
    paths: list[str]
    standin: bool


def present_sources(mix: MixtureConfig, workdir: Path, standin_dir: Path | None) -> list[PresentSource]:
    """Sources that have data (configured paths, or a stand-in), with weights renormalised over them."""
    chosen = []
    for src in mix.sources:
        if src.paths:
            paths = [p if ("://" in p or Path(p).is_absolute()) else str(workdir / p) for p in src.paths]
            chosen.append((src, paths, False))
        elif src.name in mix.standins and standin_dir is not None:
            chosen.append((src, [str(standin_dir / f"{src.name}.jsonl")], True))
        else:
            log.info("mixture: source %s has no paths and no stand-in: absent", src.name)
    if not chosen:
        raise ValueError("mixture: no source has data")
    total = sum(s.weight for s, _, _ in chosen)
    out = [PresentSource(s.name, s.weight, s.weight / total, paths, standin) for s, paths, standin in chosen]
    configured = sum(s.weight for s in mix.sources)
    if not math.isclose(total, configured):
        log.info("mixture: renormalised weights over the %d present sources (%.0f of %.0f configured): %s",
                 len(out), total, configured, ", ".join(f"{s.name}={s.weight:.4f}" for s in out))
    return out


def blend_string(weighted_prefixes: list[tuple[float, str]]) -> str:
    """Megatron's ``--data-path`` blend: ``"w1 prefix1 w2 prefix2 ..."``."""
    return " ".join(f"{w:.6g} {p}" for w, p in weighted_prefixes)


# The model Megatron would continue training: DeepSeek-Coder-Base-v1.5 7B (Llama architecture), as DeepSeekMath did.
DEEPSEEK_CODER_7B = {
    "num-layers": 30, "hidden-size": 4096, "ffn-hidden-size": 11008, "num-attention-heads": 32,
    "seq-length": 4096, "max-position-embeddings": 4096, "rotary-base": 10000, "norm-epsilon": 1e-6,
}


def launch_script(data_path_file: Path, tokenizer_dir: Path, *, train_tokens: float = 500e9,
                  batch_tokens: float = 10e6, seq_len: int = 4096, lr: float = 4.2e-4, warmup: int = 2000) -> str:
    """A bash script for Megatron-LM ``pretrain_gpt.py`` with DeepSeekMath's continued pre-training settings.

    Megatron's schedulers (constant, linear, cosine, inverse-square-root, WSD) have no multi-step decay, so the
    script runs three phases on one checkpoint folder: phase 1 warms up over ``warmup`` iterations to ``lr`` and
    holds it (``--lr-decay-style constant``) until 80% of the iterations; phase 2 reloads the checkpoint and holds
    ``0.316 * lr`` until 90%; phase 3 holds ``0.1 * lr`` to the end. Phases 2 and 3 pass
    ``--override-opt_param-scheduler`` so the new ``--lr`` replaces the one stored in the checkpoint; the optimiser
    state, iteration count and consumed samples (the data position) are reloaded, so the data stream continues.
    This equals the paper's step schedule exactly at iteration granularity.
    """
    gbs = max(1, round(batch_tokens / seq_len))
    iters = max(10, round(train_tokens / (gbs * seq_len)))
    p1, p2 = round(0.8 * iters), round(0.9 * iters)
    model = " \\\n  ".join(f"--{k} {v}" for k, v in DEEPSEEK_CODER_7B.items() if k not in ("seq-length",
                                                                                          "max-position-embeddings"))
    q = shlex.quote
    return f"""#!/usr/bin/env bash
# Continued pre-training with Megatron-LM on the blend in {data_path_file.name} (written by mathcorpus).
# DeepSeekMath (arXiv 2402.03300, section 2.3): start from DeepSeek-Coder-Base-v1.5 7B, AdamW (0.9, 0.95),
# weight decay 0.1, {train_tokens / 1e9:.0f}B tokens, batch ~{batch_tokens / 1e6:.0f}M tokens, peak LR {lr}, warmup {warmup},
# LR x0.316 after 80% and x0.1 after 90% of training.
#
# Megatron-LM has no multi-step LR decay. This script runs three phases on one checkpoint folder:
#   phase 1: iterations 0..{p1}: linear warmup over {warmup} iterations, then constant LR {lr}
#   phase 2: iterations {p1}..{p2}: reload, --override-opt_param-scheduler, constant LR {lr * 0.316:.4g}
#   phase 3: iterations {p2}..{iters}: reload, --override-opt_param-scheduler, constant LR {lr * 0.1:.4g}
# Optimiser state, iteration and consumed samples come back from the checkpoint, so the data stream continues.
#
# Environment:
#   MEGATRON_LM_DIR   a Megatron-LM checkout (pretrain_gpt.py)                          [required]
#   INIT_CHECKPOINT   the starting model as a Megatron checkpoint (convert the HF one with
#                     Megatron-LM's tools/checkpoint/convert.py)                          [required]
#   SAVE_DIR          where this run's checkpoints go                                     [./checkpoints]
#   GPUS_PER_NODE, NNODES, NODE_RANK, MASTER_ADDR, MASTER_PORT   torchrun's rendezvous [8, 1, 0, localhost, 6000]
#   TP, PP, MICRO_BATCH   tensor/pipeline parallel sizes and per-GPU micro batch        [1, 1, 1]
#   PHASES            which phases to run, e.g. "2 3" to resume after phase 1          ["1 2 3"]
set -euo pipefail
HERE="$(cd "$(dirname "${{BASH_SOURCE[0]}}")" && pwd)"
: "${{MEGATRON_LM_DIR:?set MEGATRON_LM_DIR to a Megatron-LM checkout}}"
: "${{INIT_CHECKPOINT:?set INIT_CHECKPOINT to the starting Megatron checkpoint}}"
SAVE_DIR="${{SAVE_DIR:-./checkpoints}}"
GPUS_PER_NODE="${{GPUS_PER_NODE:-8}}"; NNODES="${{NNODES:-1}}"; NODE_RANK="${{NODE_RANK:-0}}"
MASTER_ADDR="${{MASTER_ADDR:-localhost}}"; MASTER_PORT="${{MASTER_PORT:-6000}}"
TP="${{TP:-1}}"; PP="${{PP:-1}}"; MICRO_BATCH="${{MICRO_BATCH:-1}}"; PHASES="${{PHASES:-1 2 3}}"
DATA_PATH="$(cat "$HERE/{data_path_file.name}")"
TOKENIZER={q(str(tokenizer_dir))}

common=(
  {model} \\
  --seq-length {seq_len} --max-position-embeddings {seq_len} \\
  --swiglu --normalization RMSNorm --position-embedding-type rope \\
  --untie-embeddings-and-output-weights --disable-bias-linear \\
  --attention-dropout 0 --hidden-dropout 0 \\
  --tensor-model-parallel-size "$TP" --pipeline-model-parallel-size "$PP" \\
  --micro-batch-size "$MICRO_BATCH" --global-batch-size {gbs} \\
  --train-iters {iters} \\
  --optimizer adam --adam-beta1 0.9 --adam-beta2 0.95 --adam-eps 1e-8 \\
  --weight-decay 0.1 --clip-grad 1.0 --lr-decay-style constant \\
  --bf16 \\
  --data-path $DATA_PATH --split 998,1,1 \\
  --tokenizer-type HuggingFaceTokenizer --tokenizer-model "$TOKENIZER" \\
  --save "$SAVE_DIR" --save-interval 1000 \\
  --log-interval 10 --eval-interval 1000 --eval-iters 10
)

run() {{
  torchrun --nproc_per_node "$GPUS_PER_NODE" --nnodes "$NNODES" --node_rank "$NODE_RANK" \\
    --master_addr "$MASTER_ADDR" --master_port "$MASTER_PORT" \\
    "$MEGATRON_LM_DIR/pretrain_gpt.py" "${{common[@]}}" "$@"
}}

for phase in $PHASES; do
  case "$phase" in
    1) run --load "$INIT_CHECKPOINT" --finetune --no-load-optim --no-load-rng \\
           --lr {lr} --min-lr {lr} --lr-warmup-iters {warmup} --exit-interval {p1} ;;
    2) run --load "$SAVE_DIR" --override-opt_param-scheduler \\
           --lr {lr * 0.316:.6g} --min-lr {lr * 0.316:.6g} --lr-warmup-iters 0 --exit-interval {p2} ;;
    3) run --load "$SAVE_DIR" --override-opt_param-scheduler \\
           --lr {lr * 0.1:.6g} --min-lr {lr * 0.1:.6g} --lr-warmup-iters 0 ;;
    *) echo "unknown phase $phase" >&2; exit 2 ;;
  esac
done
"""


def build_megatron(cfg: Config, folder: Path, corpus_paths: list[str] | None = None) -> dict:
    """Tokeniser, one indexed dataset per present source, the blend and the launch script under ``folder``."""
    import ray

    from pipeline.synth.mixture import generate_mixture_standins
    from training.tokenizer import train_bpe_tokenizer

    folder.mkdir(parents=True, exist_ok=True)
    workdir = cfg.workdir_path
    tk = cfg.tokenize
    mix = cfg.mixture.model_copy(deep=True)
    if corpus_paths is not None:  # an explicit corpus (the `tokenize` command) replaces math_corpus's paths
        for src in mix.sources:
            if src.name == "math_corpus":
                src.paths = corpus_paths
    needs_standin = [s.name for s in mix.sources if not s.paths and s.name in mix.standins]
    standin_dir = folder / "standins"
    if needs_standin:
        generate_mixture_standins(standin_dir, docs=mix.standin_docs, seed=cfg.synth.seed)
    sources = present_sources(mix, workdir, standin_dir if needs_standin else None)

    if tk.tokenizer:
        tokenizer_dir = Path(tk.tokenizer).resolve()
    else:
        tokenizer_dir = folder / "tokenizer"
        if not is_vouched(tokenizer_dir):  # missing, or not exactly what was trained and checked
            first = next((s for s in sources if s.name == "math_corpus"), sources[0])
            log.info("training a byte-level BPE (%d tokens) on the first %d documents of %s", tk.vocab_size,
                     tk.train_docs, first.name)
            train_bpe_tokenizer(_first_texts(first.paths, tk.text_column, tk.train_docs), tokenizer_dir,
                                tk.vocab_size)

    from pipeline.ray_env import ensure_ray

    # one Ray for all sources; shut down after if started here, so `train` can start its own workers
    started_ray = ensure_ray(num_cpus=tk.workers)
    try:
        per_source = [_tokenize_source(src, folder, tokenizer_dir, tk) for src in sources]
    finally:
        if started_ray:
            ray.shutdown()
    blend = blend_string([(s["weight"], s["prefix"]) for s in per_source])
    write_bytes_atomic(folder / "data_path.txt", (blend + "\n").encode())
    write_json_atomic(folder / "mixture.json", {"tokenizer": str(tokenizer_dir.resolve()), "sources": per_source,
                                                "data_path": blend})
    script = folder / "pretrain_gpt.sh"
    with atomic_path(script) as tmp:
        tmp.write_text(launch_script(folder / "data_path.txt", tokenizer_dir.resolve()))
        tmp.chmod(0o755)
    stats = {"sources": {s["name"]: {k: s[k] for k in ("weight", "tokens", "docs", "dropped", "standin")}
                         for s in per_source}, "tokens": sum(s["tokens"] for s in per_source)}
    mark_complete(folder, stats)
    return stats


def _tokenize_source(src: PresentSource, folder: Path, tokenizer_dir: Path, tk) -> dict:
    import json

    from training.indexed import dataset_prefix, tokenize_to_megatron

    prefix = dataset_prefix(folder, src.name)
    stats_file = folder / f"{src.name}_stats.json"
    if stats_file.exists() and Path(f"{prefix}.idx").exists():
        log.info("source %s: already tokenised, reused", src.name)
        st = json.loads(stats_file.read_text())
    else:
        st = asdict(tokenize_to_megatron(src.paths, tokenizer_dir, folder, src.name, workers=tk.workers,
                                         text_column=tk.text_column, batch_docs=tk.batch_docs,
                                         task_bytes=tk.task_mib << 20, add_special_tokens=tk.add_special_tokens))
    return {**asdict(src), "prefix": str(prefix.resolve()), "tokens": st["tokens"], "docs": st["docs"],
            "dropped": st["dropped"]}


def _first_texts(paths: list[str], text_column: str, limit: int):
    from training.indexed import expand_inputs, iter_unit, plan_units

    n = 0
    for unit in plan_units(expand_inputs(paths), 1 << 40):
        for texts, _, _ in iter_unit(unit, text_column, 1024):
            for t in texts:
                if n >= limit:
                    return
                if t:
                    n += 1
                    yield t


def load_mixture(folder: Path) -> dict:
    """``mixture.json`` of a completed megatron folder, or a clear error."""
    import json

    if not is_complete(folder):
        raise FileNotFoundError(f"no completed Megatron datasets in {folder}: run `python -m pipeline tokenize` "
                                "(or `make corpus`) first")
    read_marker(folder)
    return json.loads((folder / "mixture.json").read_text())
