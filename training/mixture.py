"""The training mixture: which sources are present, their renormalised weights, the Megatron ``--data-path``
blend, and a ready Megatron-LM launch script with DeepSeekMath's hyper-parameters.

``<workdir>/megatron/`` after the stage::

    tokenizer/                          the Hugging Face tokenizer every dataset was made with (a copy of
                                        tokenize.tokenizer, checked against megatron.*; or the embedded BPE)
    <source>_text_document.{bin,idx}    one Megatron indexed dataset per present source
    <source>_stats.json                 documents, tokens, dropped, seconds per source
    drops/<source>.parquet              documents not written (DROP_LOG_SCHEMA), when any
    standins/{code,cc_text}.jsonl       synth stand-ins, for sources configured without paths
    mixture.json                        sources, configured and renormalised weights, prefixes, tokens
    data_path.txt                       the blend, as Megatron's --data-path takes it: "w1 prefix1 w2 prefix2 ...",
                                        prefixes relative to this folder
    pretrain_gpt.sh                     Megatron-LM launch script (three phases; DATA_ROOT = this folder by default)
    _SUCCESS                            written last
"""
from __future__ import annotations

import logging
import math
import shlex
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline.core.config import Config, MixtureConfig
from pipeline.core.io import (atomic_path, is_complete, is_vouched, mark_complete, read_marker, write_bytes_atomic,
                         write_json_atomic)

log = logging.getLogger(__name__)


@dataclass
class PresentSource:
    name: str
    configured_weight: float
    weight: float  # renormalised: the present sources' weights sum to 1
    paths: list[str]
    standin: bool


def present_sources(mix: MixtureConfig, workdir: str | Path, standin_dir: Path | None) -> list[PresentSource]:
    """Sources that have data (configured paths, or a stand-in), with weights renormalised over them; relative
    paths are under ``workdir`` (a local path or a URL)."""
    from pipeline.core import storage

    chosen = []
    for src in mix.sources:
        if src.paths:
            paths = [p if ("://" in p or Path(p).is_absolute()) else storage.join(workdir, p) for p in src.paths]
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


def global_batch(batch_tokens: int, seq_len: int, micro_batch: int, data_parallel: int) -> int:
    """Sequences per optimizer step: ``batch_tokens / seq_len`` rounded to the nearest multiple of
    ``micro_batch * data_parallel`` (at least one), so megatron-core's micro-batch calculator divides it.
    Integer arithmetic, the same expression the launch script evaluates in bash."""
    unit = micro_batch * data_parallel
    return unit * max(1, (batch_tokens + unit * seq_len // 2) // (unit * seq_len))


def train_iters(train_tokens: int, gbs: int, seq_len: int) -> int:
    """Iterations for ``train_tokens`` at ``gbs`` sequences of ``seq_len`` (nearest, at least 10)."""
    step = gbs * seq_len
    return max(10, (train_tokens + step // 2) // step)


def vocab_multiple(tokens: int, vocab_size: int) -> int | None:
    """The ``--make-vocab-size-divisible-by`` (times TP) that makes Megatron pad a ``tokens``-token tokenizer to
    exactly ``vocab_size`` rows, so the converted checkpoint's embedding loads: the largest power of two dividing
    ``vocab_size`` when it is above the padding; None when no power of two does it."""
    largest = vocab_size & -vocab_size
    return largest if largest > vocab_size - tokens else None


_ARITHMETIC = """\
DP=$(( WORLD / (TP * PP) ))
UNIT=$(( MICRO_BATCH * DP ))
ACCUM=$(( (BATCH_TOKENS + UNIT * SEQ_LEN / 2) / (UNIT * SEQ_LEN) )); (( ACCUM >= 1 )) || ACCUM=1
GBS=$(( ACCUM * UNIT ))
STEP_TOKENS=$(( GBS * SEQ_LEN ))
ITERS=$(( (TRAIN_TOKENS + STEP_TOKENS / 2) / STEP_TOKENS )); (( ITERS >= 10 )) || ITERS=10
P1=$(( (8 * ITERS + 5) / 10 )); P2=$(( (9 * ITERS + 5) / 10 ))
"""


def launch_script(blend: list[tuple[float, str]], mcfg, tokenizer_tokens: int, *, embedded_tokenizer: bool,
                  gpus_per_node: int = 8) -> str:
    """A bash script for Megatron-LM ``pretrain_gpt.py`` with DeepSeekMath's continued pre-training settings.

    ``blend`` is (weight, dataset name) with names relative to the folder the script takes as ``DATA_ROOT``.
    The global batch is computed at launch from ``mcfg.batch_tokens``, ``mcfg.seq_len``, ``MICRO_BATCH`` and
    the data-parallel size ``GPUS_PER_NODE * NNODES / (TP * PP)`` (:func:`global_batch`), and printed with
    its arithmetic. A tokenizer that is not the model's (the embedded BPE of the default run) makes the
    script stop before torchrun with the reason.

    Megatron's schedulers (constant, linear, cosine, inverse-square-root, WSD) have no multi-step decay, so the
    script runs three phases on one checkpoint folder: phase 1 warms up over ``warmup_iters`` iterations to
    ``lr`` and holds it (``--lr-decay-style constant``) until 80% of the iterations; phase 2 reloads the
    checkpoint and holds ``0.316 * lr`` until 90%; phase 3 holds ``0.1 * lr`` to the end. Phases 2 and 3 pass
    ``--override-opt_param-scheduler`` so the new ``--lr`` replaces the one stored in the checkpoint; the
    optimiser state, iteration count and consumed samples (the data position) are reloaded, so the data stream
    continues. This equals the paper's step schedule exactly at iteration granularity.
    """
    m = mcfg
    lr = m.lr
    seq_len = m.seq_len
    train_tokens = int(m.train_tokens)
    gbs = global_batch(m.batch_tokens, seq_len, 1, gpus_per_node)
    iters = train_iters(train_tokens, gbs, seq_len)
    p1, p2 = (8 * iters + 5) // 10, (9 * iters + 5) // 10
    q = shlex.quote
    model = " \\\n  ".join(f"--{k} {q(str(v))}" for k, v in m.model_args.items())
    data = " ".join(f'{w:.6g} "$DATA_ROOT"/{q(name)}' for w, name in blend)
    mismatch = m.tokenizer_mismatch(tokenizer_tokens)
    guard = ""
    if mismatch:
        why = ("error: " + (f"these datasets were tokenised with the embedded {tokenizer_tokens:,}-token BPE of the "
                            "tiny default run; " if embedded_tokenizer else "") + mismatch)
        fix = (f"set tokenize.tokenizer to {m.model_name}'s tokenizer folder (or megatron.* to the model this "
               "tokenizer belongs to) and rerun: python -m pipeline tokenize --force")
        guard = f"echo {q(why)} >&2\necho {q(fix)} >&2\nexit 2\n"
    multiple = vocab_multiple(tokenizer_tokens, m.vocab_size)
    if multiple is None:
        vocab_flag = ""
        vocab_note = (f"# No --make-vocab-size-divisible-by pads {tokenizer_tokens:,} tokens to exactly "
                      f"{m.vocab_size:,} rows: convert the checkpoint with Megatron's padding (multiple of 128 x TP).")
    else:
        vocab_flag = '--make-vocab-size-divisible-by "$(( VOCAB_MULTIPLE / TP ))"'
        vocab_note = (f"# --make-vocab-size-divisible-by VOCAB_MULTIPLE/TP: Megatron pads the tokenizer's "
                      f"{tokenizer_tokens:,} tokens to {m.vocab_size:,} rows, the checkpoint's embedding.")
    return f"""#!/usr/bin/env bash
# Continued pre-training of {m.model_name} with Megatron-LM on this folder's blend (written by mathcorpus).
# DeepSeekMath (arXiv 2402.03300, section 2.3): AdamW (0.9, 0.95), weight decay 0.1, {train_tokens / 1e9:g}B tokens,
# batch ~{m.batch_tokens / 1e6:g}M tokens, peak LR {lr}, warmup {m.warmup_iters}, LR x0.316 after 80% and x0.1 after 90%.
#
# Global batch (computed at launch, printed): sequences = round(BATCH_TOKENS / (SEQ_LEN * MICRO_BATCH * DP))
# * MICRO_BATCH * DP, with DP = GPUS_PER_NODE * NNODES / (TP * PP), so that megatron-core's micro-batch
# calculator divides it. With the defaults (8 GPUs, 1 node, TP = PP = MICRO_BATCH = 1: DP 8):
#   round({m.batch_tokens} / ({seq_len} * 1 * 8)) * 8 = {gbs // gpus_per_node} * 8 = {gbs} sequences = {gbs * seq_len:,} tokens a step,
#   {train_tokens:,} tokens / {gbs * seq_len:,} = {iters} iterations.
#
# Megatron-LM has no multi-step LR decay. This script runs three phases on one checkpoint folder
# (iterations at the defaults above):
#   phase 1: iterations 0..{p1}: linear warmup over {m.warmup_iters} iterations, then constant LR {lr}
#   phase 2: iterations {p1}..{p2}: reload, --override-opt_param-scheduler, constant LR {lr * 0.316:.4g}
#   phase 3: iterations {p2}..{iters}: reload, --override-opt_param-scheduler, constant LR {lr * 0.1:.4g}
# Optimiser state, iteration and consumed samples come back from the checkpoint, so the data stream continues.
#
# Environment:
#   MEGATRON_LM_DIR   a Megatron-LM checkout (pretrain_gpt.py)                          [required]
#   INIT_CHECKPOINT   {m.model_name} as a Megatron checkpoint (convert the HF one with
#                     Megatron-LM's tools/checkpoint/convert.py)                          [required]
#   DATA_ROOT         the folder holding the *_text_document.bin/.idx and tokenizer/    [this script's folder]
#   SAVE_DIR          where this run's checkpoints go                                     [./checkpoints]
#   GPUS_PER_NODE, NNODES, NODE_RANK, MASTER_ADDR, MASTER_PORT   torchrun's rendezvous [{gpus_per_node}, 1, 0, localhost, 6000]
#   TP, PP, MICRO_BATCH   tensor/pipeline parallel sizes and per-GPU micro batch        [1, 1, 1]
#   BATCH_TOKENS, TRAIN_TOKENS   tokens per step and in all                       [{m.batch_tokens}, {train_tokens}]
#   PHASES            which phases to run, e.g. "2 3" to resume after phase 1          ["1 2 3"]
#   DRY_RUN=1         print the arithmetic and each phase's command instead of running it
{vocab_note}
set -euo pipefail
HERE="$(cd "$(dirname "${{BASH_SOURCE[0]}}")" && pwd)"
{guard}DATA_ROOT="${{DATA_ROOT:-$HERE}}"
DRY_RUN="${{DRY_RUN:-0}}"
if [[ "$DRY_RUN" != 1 ]]; then
  : "${{MEGATRON_LM_DIR:?set MEGATRON_LM_DIR to a Megatron-LM checkout}}"
  : "${{INIT_CHECKPOINT:?set INIT_CHECKPOINT to {m.model_name} as a Megatron checkpoint}}"
fi
MEGATRON_LM_DIR="${{MEGATRON_LM_DIR:-MEGATRON_LM_DIR}}"; INIT_CHECKPOINT="${{INIT_CHECKPOINT:-INIT_CHECKPOINT}}"
SAVE_DIR="${{SAVE_DIR:-./checkpoints}}"
GPUS_PER_NODE="${{GPUS_PER_NODE:-{gpus_per_node}}}"; NNODES="${{NNODES:-1}}"; NODE_RANK="${{NODE_RANK:-0}}"
MASTER_ADDR="${{MASTER_ADDR:-localhost}}"; MASTER_PORT="${{MASTER_PORT:-6000}}"
TP="${{TP:-1}}"; PP="${{PP:-1}}"; MICRO_BATCH="${{MICRO_BATCH:-1}}"; PHASES="${{PHASES:-1 2 3}}"
BATCH_TOKENS="${{BATCH_TOKENS:-{m.batch_tokens}}}"; TRAIN_TOKENS="${{TRAIN_TOKENS:-{train_tokens}}}"
SEQ_LEN={seq_len}; VOCAB_MULTIPLE={multiple or 128}
TOKENIZER="$DATA_ROOT/tokenizer"
DATA_PATH=({data})

WORLD=$(( GPUS_PER_NODE * NNODES ))
if (( WORLD % (TP * PP) )); then
  echo "error: GPUS_PER_NODE * NNODES = $WORLD GPUs is not divisible by TP * PP = $(( TP * PP ))" >&2; exit 2
fi
if (( VOCAB_MULTIPLE % TP )); then
  echo "error: TP=$TP does not divide the vocabulary padding multiple $VOCAB_MULTIPLE" >&2; exit 2
fi
{_ARITHMETIC.strip()}
echo "data parallel: DP = GPUS_PER_NODE * NNODES / (TP * PP) = $GPUS_PER_NODE * $NNODES / ($TP * $PP) = $DP"
echo "global batch: round(BATCH_TOKENS / (SEQ_LEN * MICRO_BATCH * DP)) * MICRO_BATCH * DP = round($BATCH_TOKENS / ($SEQ_LEN * $MICRO_BATCH * $DP)) * $UNIT = $ACCUM * $UNIT = $GBS sequences ($STEP_TOKENS tokens a step; $ACCUM micro-batches per rank)"
echo "train iterations: round(TRAIN_TOKENS / (GBS * SEQ_LEN)) = round($TRAIN_TOKENS / $STEP_TOKENS) = $ITERS; LR steps down at $P1 (80%) and $P2 (90%)"
for (( i = 1; i < ${{#DATA_PATH[@]}}; i += 2 )); do
  [[ -f "${{DATA_PATH[i]}}.bin" && -f "${{DATA_PATH[i]}}.idx" ]] || {{
    echo "error: ${{DATA_PATH[i]}}.bin/.idx not found: set DATA_ROOT to the folder holding the datasets" >&2; exit 2; }}
done
[[ -f "$TOKENIZER/tokenizer.json" || -f "$TOKENIZER/tokenizer_config.json" ]] || {{
  echo "error: no tokenizer in $TOKENIZER: set DATA_ROOT to the folder holding tokenizer/" >&2; exit 2; }}

common=(
  {model} \\
  --seq-length "$SEQ_LEN" --max-position-embeddings "$SEQ_LEN" \\
  --swiglu --normalization RMSNorm --position-embedding-type rope \\
  --untie-embeddings-and-output-weights --disable-bias-linear \\
  --attention-dropout 0 --hidden-dropout 0 \\
  --tensor-model-parallel-size "$TP" --pipeline-model-parallel-size "$PP" \\
  --micro-batch-size "$MICRO_BATCH" --global-batch-size "$GBS" \\
  --train-iters "$ITERS" \\
  --optimizer adam --adam-beta1 0.9 --adam-beta2 0.95 --adam-eps 1e-8 \\
  --weight-decay 0.1 --clip-grad 1.0 --lr-decay-style constant \\
  --bf16 \\
  --data-path "${{DATA_PATH[@]}}" --split 998,1,1 \\
  --tokenizer-type HuggingFaceTokenizer --tokenizer-model "$TOKENIZER" {vocab_flag} \\
  --save "$SAVE_DIR" --save-interval 1000 \\
  --log-interval 10 --eval-interval 1000 --eval-iters 10
)

run() {{
  local cmd=(torchrun --nproc_per_node "$GPUS_PER_NODE" --nnodes "$NNODES" --node_rank "$NODE_RANK"
             --master_addr "$MASTER_ADDR" --master_port "$MASTER_PORT"
             "$MEGATRON_LM_DIR/pretrain_gpt.py" "${{common[@]}}" "$@")
  if [[ "$DRY_RUN" == 1 ]]; then printf '%q ' "${{cmd[@]}}"; echo; else "${{cmd[@]}}"; fi
}}

for phase in $PHASES; do
  case "$phase" in
    1) run --load "$INIT_CHECKPOINT" --finetune --no-load-optim --no-load-rng \\
           --lr {lr} --min-lr {lr} --lr-warmup-iters {m.warmup_iters} --exit-interval "$P1" ;;
    2) run --load "$SAVE_DIR" --override-opt_param-scheduler \\
           --lr {lr * 0.316:.6g} --min-lr {lr * 0.316:.6g} --lr-warmup-iters 0 --exit-interval "$P2" ;;
    3) run --load "$SAVE_DIR" --override-opt_param-scheduler \\
           --lr {lr * 0.1:.6g} --min-lr {lr * 0.1:.6g} --lr-warmup-iters 0 ;;
    *) echo "unknown phase $phase" >&2; exit 2 ;;
  esac
done
"""


def build_megatron(cfg: Config, folder: Path, corpus_paths: list[str] | None = None, *,
                   parts_root: str | None = None) -> dict:
    """Tokeniser, one indexed dataset per present source, the blend and the launch script under ``folder`` (a
    local folder; the run publishes it to a URL workdir). Sources are read from the workdir, local or URL."""
    from pipeline.synth.mixture import generate_mixture_standins
    from training.tokenizer import train_bpe_tokenizer

    workdir = cfg.workdir
    tk = cfg.tokenize
    tokenizer_dir = folder / "tokenizer"
    if tk.tokenizer:  # first: a tokenizer that is not the Megatron model's stops the stage before any work
        _adopt_tokenizer(Path(tk.tokenizer), tokenizer_dir, cfg.megatron)
    folder.mkdir(parents=True, exist_ok=True)
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

    if not tk.tokenizer and not is_vouched(tokenizer_dir):  # missing, or not exactly what was trained and checked
        first = next((s for s in sources if s.name == "math_corpus"), sources[0])
        log.info("training a byte-level BPE (%d tokens) on the first %d documents of %s", tk.vocab_size,
                 tk.train_docs, first.name)
        train_bpe_tokenizer(_first_texts(first.paths, tk.text_column, tk.train_docs), tokenizer_dir, tk.vocab_size)
    from training.tokenizer import load_tokenizer, vocab_size

    tokenizer_tokens = vocab_size(load_tokenizer(tokenizer_dir))

    from contextlib import nullcontext

    from pipeline.core.executor import Executor, entered

    # one Ray for all sources: the command's or the run's executor when there is one (its units' CPU time is
    # counted there); else one started and stopped here, so that `train` can start its own workers
    with nullcontext() if entered() is not None else Executor(num_cpus=tk.workers):
        per_source = [_tokenize_source(src, folder, tokenizer_dir, tk, parts_root) for src in sources]
    # data_path.txt and the script name datasets relative to this folder (the script's DATA_ROOT), so the
    # folder can be copied to the training cluster as it is; mixture.json keeps absolute prefixes for `train`.
    relative = [(s["weight"], Path(s["prefix"]).name) for s in per_source]
    blend = blend_string(relative)
    write_bytes_atomic(folder / "data_path.txt", (blend + "\n").encode())
    write_json_atomic(folder / "mixture.json", {"tokenizer": str(tokenizer_dir.resolve()), "sources": per_source,
                                                "data_path": blend, "tokenizer_tokens": tokenizer_tokens,
                                                "tokenizer_origin": tk.tokenizer or "embedded BPE"})
    script = folder / "pretrain_gpt.sh"
    with atomic_path(script) as tmp:
        tmp.write_text(launch_script(relative, cfg.megatron, tokenizer_tokens, embedded_tokenizer=not tk.tokenizer))
        tmp.chmod(0o755)
    stats = {"sources": {s["name"]: {k: s[k] for k in ("weight", "tokens", "docs", "dropped", "standin")}
                         for s in per_source}, "tokens": sum(s["tokens"] for s in per_source)}
    mark_complete(folder, stats)
    return stats


def _adopt_tokenizer(source: Path, tokenizer_dir: Path, mcfg) -> None:
    """Check that the configured tokenizer is the Megatron model's, then save a copy in ``tokenizer_dir`` (the
    folder the launch script reads under DATA_ROOT)."""
    from pipeline.core.config import ConfigError
    from pipeline.core.io import atomic_path
    from training.tokenizer import load_tokenizer, vocab_size

    try:
        tok = load_tokenizer(source)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"tokenize.tokenizer: {exc}") from None
    why = mcfg.tokenizer_mismatch(vocab_size(tok))
    if why:
        raise ConfigError(f"tokenize.tokenizer ({source}) does not match megatron.model_name / megatron.vocab_size: "
                          f"{why}. Name {mcfg.model_name}'s own tokenizer folder, or set megatron.model_name and "
                          "megatron.vocab_size to the model this tokenizer belongs to.")
    if not (tokenizer_dir / "tokenizer_config.json").exists():
        with atomic_path(tokenizer_dir) as tmp:
            tok.save_pretrained(str(tmp))


def _tokenize_source(src: PresentSource, folder: Path, tokenizer_dir: Path, tk, parts_root: str | None = None) -> dict:
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
                                         task_bytes=tk.task_mib << 20, add_special_tokens=tk.add_special_tokens,
                                         parts_root=parts_root))
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
