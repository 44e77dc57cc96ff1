"""Shared fixtures: the real data beside the checkout, one small mini-CC and one in-process Ray per test session."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

# Ray 2.60 turns on token auth after a local ray.init(); keep local heads open (see docs/setup.md).
os.environ.setdefault("RAY_AUTH_MODE", "disabled")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def minicc(tmp_path_factory) -> Path:
    """A small mini-CC (2,500 response records), generated once per session."""
    from pipeline.core.config import load_config
    from pipeline.synth import generate_minicc

    cfg = load_config(REPO / "configs" / "default.yaml", {
        "synth.pages": 2500, "synth.records_per_warc": 500, "synth.seed_docs": 300, "synth.domains": 250,
        "synth.math_domains": 16, "synth.planted_items": 25,
    })
    out = tmp_path_factory.mktemp("minicc") / "minicc"
    generate_minicc(cfg.synth, out)
    return out


@pytest.fixture(scope="session")
def ray_session():
    """Ray started once, in-process, 2 CPUs, no dashboard; only this Ray is shut down at the end."""
    import ray

    from pipeline.core.executor import loopback_only

    started = False
    if not ray.is_initialized():
        loopback_only()  # as a run's own Ray: nothing of the test session listens beyond 127.0.0.1
        # Workers import the project from the checkout under test, not from wherever the venv points.
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": str(REPO), "RAY_AUTH_MODE": "disabled"}})
        started = True
    yield ray
    if started:
        ray.shutdown()


@pytest.fixture(scope="session")
def pipeline_env(ray_session) -> dict:
    """Environment for ``python -m pipeline`` subprocesses: they join this session's Ray (RAY_ADDRESS; see
    pipeline/core/executor.py) rather than start one each. A driver's actors die with it, as on any cluster."""
    env = dict(os.environ)
    env["RAY_ADDRESS"] = ray_session.get_runtime_context().gcs_address
    env["RAY_AUTH_MODE"] = "disabled"
    return env


@pytest.fixture(scope="session")
def full_run(tmp_path_factory, pipeline_env):
    """One unbroken ``python -m pipeline run`` of the 3,000-page mini-CC (every stage), shared by the
    end-to-end tests and, as the reference, by the fault tests."""
    from pipeline_runs import run_pipeline

    workdir = tmp_path_factory.mktemp("e2e") / "out"
    res = run_pipeline(workdir, env=pipeline_env)
    assert res.returncode == 0, res.stderr[-4000:]
    return workdir, res


def write_corpus_shards(folder: Path, docs: int = 240, shards: int = 3, seed: int = 7, row_group: int = 16) -> list[str]:
    """CORPUS_SCHEMA shards (``part-*.parquet``) of generated math pages (English, Chinese, word problems),
    several row groups each; one page is blank, as an upstream bug might leave it. Returns the texts in order."""
    import random
    from datetime import datetime, timezone

    import pyarrow as pa
    import pyarrow.parquet as pq
    from faker import Faker

    from pipeline.core.schema import CORPUS_SCHEMA, validate_table
    from pipeline.synth import text as T

    rng = random.Random(seed)
    fk_en, fk_zh = Faker("en_US"), Faker("zh_CN")
    fk_en.seed_instance(seed)
    fk_zh.seed_instance(seed)
    folder.mkdir(parents=True, exist_ok=True)
    texts = []
    for i in range(docs):
        r = rng.random()
        if i == 5:
            texts.append("")
        elif r < 0.6:
            texts.append(T.plain_text(T.math_doc_en(rng, fk_en)))
        elif r < 0.8:
            texts.append(T.plain_text(T.word_problem_doc(rng, fk_en, "en")))
        else:
            texts.append(T.plain_text(T.math_doc_zh(rng, fk_zh)))
    per = -(-docs // shards)
    for s in range(shards):
        chunk = list(range(s * per, min(docs, (s + 1) * per)))
        n = len(chunk)
        table = pa.table({
            "id": [f"{i:016x}" for i in chunk], "url": [f"https://math.example/{i}" for i in chunk],
            "domain": ["math.example"] * n, "text": [texts[i] for i in chunk], "lang": ["en"] * n,
            "math_score": [0.9] * n, "round": [1] * n, "token_count": [len(texts[i].split()) for i in chunk],
            "warc_path": ["/crawl/x.warc.gz"] * n, "warc_offset": [1000 * i for i in chunk],
            "warc_length": [900] * n, "warc_record_id": [f"<urn:uuid:{i}>" for i in chunk],
            "fetch_time": [datetime(2024, 2, 21, tzinfo=timezone.utc)] * n,
        }, schema=CORPUS_SCHEMA)
        validate_table(table, CORPUS_SCHEMA)
        pq.write_table(table, folder / f"part-{s:05d}.parquet", row_group_size=row_group)
    return texts


@pytest.fixture(scope="session")
def math_corpus(tmp_path_factory) -> tuple[Path, list[str]]:
    """A small corpus folder in the corpus stage's layout, and its texts in order."""
    folder = tmp_path_factory.mktemp("workdir") / "corpus"
    return folder, write_corpus_shards(folder)
