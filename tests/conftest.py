"""Shared fixtures: the real data beside the checkout, one small mini-CC and one in-process Ray per test session."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

# Ray 2.60 turns on token auth after a local ray.init(); keep local heads open (see README).
os.environ.setdefault("RAY_AUTH_MODE", "disabled")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def minicc(tmp_path_factory) -> Path:
    """A small mini-CC (2,500 response records), generated once per session."""
    from pipeline.config import load_config
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

    started = False
    if not ray.is_initialized():
        # Workers import the project from the checkout under test, not from wherever the venv points.
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": str(REPO), "RAY_AUTH_MODE": "disabled"}})
        started = True
    yield ray
    if started:
        ray.shutdown()
