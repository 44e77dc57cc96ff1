"""Training inputs and the trainer: Megatron .bin/.idx round trip, the blend, the LR schedule, exact resume, DDP."""
from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.core.config import load_config
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
    # megatron.*: the launch script's model is one whose vocabulary is this embedded 512-token BPE
    return load_config(REPO / "configs" / "default.yaml", {
        "workdir": str(workdir), "tokenize.vocab_size": 512, "mixture.standin_docs": 120,
        "megatron.model_name": "tiny-512", "megatron.vocab_size": 512, **TINY_TRAIN, **extra})


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
    assert parts[1::2] == ["math_corpus_text_document", "code_text_document", "cc_text_text_document"]
    for prefix in parts[1::2]:  # relative to the folder (the launch script's DATA_ROOT)
        assert megatron_indexed().IndexedDataset.exists(str(folder / prefix))
    script = (folder / "pretrain_gpt.sh").read_text()
    assert subprocess.run(["bash", "-n", str(folder / "pretrain_gpt.sh")]).returncode == 0
    assert str(folder.resolve()) not in script  # nothing absolute to the machine that tokenised
    # DeepSeekMath's schedule; the header shows the global batch arithmetic at the defaults (8 GPUs: DP 8)
    for needle in ("--adam-beta1 0.9", "--adam-beta2 0.95", "--weight-decay 0.1", "--lr-warmup-iters 2000",
                   "--lr 0.00042 ", "--lr 0.00013272 ", "--lr 4.2e-05", "--override-opt_param-scheduler",
                   "--tokenizer-type HuggingFaceTokenizer", "round(10000000 / (4096 * 1 * 8)) * 8 = 305 * 8 = 2440",
                   "= 50029 iterations", "iterations 0..40023", "iterations 40023..45026"):
        assert needle in script, needle


def _dry_run(script: Path, **env) -> dict:
    """``DRY_RUN=1 pretrain_gpt.sh``: the printed arithmetic and each phase's pretrain_gpt.py arguments."""
    import os
    import shlex

    res = subprocess.run(["bash", str(script)], capture_output=True, text=True,
                         env={**os.environ, "DRY_RUN": "1", **{k: str(v) for k, v in env.items()}})
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    phases = [shlex.split(line) for line in lines if line.startswith("torchrun ")]
    args = phases[0]

    def value(flag: str) -> str:
        return args[args.index(flag) + 1]

    i = args.index("--data-path") + 1
    blend = []
    while not args[i].startswith("--"):
        blend.append(args[i])
        i += 1
    return {"text": res.stdout, "phases": phases, "gbs": int(value("--global-batch-size")),
            "micro": int(value("--micro-batch-size")), "iters": int(value("--train-iters")),
            "seq_len": int(value("--seq-length")), "tokenizer": value("--tokenizer-model"),
            "prefixes": blend[1::2], "weights": [float(w) for w in blend[0::2]]}


@pytest.mark.parametrize("gpus,nodes,tp,pp,micro", [(8, 1, 1, 1, 1), (8, 2, 2, 1, 2), (4, 3, 1, 2, 3), (1, 1, 1, 1, 4)])
def test_launch_script_global_batch_passes_megatron_core_calculator(megatron_run, gpus, nodes, tp, pp, micro):
    """The launch script's numbers through megatron-core's own micro-batch calculator (which raised "global
    batch size (2441) is not divisible by micro batch size (1) times data parallel size (8)" before)."""
    from megatron.core.num_microbatches_calculator import ConstantNumMicroBatchesCalculator, \
        destroy_num_microbatches_calculator, get_num_microbatches, init_num_microbatches_calculator

    cfg, _, _ = megatron_run
    run = _dry_run(cfg.workdir_path / "megatron" / "pretrain_gpt.sh", GPUS_PER_NODE=gpus, NNODES=nodes, TP=tp,
                   PP=pp, MICRO_BATCH=micro)
    dp = gpus * nodes // (tp * pp)
    assert run["micro"] == micro and len(run["phases"]) == 3
    calc = ConstantNumMicroBatchesCalculator(run["gbs"], run["micro"], dp, False, 0)
    assert calc.get() * micro * dp == run["gbs"] == calc.get_current_global_batch_size()
    init_num_microbatches_calculator(0, None, run["gbs"], run["micro"], dp)
    try:
        assert get_num_microbatches() == run["gbs"] // (micro * dp)
    finally:
        destroy_num_microbatches_calculator()
    # the nearest divisible batch to megatron.batch_tokens, printed with its arithmetic
    unit = micro * dp
    assert abs(run["gbs"] * 4096 - 10_000_000) <= unit * 4096 / 2
    assert f"DP = GPUS_PER_NODE * NNODES / (TP * PP) = {gpus} * {nodes} / ({tp} * {pp}) = {dp}" in run["text"]
    assert f"= {run['gbs'] // unit} * {unit} = {run['gbs']} sequences" in run["text"]
    if (gpus, nodes, tp, pp, micro) == (8, 1, 1, 1, 1):  # the defaults the issue quotes
        assert run["gbs"] == 2440 and run["iters"] == 50029


def test_launch_script_data_builds_with_megatron_core_dataset_builder(megatron_run, tmp_path):
    """The folder copied elsewhere (DATA_ROOT): megatron-core's BlendedMegatronDatasetBuilder builds GPTDatasets
    over the script's --data-path blend, with megatron-core's tokenizer (Hugging Face library) over its tokenizer/."""
    import shutil

    from megatron.core.datasets.blended_megatron_dataset_builder import BlendedMegatronDatasetBuilder
    from megatron.core.datasets.gpt_dataset import GPTDataset, GPTDatasetConfig
    from megatron.core.tokenizers import MegatronTokenizer

    cfg, stats, _ = megatron_run
    root = tmp_path / "cluster" / "mathcorpus"
    shutil.copytree(cfg.workdir_path / "megatron", root, ignore=shutil.ignore_patterns("standins", "drops", "*_stats.json", "mixture.json"))
    run = _dry_run(root / "pretrain_gpt.sh", DATA_ROOT=root)
    assert run["prefixes"] == [str(root / f"{n}_text_document") for n in ("math_corpus", "code", "cc_text")]
    assert run["tokenizer"] == str(root / "tokenizer")
    tokenizer = MegatronTokenizer.from_pretrained(run["tokenizer"], metadata_path={"library": "huggingface",
                                                                                   "model_type": "gpt"})
    seq_len = 64  # the script's is 4,096: longer than these small test sources, so a shorter window here
    # split 1,0,0, not the script's 998,1,1: 0.1% of these few-hundred-document sources is no document, and
    # megatron-core counts epochs of an empty split forever (a real corpus has thousands of documents there)
    config = GPTDatasetConfig(random_seed=1234, sequence_length=seq_len, blend=(run["prefixes"], run["weights"]),
                              split="1,0,0", tokenizer=tokenizer, reset_position_ids=False,
                              reset_attention_mask=False, eod_mask_loss=False)
    samples = 2 * run["gbs"]  # two iterations of the script's global batch
    train, _, _ = BlendedMegatronDatasetBuilder(GPTDataset, [samples, 0, 0], lambda: True, config).build()
    assert len(train) >= samples
    counts = np.bincount(train.dataset_index[:samples], minlength=3)
    np.testing.assert_allclose(counts / samples, run["weights"], atol=0.01)
    streams = [np.concatenate([d.dataset[i] for i in range(len(d.dataset))]).astype(np.int64).tobytes()
               for d in train.datasets]
    eod = tokenizer.eod
    for k in range(0, samples, 97):
        tokens = train[k]["tokens"].numpy().astype(np.int64)
        assert tokens.shape == (seq_len,) and tokens.max() < tokenizer.vocab_size == 512
        # documents are shuffled, so check each piece up to an EOD: a run of that source's tokens as written
        cuts = [0, *(np.flatnonzero(tokens == eod) + 1), seq_len]
        for a, b in zip(cuts, cuts[1:]):
            if b > a:
                at = streams[train.dataset_index[k]].find(tokens[a:b].tobytes())
                assert at >= 0 and at % 8 == 0, (k, a, b)


def test_launch_script_refuses_the_embedded_bpe_for_another_model(tmp_path):
    from pipeline.core.config import MegatronConfig
    from training.mixture import launch_script

    script = tmp_path / "pretrain_gpt.sh"
    script.write_text(launch_script([(1.0, "math_corpus_text_document")], MegatronConfig(), 4096,
                                    embedded_tokenizer=True))
    res = subprocess.run(["bash", str(script)], capture_output=True, text=True, env={"DRY_RUN": "1", "PATH": "/usr/bin:/bin"})
    assert res.returncode == 2 and "torchrun" not in res.stdout
    assert "embedded 4,096-token BPE" in res.stderr and "102,400 embedding rows" in res.stderr
    assert "tokenize.tokenizer" in res.stderr


def test_tokenize_refuses_a_tokenizer_that_is_not_the_models(megatron_run, tmp_path, capsys):
    from pipeline.cli import main
    from pipeline.core.config import MegatronConfig
    from training.mixture import vocab_multiple

    cfg, _, _ = megatron_run
    workdir = tmp_path / "run"
    rc = main(["tokenize", "--set", f"workdir={workdir}",
               "--set", f"tokenize.tokenizer={cfg.workdir_path / 'megatron' / 'tokenizer'}",
               "--corpus", str(cfg.workdir_path / "corpus")])
    err = capsys.readouterr().err
    assert rc == 2 and not (workdir / "megatron").exists()
    assert "tokenize.tokenizer" in err and "deepseek-ai/deepseek-coder-7b-base-v1.5" in err
    assert "512 tokens" in err and "102,400 embedding rows" in err
    # DeepSeek's own tokenizer (100,015 tokens in 102,400 rows) matches; Megatron pads it with multiple 4,096
    assert MegatronConfig().tokenizer_mismatch(100_015) is None
    assert "would index nothing" in MegatronConfig().tokenizer_mismatch(102_401)
    assert vocab_multiple(100_015, 102_400) == 4096 and -(-100_015 // 4096) * 4096 == 102_400


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
    from pipeline.core.executor import Executor
    from pipeline.core.io import is_complete
    from pipeline.core.stage import StageContext
    from pipeline.run import STAGES

    cfg = _cfg(tmp_path)
    stage = next(s for s in STAGES if s.name == "megatron")
    ctx = StageContext(cfg=cfg, workdir=str(tmp_path), folder=str(tmp_path / "megatron"),
                       inputs={"corpus": str(tmp_path / "corpus")}, executor=Executor())
    stats = stage.run(ctx)
    assert "skipped" in stats.extra and not is_complete(tmp_path / "megatron")


def test_validate_trains_on_equal_tokens_evaluates_both_and_the_report_shows_them(megatron_run, capsys):
    """`make validate`'s command on the run: the blend and cc_text alone, equal tokens, both scored."""
    import random

    from faker import Faker

    from pipeline.cli import main
    from pipeline.report import build_report
    from pipeline.synth.benchmarks import generate_benchmarks, write_benchmarks

    cfg, _, _ = megatron_run
    workdir = cfg.workdir_path
    sizes = cfg.synth.benchmarks.model_copy(update={"gsm8k": 6, "math": 6, "cmath": 1, "agieval": 1})
    write_benchmarks(generate_benchmarks(random.Random(2), Faker("en_US"), Faker("zh_CN"), sizes),
                     workdir / "minicc" / "benchmarks")  # the mini-CC's files, where the default config reads them
    overrides = {"workdir": str(workdir), "tokenize.vocab_size": 512, "megatron.vocab_size": 512, **TINY_TRAIN,
                 "validation.steps": 4, "validation.limit": 2, "validation.shots": 1, "validation.max_new_tokens": 4}
    args = ["validate", "--no-progress", "--config", str(REPO / "configs" / "default.yaml")]
    for k, v in overrides.items():
        args += ["--set", f"{k}={json.dumps(v)}"]
    assert main(args) == 0
    out = capsys.readouterr().out
    results = json.loads((workdir / "validate" / "results.json").read_text())
    runs = results["runs"]
    assert list(runs) == ["blend", "cc_text"] and runs["cc_text"]["sources"] == ["cc_text"]
    assert runs["blend"]["sources"] == ["math_corpus", "code", "cc_text"]
    assert runs["blend"]["tokens"] == runs["cc_text"]["tokens"] == results["tokens_per_run"] == 4 * 256
    for r in runs.values():
        for name in ("gsm8k", "math"):
            b = r["benchmarks"][name]
            assert b["items"] == 2 and b["shots"] == 1 and 0 < b["bits_per_byte"] < 20
    assert "blend" in out and "cc_text" in out and "gsm8k bpb" in out
    assert (workdir / "validate" / "loss_curves.png").stat().st_size > 5000
    build_report(workdir)
    page = (workdir / "report" / "index.html").read_text()
    assert "Does the corpus teach math?" in page and "validate_loss_curves.png" in page
    assert (workdir / "report" / "validate_loss_curves.png").exists()


def test_train_accepts_no_progress(tmp_path, capsys):
    from pipeline.cli import main

    assert main(["train", "--no-progress", "--set", f"workdir={tmp_path}"]) == 2  # no corpus yet: a clear error
    assert "no corpus" in capsys.readouterr().err


def test_megatron_stage_on_s3_publishes_the_same_datasets(megatron_run, math_corpus, ray_session):
    """The megatron stage with the workdir on S3 (moto's server on 127.0.0.1): the corpus is read from the
    bucket, the parts are published there by the workers, and the datasets published under megatron/ are the
    local build's, byte for byte."""
    pytest.importorskip("moto.server")
    from pipeline_runs import moto_s3

    from pipeline.core import storage
    from pipeline.core.io import is_complete
    from pipeline.run import run_stage

    local_cfg, _, _ = megatron_run
    corpus, _ = math_corpus
    server, _, options = moto_s3("megatron")
    try:
        workdir = "s3://megatron/run"
        for f in sorted(corpus.glob("part-*.parquet")):
            storage.upload(f, f"{workdir}/corpus/{f.name}", options)
        cfg = _cfg(workdir, storage_options=options)
        stats = run_stage(cfg, "megatron")
        assert is_complete(f"{workdir}/megatron") and stats.rows_out == stats.rows_in - stats.dropped[
            "empty_after_tokenization"]
        local = local_cfg.workdir_path / "megatron"
        for source in ("math_corpus", "code", "cc_text"):
            for ext in (".bin", ".idx"):
                name = f"{source}_text_document{ext}"
                assert storage.read_bytes(f"{workdir}/megatron/{name}") == (local / name).read_bytes(), name
        assert not storage.list_files(f"{workdir}/megatron/parts", recursive=True)  # merged, then removed
    finally:
        storage.set_default_options({})
        server.stop()
