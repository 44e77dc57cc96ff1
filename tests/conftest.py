"""Shared fixtures: one in-process Ray for the whole test session, and the shared data folder."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

# Ray 2.60 turns on token auth after a local ray.init(); keep it off for tests.
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def ray_session():
    """Ray started once, in-process, 2 CPUs; shut down (only ours) at the end."""
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


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA
