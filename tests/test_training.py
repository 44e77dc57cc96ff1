"""Training inputs and the trainer: Megatron .bin/.idx round trip, the blend, the LR schedule, exact resume, DDP."""
from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.config import load_config
from training.data import BlendedSampler
from training.indexed import dataset_prefix, megatron_indexed, token_dtype, tokenize_to_megatron
from training.trainer import LOG_FILE, latest_checkpoint, loop_config, multistep_factor, run_training, \
    train_loop_per_worker

REPO = Path(__file__).resolve().parents[1]
PAPER = [56, 4, 10, 20, 10]
TINY_TRAIN = {
    "train.seq_len": 32, "train.micro_batch": 4, "train.batch_tokens": 256, "train.steps": 8,
    "train.warmup_steps": 2, "train.save_every": 4, "train.log_every": 1, "train.lr": 0.01,
    "train.tiny": {"hidden_size": 32, "layers": 2, "heads": 2, "kv_heads": 1, "intermediate_size": 64},
}


def _cfg(workdir: Path, **extra):
    return load_config(REPO / "configs" / "default.yaml", {
        "workdir": str(workdir), "tokenize.vocab_size": 512, "mixture.standin_docs": 120, **TINY_TRAIN, **extra})


@pytest.fixture(scope="session")
def megatron_run(math_corpus, ray_session):
    """The megatron stage on the small corpus plus code/web-text stand-ins: tokenizer, datasets, blend, script."""
    from training.mixture import build_megatron

    corpus, texts = math_corpus
    cfg = _cfg(corpus.parent)
    stats = build_megatron(cfg, corpus.parent / "megatron")
    return cfg, stats, texts


def _sha(prefix: Path) -> str:
    return hashlib.sha256(Path(f"{prefix}.bin").read_bytes() + Path(f"{prefix}.idx").read_bytes()).hexdigest()


def test_corpus_round_trips_through_megatron_core_reader(megatron_run):
    from training.tokenizer import load_tokenizer

    cfg, stats, texts = megatron_run
    folder = cfg.workdir_path / "megatron"
    tok = load_tokenizer(folder / "tokenizer")
    ds = megatron_indexed().IndexedDataset(str(dataset_prefix(folder, "math_corpus")))
    kept = [t for t in texts if t]
    assert len(ds) == len(kept) == stats["sources"]["math_corpus"]["docs"]
    assert ds.sequence_lengths.dtype == np.int32 and ds[0].dtype == np.uint16  # vocab 512 < 65,500
    for i, text in enumerate(kept):
        want = tok(text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        assert ds[i].tolist() == want, f"document {i}"
        assert tok.decode(ds[i][:-1].tolist()) == text
    assert list(ds.document_indices) == list(range(len(kept) + 1))
    # the blank page is not written, and the drop log says which page it was
    import pyarrow.parquet as pq

    drops = pq.read_table(folder / "drops" / "math_corpus.parquet").to_pylist()
    assert [(d["reason"], d["id"]) for d in drops] == [("empty_after_tokenization", f"{5:016x}")]


def test_tokenising_is_deterministic_across_workers_formats_and_splits(megatron_run, tmp_path):
    cfg, _, texts = megatron_run
    folder = cfg.workdir_path / "megatron"
    reference = _sha(dataset_prefix(folder, "math_corpus"))
    jsonl = tmp_path / "corpus.jsonl"
    jsonl.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    # one worker, the same corpus as jsonl cut into ~40 byte ranges: the same bytes
    st = tokenize_to_megatron([str(jsonl)], folder / "tokenizer", tmp_path / "one", "math_corpus", workers=1,
                              task_bytes=jsonl.stat().st_size // 40)
    assert st.units >= 40 and st.dropped == 1
    assert _sha(dataset_prefix(tmp_path / "one", "math_corpus")) == reference
    st2 = tokenize_to_megatron([str(cfg.workdir_path / "corpus")], folder / "tokenizer", tmp_path / "two",
                               "math_corpus", workers=2, task_bytes=1)  # one Ray task per row group
    assert st2.units > 3 and _sha(dataset_prefix(tmp_path / "two", "math_corpus")) == reference


def test_token_dtype_follows_megatron_rule():
    DType = megatron_indexed().DType
    for vocab in (512, 65_499, 65_500, 102_400):
        assert token_dtype(vocab) == DType.optimal_dtype(vocab)
    assert token_dtype(65_499) == np.uint16 and token_dtype(65_500) == np.int32


def test_mixture_renormalises_and_writes_blend_and_launch_script(megatron_run):
    cfg, stats, _ = megatron_run
    folder = cfg.workdir_path / "megatron"
    weights = {k: v["weight"] for k, v in stats["sources"].items()}
    assert set(weights) == {"math_corpus", "code", "cc_text"}  # AlgebraicStack and arXiv have no paths
    assert weights == pytest.approx({"math_corpus": 56 / 86, "code": 20 / 86, "cc_text": 10 / 86})
    parts = (folder / "data_path.txt").read_text().split()
    assert [float(w) for w in parts[0::2]] == pytest.approx([56 / 86, 20 / 86, 10 / 86], abs=1e-5)
    for prefix in parts[1::2]:
        assert megatron_indexed().IndexedDataset.exists(prefix)
    script = (folder / "pretrain_gpt.sh").read_text()
    assert subprocess.run(["bash", "-n", str(folder / "pretrain_gpt.sh")]).returncode == 0
    for needle in ("--adam-beta1 0.9", "--adam-beta2 0.95", "--weight-decay 0.1", "--lr-warmup-iters 2000",
                   "--lr 0.00042 ", "--lr 0.00013272 ", "--lr 4.2e-05", "--override-opt_param-scheduler",
                   "--exit-interval 40006", "--exit-interval 45007", "--train-iters 50008",
                   "--tokenizer-type HuggingFaceTokenizer", "--global-batch-size 2441"):
        assert needle in script, needle


def test_blend_weights_are_honoured_over_a_sample():
    sampler = BlendedSampler(PAPER, windows=[500, 7, 60, 200, 90], seed=3)
    picks = sampler.take(20_000)
    counts = np.zeros(5)
    w = np.array(PAPER) / 100
    for n, (source, window) in enumerate(picks, start=1):
        counts[source] += 1
        assert np.all(np.abs(counts - w * n) <= 1.0), (n, counts)  # at every prefix, within one sample
        assert 0 <= window < sampler.windows[source]
    # each pass over a source visits every window once, in a seeded order that differs between passes
    small = [k for s, k in picks if s == 1]
    assert sorted(small[:7]) == list(range(7)) and sorted(small[7:14]) == list(range(7)) and small[:7] != small[7:14]
    again = BlendedSampler(PAPER, windows=[500, 7, 60, 200, 90], seed=3)
    assert again.take(20_000) == picks


def test_blended_batches_come_from_the_sources_in_proportion(megatron_run):
    from training.data import BlendedData

    cfg, stats, _ = megatron_run
    mix = json.loads((cfg.workdir_path / "megatron" / "mixture.json").read_text())
    data = BlendedData([s["prefix"] for s in mix["sources"]], [s["weight"] for s in mix["sources"]], 32, seed=1)
    rows = np.concatenate(data.global_batch(860, rank=0, world=1, micro_batch=4))
    assert rows.shape == (860, 33)
    assert data.sampler.counts.tolist() == [560, 200, 100]
    code = data.sources[1]
    k = data.sampler._permutation(1, 0)[0]  # the first code window drawn
    assert any((rows == code.window(k)).all(axis=1))


def test_lr_schedule_at_the_named_steps():
    steps, warmup, peak = 1000, 100, 4.2e-4
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([param], lr=peak)
    from training.trainer import make_scheduler

    sched = make_scheduler(opt, steps, warmup)
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(peak / warmup) and lrs[49] == pytest.approx(peak / 2)
    assert lrs[99] == pytest.approx(peak) and lrs[100] == pytest.approx(peak) and lrs[799] == pytest.approx(peak)
    assert lrs[800] == pytest.approx(0.316 * peak) and lrs[899] == pytest.approx(0.316 * peak)
    assert lrs[900] == pytest.approx(0.1 * peak) and lrs[999] == pytest.approx(0.1 * peak)
    assert multistep_factor(0, 10, 0) == 1.0  # no warmup: the peak from the first step


def _log(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / LOG_FILE).read_text().splitlines()]


def test_resumed_run_equals_unbroken_run(megatron_run, tmp_path):
    torch.set_num_threads(1)
    cfg, _, _ = megatron_run
    unbroken = loop_config(cfg)
    unbroken["run_dir"] = str(tmp_path / "unbroken")
    train_loop_per_worker(unbroken)
    broken = loop_config(cfg, stop_after=5)  # a checkpoint at step 4; step 5 is lost with the "crash"
    broken["run_dir"] = str(tmp_path / "broken")
    train_loop_per_worker(broken)
    import shutil

    shutil.rmtree(tmp_path / "broken" / "checkpoints" / "step-0000005")  # crashed before its checkpoint
    broken["stop_after"] = None
    train_loop_per_worker(broken)
    a, b = _log(tmp_path / "unbroken"), _log(tmp_path / "broken")
    assert [r["step"] for r in b] == list(range(1, 9))  # steps after the checkpoint are redone, not doubled
    assert [r["loss"] for r in a] == [r["loss"] for r in b]  # bitwise on CPU
    assert a[-1]["samples_by_source"] == b[-1]["samples_by_source"]
    assert a[-1]["loss"] < a[0]["loss"]
    from safetensors.torch import load_file

    wa = load_file(latest_checkpoint(tmp_path / "unbroken") / "model.safetensors")
    wb = load_file(latest_checkpoint(tmp_path / "broken") / "model.safetensors")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_two_ray_train_workers_match_one_process(megatron_run, tmp_path):
    """DDP on 2 gloo workers with the same global batch follows the single-process run (float tolerance)."""
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(1)
    cfg, _, _ = megatron_run
    single = loop_config(cfg, stop_after=3)
    single["run_dir"] = str(tmp_path / "single")
    train_loop_per_worker(single)
    ddp = loop_config(cfg.model_copy(update={"train": cfg.train.model_copy(update={"workers": 2})}), stop_after=3)
    ddp["run_dir"] = str(tmp_path / "ddp")
    metrics = run_training(ddp, workers=2)
    assert metrics["step"] == 3
    one, two = _log(tmp_path / "single"), _log(tmp_path / "ddp")
    assert [r["step"] for r in two] == [1, 2, 3]
    assert [r["samples_by_source"] for r in one] == [r["samples_by_source"] for r in two]
    np.testing.assert_allclose([r["loss"] for r in two], [r["loss"] for r in one], rtol=1e-4)
    ckpt = latest_checkpoint(tmp_path / "ddp")
    model = AutoModelForCausalLM.from_pretrained(str(ckpt))  # a plain Hugging Face checkpoint
    assert model.config.model_type == "llama" and (ckpt / "tokenizer.json").exists()


def test_megatron_stage_skips_without_a_corpus(tmp_path):
    from pipeline.io import is_complete
    from pipeline.run import _stage_megatron

    cfg = _cfg(tmp_path)
    stats = _stage_megatron(cfg, tmp_path / "megatron")
    assert "skipped" in stats and not is_complete(tmp_path / "megatron")
