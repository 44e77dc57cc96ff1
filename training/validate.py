"""``make validate`` (``python -m pipeline validate``): does the corpus teach math? DeepSeekMath's §2.1.2 at our scale.

The same model (``train.model``, or the tiny default) is trained twice from the same initial weights, for the same
number of steps of ``train.batch_tokens`` tokens (so on equal tokens):

* ``blend``: the run's blend from ``<workdir>/megatron/`` (the math corpus with the other sources, as trained);
* ``<baseline>`` (``validation.baseline_source``, default ``cc_text``): that source of the same folder alone.

Each final checkpoint is scored by :func:`training.evaluate.evaluate_checkpoint` (few-shot GSM8K and MATH
accuracy, bits-per-byte on their reference solutions). Output, ``<workdir>/validate/``::

    <run>/train_log.jsonl, <run>/checkpoints/   each run (resumable, as `train`)
    <run>/eval/results.json, samples_*.jsonl     its evaluation
    results.json                                 both runs: tokens, final loss, the evaluation table
    loss_curves.png                              training loss against tokens, both runs
    _SUCCESS

The report (``pipeline report``) shows the table and the curves when this folder is complete.
"""
from __future__ import annotations

import html
import json
import logging
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

FOLDER = "validate"


def _runs(cfg, mix: dict) -> dict[str, dict]:
    by_name = {s["name"]: s for s in mix["sources"]}
    base = cfg.validation.baseline_source
    if base not in by_name:
        raise ValueError(f"validation.baseline_source: {base!r} is not a source of the run's blend "
                         f"({', '.join(by_name)})")
    blend = {"prefixes": [s["prefix"] for s in mix["sources"]], "weights": [s["weight"] for s in mix["sources"]],
             "sources": [s["name"] for s in mix["sources"]]}
    alone = {"prefixes": [by_name[base]["prefix"]], "weights": [1.0], "sources": [base]}
    return {"blend": blend, base: alone}


def run_validation(cfg, progress: bool = True) -> dict:
    """Train and evaluate both runs under ``<workdir>/validate`` (resuming what is there); returns results.json."""
    from pipeline.core.io import mark_complete, write_json_atomic
    from training.evaluate import evaluate_checkpoint
    from training.mixture import load_mixture
    from training.trainer import LOG_FILE, latest_checkpoint, run_training, train_loop_per_worker

    workdir = cfg.workdir_path
    mix = load_mixture(workdir / "megatron")
    out = workdir / FOLDER
    vcfg = cfg.validation
    train_cfg = cfg.train.model_copy(update={"steps": vcfg.steps,
                                             "warmup_steps": min(cfg.train.warmup_steps, vcfg.steps - 1),
                                             "save_every": vcfg.steps})
    ecfg = cfg.evaluate.model_copy(update={"limit": vcfg.limit, "max_new_tokens": vcfg.max_new_tokens,
                                           **({"gsm8k_shots": vcfg.shots, "math_shots": vcfg.shots}
                                              if vcfg.shots is not None else {})})
    results = {"steps": vcfg.steps, "tokens_per_run": vcfg.steps * train_cfg.batch_tokens,
               "model": train_cfg.model or "tiny default (train.tiny)", "tokenizer_tokens": mix.get("tokenizer_tokens"),
               "runs": {}}
    for name, data in _runs(cfg, mix).items():
        run_dir = out / name
        loop = {"train": train_cfg.model_dump(), "run_dir": str(run_dir.resolve()), "tokenizer": mix["tokenizer"],
                "stop_after": None, **data}
        last = latest_checkpoint(run_dir)
        if last is None or int(last.name.split("-")[1]) < vcfg.steps:
            log.info("validate: training %s on %s for %d steps (%d tokens)", name, "+".join(data["sources"]),
                     vcfg.steps, results["tokens_per_run"])
            if train_cfg.workers > 1:
                run_training(loop, train_cfg.workers, train_cfg.use_gpu)
            else:
                train_loop_per_worker(loop)
        ckpt = latest_checkpoint(run_dir)
        log_rows = [json.loads(line) for line in (run_dir / LOG_FILE).read_text().splitlines() if line]
        log.info("validate: evaluating %s (%s)", name, ckpt)
        ev = evaluate_checkpoint(ckpt, run_dir / "eval", ecfg, workdir, progress=progress)
        results["runs"][name] = {"sources": data["sources"], "weights": data["weights"], "checkpoint": str(ckpt),
                                 "tokens": log_rows[-1]["tokens"], "first_loss": log_rows[0]["loss"],
                                 "final_loss": log_rows[-1]["loss"], "benchmarks": ev["benchmarks"]}
    plot_loss_curves(out, list(results["runs"]), out / "loss_curves.png")
    write_json_atomic(out / "results.json", results)
    mark_complete(out, {"runs": list(results["runs"]), "tokens_per_run": results["tokens_per_run"]})
    return results


def plot_loss_curves(out: Path, runs: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from training.trainer import LOG_FILE

    fig, ax = plt.subplots(figsize=(7, 4))
    for name in runs:
        rows = [json.loads(line) for line in (out / name / LOG_FILE).read_text().splitlines() if line]
        ax.plot([r["tokens"] for r in rows], [r["loss"] for r in rows], label=name)
    ax.set_xlabel("training tokens")
    ax.set_ylabel("training loss (nats per token, own data)")
    ax.set_title("Equal-token runs: the run's blend vs one source alone")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def format_table(results: dict) -> str:
    lines = [f"{'run':<10} {'tokens':>9} {'loss':>7} {'gsm8k acc':>10} {'gsm8k bpb':>10} {'math acc':>9} "
             f"{'math bpb':>9}"]
    for name, r in results["runs"].items():
        b = r["benchmarks"]
        cells = []
        for bench in ("gsm8k", "math"):
            cells += [f"{b[bench]['accuracy']:.3f}", f"{b[bench]['bits_per_byte']:.4f}"] if bench in b else ["-", "-"]
        lines.append(f"{name:<10} {r['tokens']:>9,} {r['final_loss']:>7.3f} {cells[0]:>10} {cells[1]:>10} "
                     f"{cells[2]:>9} {cells[3]:>9}")
    return "\n".join(lines)


def report_section(folder: Path, out: Path) -> str:
    """HTML for the run report: the table and the loss curves (copied into ``out``), or "" when not run."""
    from pipeline.core.io import is_complete

    if not is_complete(folder) or not (folder / "results.json").exists():
        return ""
    results = json.loads((folder / "results.json").read_text())
    img = ""
    if (folder / "loss_curves.png").exists():
        shutil.copyfile(folder / "loss_curves.png", out / "validate_loss_curves.png")
        img = "<img src='validate_loss_curves.png' alt='validation loss curves'>"
    head = ("<tr><th>run</th><th>sources</th><th>tokens</th><th>final loss</th><th>GSM8K accuracy</th>"
            "<th>GSM8K bits/byte</th><th>MATH accuracy</th><th>MATH bits/byte</th></tr>")
    rows = []
    for name, r in results["runs"].items():
        cells = []
        for bench in ("gsm8k", "math"):
            b = r["benchmarks"].get(bench)
            cells += ([f"{b['accuracy']:.3f} ({b['items']} items, {b['shots']}-shot)", f"{b['bits_per_byte']:.4f}"]
                      if b else ["—", "—"])
        rows.append(f"<tr><td>{html.escape(name)}</td><td>{html.escape(' + '.join(r['sources']))}</td>"
                    f"<td class='n'>{r['tokens']:,}</td><td class='n'>{r['final_loss']:.3f}</td>"
                    + "".join(f"<td class='n'>{c}</td>" for c in cells) + "</tr>")
    return (f"<h2>Does the corpus teach math? (make validate)</h2><p>{html.escape(results['model'])}, trained "
            f"{results['steps']} steps on equal tokens ({results['tokens_per_run']:,}) on the run's blend and on one "
            "source alone, then scored few-shot. Bits per byte are on the benchmarks' reference solutions (lower "
            "is better); a tiny model's accuracy is near zero either way.</p><table>" + head + "".join(rows)
            + f"</table><figure>{img}<figcaption>Training loss against tokens (each on its own data).</figcaption>"
            "</figure>")
