"""Helpers for tests that run ``python -m pipeline run`` in a subprocess (imported by test modules; not collected).

The subprocesses join the test session's Ray (``RAY_ADDRESS``, see the ``pipeline_env`` fixture) instead of
starting a Ray of their own, which saves Ray's start-up on every run and lets a test see their actors in the
session cluster's GCS tables.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pyarrow.dataset as ds

REPO = Path(__file__).resolve().parents[1]
# a 3,000-page mini-CC: every stage has real work, the whole run takes about two minutes on 2 cores
SMALL = ["--set", "synth.pages=3000", "--set", "synth.domains=250", "--set", "synth.math_domains=16",
         "--set", "synth.planted_items=25"]


def pipeline_args(workdir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "pipeline", "run", "--config", str(REPO / "configs" / "default.yaml"),
            "--set", f"workdir={workdir}", *SMALL, *extra]


def run_pipeline(workdir: Path, *extra: str, env: dict | None = None,
                 timeout: int = 900) -> subprocess.CompletedProcess:
    # cwd=REPO: the driver imports the checkout under test, and Ray puts the driver's cwd on its workers' path
    return subprocess.run(pipeline_args(workdir, *extra), capture_output=True, text=True, cwd=REPO, env=env,
                          timeout=timeout)


def start_pipeline(workdir: Path, *extra: str, env: dict | None = None, log: Path) -> subprocess.Popen:
    """The run in the background, stdout and stderr into ``log`` (a pipe could fill up and stall it)."""
    fh = open(log, "w")
    try:
        return subprocess.Popen(pipeline_args(workdir, *extra), stdout=fh, stderr=subprocess.STDOUT, text=True,
                                cwd=REPO, env=env)
    finally:
        fh.close()  # the child holds its own copy


def corpus_ids(workdir: Path) -> list[str]:
    files = sorted((workdir / "corpus").glob("part-*.parquet"))
    return ds.dataset(files, format="parquet").to_table(columns=["id"]).column("id").to_pylist()


def wait_for(cond: Callable[[], object], what: str, timeout: float, proc: subprocess.Popen | None = None,
             log: Path | None = None, every: float = 0.05):
    """Poll ``cond`` until it returns something truthy (returned); fail if ``proc`` exits first or on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        if proc is not None and proc.poll() is not None:
            tail = log.read_text()[-4000:] if log is not None and log.exists() else ""
            raise AssertionError(f"the run ended (rc {proc.returncode}) before {what}:\n{tail}")
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
