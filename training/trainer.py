"""Continued pre-training with torch + transformers over the blended Megatron datasets, on Ray Train.

One function, :func:`train_loop_per_worker`, is the whole training loop. Ray Train's ``TorchTrainer`` runs it
on every worker (it sets up the process group: gloo on CPU, nccl on GPU, and the loop wraps the model in DDP);
called directly, outside Ray, it is the same loop on one process (tests use that).

* Model: a local Hugging Face causal-LM checkpoint, or the embedded default, a tiny Llama-style decoder built
  from a ``LlamaConfig`` in code (nothing downloaded).
* AdamW (beta1 0.9, beta2 0.95), weight decay 0.1 on matrices only (not on norms or biases), gradient clipping
  1.0, DeepSeekMath's multi-step schedule as a ``LambdaLR``: linear warmup, then the peak, x0.316 from 80% of
  the steps and x0.1 from 90%.
* Batch size in tokens: ``batch_tokens = seq_len * micro_batch * workers * grad_accum``.
* bf16 autocast where the device supports it (CUDA with bf16); fp32 on CPU (``precision: auto``).
* Checkpoints: ``<run>/checkpoints/step-NNNNNNN/`` is a Hugging Face checkpoint (``config.json``,
  ``model.safetensors``, the tokenizer) plus ``trainer_state.pt`` (optimiser, scheduler, step, the blend's
  sample counts) and ``rng-rank<r>.pt`` (every rank's torch, numpy and Python RNG). It is written to a temporary
  folder and renamed, so a crash never leaves half a checkpoint; a rerun resumes from the newest one and draws
  exactly the samples the unbroken run would have.
* Logs: ``<run>/train_log.jsonl`` (step, loss, lr, grad norm, tokens, tokens/s), and progress lines.
"""
from __future__ import annotations

import json
import logging
import os
import random
import shutil
import time
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
LOG_FILE = "train_log.jsonl"


def multistep_factor(step: int, total: int, warmup: int) -> float:
    """DeepSeekMath's LR multiplier at optimizer step ``step`` (0-based): linear warmup over ``warmup`` steps,
    1.0 until 80% of ``total``, 0.316 until 90%, then 0.1."""
    if step < warmup:
        return (step + 1) / warmup
    if step < round(0.8 * total):
        return 1.0
    if step < round(0.9 * total):
        return 0.316
    return 0.1


def make_scheduler(optimizer: torch.optim.Optimizer, total: int, warmup: int):
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: multistep_factor(s, total, warmup))


def tiny_llama(vocab_size: int, tiny: dict, seq_len: int, eos_token_id: int, pad_token_id: int | None):
    """The embedded default: a Llama-style decoder small enough to train on two CPU cores."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=vocab_size, hidden_size=tiny["hidden_size"], num_hidden_layers=tiny["layers"],
        num_attention_heads=tiny["heads"], num_key_value_heads=tiny["kv_heads"],
        intermediate_size=tiny["intermediate_size"], max_position_embeddings=max(seq_len, 256),
        tie_word_embeddings=True, bos_token_id=eos_token_id, eos_token_id=eos_token_id, pad_token_id=pad_token_id,
        attention_dropout=0.0, rms_norm_eps=1e-6,
    )
    return LlamaForCausalLM(config)


def _optimizer(model: torch.nn.Module, cfg: dict) -> torch.optim.Optimizer:
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg["lr"], betas=(cfg["beta1"], cfg["beta2"]), eps=1e-8,
    )


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def latest_checkpoint(run_dir: Path) -> Path | None:
    found = sorted((run_dir / CHECKPOINTS).glob("step-*"))
    return found[-1] if found else None


def _dist() -> tuple[int, int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size(), int(os.environ.get("LOCAL_RANK", 0))
    return 0, 1, 0


def _barrier(world: int) -> None:
    if world > 1:
        torch.distributed.barrier()


def use_bf16(precision: str, device: torch.device) -> bool:
    if precision == "bf16":
        return True
    return precision == "auto" and device.type == "cuda" and torch.cuda.is_bf16_supported()


def train_loop_per_worker(config: dict) -> dict:
    """The training loop. ``config``: ``train`` (TrainConfig as a dict), ``run_dir``, ``prefixes``, ``weights``,
    ``tokenizer``, optional ``stop_after`` (end after this many steps of this invocation, as a crash would) and
    ``ray`` (report metrics to Ray Train)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training.data import BlendedData

    cfg = config["train"]
    run_dir = Path(config["run_dir"])
    run_dir.mkdir(parents=True, exist_ok=True)
    if os.environ.get("OMP_NUM_THREADS"):  # Ray Train sets it to the worker's CPUs; torch may ignore it
        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    rank, world, local_rank = _dist()
    if config.get("ray") and cfg["use_gpu"]:
        import ray.train.torch

        device = ray.train.torch.get_device()  # the GPU Ray Train gave this worker
    else:
        device = torch.device(f"cuda:{local_rank}" if cfg["use_gpu"] and torch.cuda.is_available() else "cpu")
    bf16 = use_bf16(cfg["precision"], device)
    seq_len, mb = cfg["seq_len"], cfg["micro_batch"]
    accum = cfg["batch_tokens"] // (seq_len * mb * world)
    if accum < 1 or accum * seq_len * mb * world != cfg["batch_tokens"]:
        raise ValueError(f"batch_tokens {cfg['batch_tokens']} is not a multiple of seq_len*micro_batch*workers")
    samples_per_step = accum * mb * world

    tok = AutoTokenizer.from_pretrained(config["tokenizer"], local_files_only=True)
    data = BlendedData(config["prefixes"], config["weights"], seq_len, cfg["seed"])
    resume = latest_checkpoint(run_dir)
    torch.manual_seed(cfg["seed"])  # same initial weights on every rank
    if resume is not None:
        model = AutoModelForCausalLM.from_pretrained(str(resume), dtype=torch.float32, local_files_only=True)
    elif cfg["model"]:
        model = AutoModelForCausalLM.from_pretrained(cfg["model"], dtype=torch.float32, local_files_only=True)
    else:
        model = tiny_llama(len(tok), cfg["tiny"], seq_len, tok.eos_token_id, tok.pad_token_id)
    if model.get_input_embeddings().num_embeddings < len(tok):
        raise ValueError(f"model vocabulary ({model.get_input_embeddings().num_embeddings}) is smaller than the "
                         f"tokenizer's ({len(tok)})")
    model.to(device)
    optimizer = _optimizer(model, cfg)
    scheduler = make_scheduler(optimizer, cfg["steps"], cfg["warmup_steps"])
    step = 0
    if resume is not None:
        state = torch.load(resume / "trainer_state.pt", weights_only=False, map_location=device)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        data.sampler.load_state_dict(state["sampler"])
        step = state["step"]
        _set_rng_state(torch.load(resume / f"rng-rank{rank}.pt", weights_only=False))
        if rank == 0:
            log.info("resumed from %s at step %d", resume, step)
    else:
        random.seed(cfg["seed"] + rank)
        np.random.seed(cfg["seed"] + rank)
    if rank == 0:
        _truncate_log(run_dir / LOG_FILE, step)  # steps after the checkpoint are redone, not logged twice
    ddp = model
    if world > 1:
        ddp = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if rank == 0:
        n_params = sum(p.numel() for p in model.parameters())
        log.info("model: %s, %.2fM parameters; %d workers x %d micro-batch x %d accumulation x %d tokens = %d tokens"
                 " a step; %s; %s", type(model).__name__, n_params / 1e6, world, mb, accum, seq_len,
                 cfg["batch_tokens"], "bf16 autocast" if bf16 else "fp32", device)

    stop = cfg["steps"] if config.get("stop_after") is None else min(cfg["steps"], step + config["stop_after"])
    ddp.train()
    last = {}
    t_window, tok_window = time.perf_counter(), 0
    while step < stop:
        t0 = time.perf_counter()
        micro = data.global_batch(samples_per_step, rank, world, mb)
        loss_sum = torch.zeros((), device=device)
        for a, rows in enumerate(micro):
            batch = torch.from_numpy(rows).to(device)
            inputs, labels = batch[:, :-1], batch[:, 1:]
            sync = a == len(micro) - 1 or world == 1
            ctx = ddp.no_sync() if not sync else _null()
            with ctx, torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16):
                logits = ddp(input_ids=inputs).logits
                loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.size(-1)),
                                                         labels.reshape(-1))
                (loss / accum).backward()
            loss_sum += loss.detach()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["grad_clip"])
        lr = optimizer.param_groups[0]["lr"]
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        loss_avg = loss_sum / accum
        if world > 1:
            torch.distributed.all_reduce(loss_avg, op=torch.distributed.ReduceOp.AVG)
        step_tokens = samples_per_step * seq_len
        tok_window += step_tokens
        last = {"step": step, "loss": float(loss_avg), "lr": lr, "grad_norm": float(grad_norm),
                "tokens": step * step_tokens, "step_seconds": round(time.perf_counter() - t0, 4),
                "samples_by_source": data.sampler.counts.tolist()}
        if step % cfg["log_every"] == 0 or step == stop:
            now = time.perf_counter()
            last["tokens_per_s"] = round(tok_window / max(now - t_window, 1e-9), 1)
            t_window, tok_window = now, 0
            if rank == 0:
                log.info("step %d/%d loss %.4f lr %.3g grad-norm %.3f %.0f tokens/s", step, cfg["steps"],
                         last["loss"], lr, last["grad_norm"], last["tokens_per_s"])
            if config.get("ray"):
                import ray.train

                ray.train.report({k: v for k, v in last.items() if k != "samples_by_source"})
        if rank == 0:
            with open(run_dir / LOG_FILE, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(last) + "\n")
        if step % cfg["save_every"] == 0 or step == stop:
            save_checkpoint(run_dir, step, model, tok, optimizer, scheduler, data, rank, world, cfg)
    if device.type == "cuda" and rank == 0:
        last["peak_memory_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    return last


def _truncate_log(path: Path, step: int) -> None:
    if not path.exists():
        return
    keep = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= step]
    from pipeline.core.io import write_bytes_atomic

    write_bytes_atomic(path, "".join(line + "\n" for line in keep).encode())


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def save_checkpoint(run_dir: Path, step: int, model, tok, optimizer, scheduler, data, rank: int, world: int,
                    cfg: dict) -> Path:
    root = run_dir / CHECKPOINTS
    final = root / f"step-{step:07d}"
    tmp = root / f".step-{step:07d}.tmp"
    if rank == 0:
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
    _barrier(world)
    torch.save(_rng_state(), tmp / f"rng-rank{rank}.pt")
    if rank == 0:
        model.save_pretrained(str(tmp), safe_serialization=True)
        tok.save_pretrained(str(tmp))
        torch.save({"step": step, "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "sampler": data.sampler.state_dict(), "train_config": cfg}, tmp / "trainer_state.pt")
    _barrier(world)
    if rank == 0:
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)  # atomic: a checkpoint folder is complete or absent
        for old in sorted(root.glob("step-*"))[:-cfg["keep_checkpoints"]]:
            shutil.rmtree(old)
        log.info("checkpoint %s", final)
    _barrier(world)
    return final


def run_training(config: dict, workers: int, use_gpu: bool = False) -> dict:
    """Run the loop on ``workers`` Ray Train workers (DDP); returns the last step's metrics."""
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    run_dir = Path(config["run_dir"])
    run_dir.mkdir(parents=True, exist_ok=True)
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={**config, "ray": True},
        scaling_config=ScalingConfig(num_workers=workers, use_gpu=use_gpu, resources_per_worker={"CPU": 1}),
        # Ray Train's own storage holds only its run metadata: our checkpoints are Hugging Face folders
        # written straight into the run directory, so `from_pretrained` reads them as they are.
        run_config=RunConfig(name="ray_train", storage_path=str((run_dir / "ray").resolve())),
    )
    result = trainer.fit()
    if result.error:
        raise result.error
    # Ray Train keeps metrics only beside checkpoints it manages; rank 0's log holds the last step's.
    lines = (run_dir / LOG_FILE).read_text().splitlines()
    return json.loads(lines[-1]) if lines else {}


def loop_config(cfg, stop_after: int | None = None) -> dict:
    """The loop's config from the run's validated :class:`pipeline.core.config.Config` and its ``megatron/`` folder."""
    from training.mixture import load_mixture

    mix = load_mixture(cfg.workdir_path / "megatron")
    return {
        "train": cfg.train.model_dump(), "run_dir": str((cfg.workdir_path / "train").resolve()),
        "prefixes": [s["prefix"] for s in mix["sources"]], "weights": [s["weight"] for s in mix["sources"]],
        "sources": [s["name"] for s in mix["sources"]], "tokenizer": mix["tokenizer"], "stop_after": stop_after,
    }


def train(cfg, stop_after: int | None = None) -> dict:
    """``python -m pipeline train``: continued pre-training on Ray Train with ``cfg.train.workers`` workers."""
    from pipeline.core.executor import Executor

    config = loop_config(cfg, stop_after)
    # Ray Train schedules its workers on the Ray the executor starts (or the cluster it joins); the workers'
    # logs come to the driver, as training progress is what a user watches.
    with Executor(num_cpus=max(cfg.train.workers, 1), log_to_driver=True) as executor:
        executor.start()
        return run_training(config, cfg.train.workers, cfg.train.use_gpu)
