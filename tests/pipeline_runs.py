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


# --- a run folder on S3: moto's server on 127.0.0.1 -----------------------------------------------------------

def moto_s3(bucket: str = "runs"):
    """(server, endpoint, storage options) of an S3-compatible endpoint on 127.0.0.1 (moto's server, in this
    process) with an empty ``bucket``; stop the server with ``server.stop()``."""
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing",
                 region_name="us-east-1").create_bucket(Bucket=bucket)
    options = {"key": "testing", "secret": "testing", "endpoint_url": endpoint,
               "client_kwargs": {"region_name": "us-east-1"}}
    return server, endpoint, options


def storage_args(options: dict) -> list[str]:
    """``--set storage_options=...`` for ``python -m pipeline`` (JSON is YAML)."""
    import json

    return ["--set", f"storage_options={json.dumps(options)}"]


def url_corpus_ids(workdir: str, options: dict) -> list[str]:
    """The corpus ids of a run folder on an object store, in shard order."""
    import pyarrow as pa

    from pipeline.core import storage

    files = [f for f in storage.list_files(f"{workdir}/corpus", ".parquet", options)
             if storage.name(f).startswith("part-")]
    if not files:
        return []
    return pa.concat_tables([storage.read_parquet_table(f, ["id"], options) for f in files]).column("id").to_pylist()


def url_json(url: str, options: dict):
    import json

    from pipeline.core import storage

    return json.loads(storage.read_bytes(url, options))
