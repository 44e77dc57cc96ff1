"""A real two-node Ray cluster on this machine, the run sent with ``ray job submit``, its workdir on S3.

The head (``ray start --head``, 1 CPU) and a second node (``ray start --address``, 1 CPU, its own
``--temp-dir`` and a custom resource ``worker_node``) share no folder the run uses: the run folder is on
the S3 endpoint (moto's server on 127.0.0.1). The outputs say where units ran (each unit marker names its
worker's Ray node; ``run_stats.json`` counts units per node and stage): both nodes did work, and the
corpus is the one-node run's. Only the processes this test started are stopped, by PID (``ray stop``
would stop every Ray on the machine).
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pipeline_runs import REPO, SMALL, corpus_ids, moto_s3, storage_args, url_corpus_ids, url_json

pytest.importorskip("moto.server")
psutil = pytest.importorskip("psutil")

#: the ``ray`` command of the interpreter under test (the venv's script may name another interpreter)
RAY = [sys.executable, "-m", "ray.scripts.scripts"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _node_ports() -> list[str]:
    """A node's own ports, free ones: Ray's defaults (52365 for the dashboard agent, ...) may be taken by
    another Ray on this machine."""
    return ["--node-ip-address=127.0.0.1", "--disable-usage-stats", f"--node-manager-port={_free_port()}",
            f"--object-manager-port={_free_port()}", f"--dashboard-agent-listen-port={_free_port()}",
            f"--dashboard-agent-grpc-port={_free_port()}", f"--metrics-export-port={_free_port()}",
            f"--runtime-env-agent-port={_free_port()}"]


def _ray(*args: str, env: dict, timeout: int = 180) -> subprocess.CompletedProcess:
    res = subprocess.run([*RAY, *args], capture_output=True, text=True, env=env, timeout=timeout)
    assert res.returncode == 0, f"ray {' '.join(args)}:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


def _processes_of(temp_dirs: list[Path]) -> list:
    """The processes of the Ray nodes this test started: those whose command line names one of their
    temp dirs (GCS, raylets, dashboard, agents, log monitors), and everything below them (workers)."""
    marks = [str(d) for d in temp_dirs]
    found = {}
    for p in psutil.process_iter(["pid", "cmdline"]):
        try:
            cmd = " ".join(p.info["cmdline"] or [])
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if any(m in cmd for m in marks):
            found[p.pid] = p
            try:
                for c in p.children(recursive=True):
                    found[c.pid] = c
            except psutil.NoSuchProcess:
                pass
    found.pop(os.getpid(), None)
    return list(found.values())


def _stop(procs: list) -> None:
    for p in procs:
        try:
            p.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(procs, timeout=15)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=10)


@pytest.fixture()
def cluster(tmp_path_factory):
    """(dashboard address, env) of a head and a worker node; both stopped, by PID, at the end."""
    # short paths: Ray's socket names live under the temp dir and must fit in 107 bytes
    base = Path(f"/tmp/rc{os.getpid()}")
    head_tmp, worker_tmp = base / "h", base / "w"
    env = dict(os.environ, RAY_AUTH_MODE="disabled", RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="1",
               PYTHONPATH=str(REPO))
    env.pop("RAY_ADDRESS", None)
    gcs, dash = _free_port(), _free_port()
    started: list = []
    try:
        _ray("start", "--head", f"--port={gcs}", "--num-cpus=1", f"--temp-dir={head_tmp}",
             "--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={dash}",
             f"--ray-client-server-port={_free_port()}", *_node_ports(), env=env)
        _ray("start", f"--address=127.0.0.1:{gcs}", "--num-cpus=1", f"--temp-dir={worker_tmp}",
             "--resources", json.dumps({"worker_node": 1}), *_node_ports(), env=env)
        deadline = time.monotonic() + 120
        while True:  # both nodes registered
            res = subprocess.run([*RAY, "status", f"--address=127.0.0.1:{gcs}"], capture_output=True, text=True,
                                 env=env)
            if res.returncode == 0 and "worker_node" in res.stdout and res.stdout.count("node_") >= 2:
                break
            assert time.monotonic() < deadline, res.stdout + res.stderr
            time.sleep(2)
        yield f"http://127.0.0.1:{dash}", env
    finally:
        started = _processes_of([head_tmp, worker_tmp])
        _stop(started)
        shutil.rmtree(base, ignore_errors=True)


def test_a_two_node_cluster_runs_the_job_on_both_nodes_with_the_workdir_on_s3(cluster, full_run):
    address, env = cluster
    local, _ = full_run
    server, _, options = moto_s3("cluster")
    try:
        workdir = "s3://cluster/run"
        entry = [sys.executable, "-m", "pipeline", "run", "--config", str(REPO / "configs" / "default.yaml"),
                 "--set", f"workdir={workdir}", *SMALL, *storage_args(options), "--no-progress"]
        job = _submit(address, entry, env)
        status = _wait_for_job(address, job, env, timeout=1500)
        logs = subprocess.run([*RAY, "job", "logs", f"--address={address}", job], capture_output=True, text=True,
                              env=env).stdout
        assert status == "succeeded", logs[-6000:]
        stats = url_json(f"{workdir}/run_stats.json", options)
        assert [s["status"] for s in stats["stages"]] == ["ran"] * 8, stats
        nodes = {}
        for s in stats["stages"]:
            for node, n in (s.get("nodes") or {}).items():
                nodes[node] = nodes.get(node, 0) + n
        assert len(nodes) == 2 and all(n > 0 for n in nodes.values()), nodes  # both nodes ran units
        ids = url_corpus_ids(workdir, options)
        assert ids == corpus_ids(local) and len(ids) == len(set(ids))
    finally:
        server.stop()


def _submit(address: str, entry: list[str], env: dict) -> str:
    """``ray job submit --no-wait``; returns the job id. Retried while the head's dashboard agent starts."""
    deadline = time.monotonic() + 120
    while True:
        # `ray job submit` quotes each argument after `--` itself when it builds the entrypoint's command line
        res = subprocess.run([*RAY, "job", "submit", f"--address={address}", "--no-wait", "--", *entry],
                             capture_output=True, text=True, env=env, timeout=120, cwd=REPO)
        if res.returncode == 0:
            return next(w for line in res.stdout.splitlines() for w in line.replace("'", " ").split()
                        if w.startswith("raysubmit_"))
        assert "No available agent" in res.stderr and time.monotonic() < deadline, res.stdout[-3000:] + res.stderr[-3000:]
        time.sleep(3)


def _wait_for_job(address: str, job: str, env: dict, timeout: float) -> str:
    """Poll ``ray job status`` until the job ends; returns succeeded, failed or stopped."""
    import re

    deadline = time.monotonic() + timeout
    while True:
        st = subprocess.run([*RAY, "job", "status", f"--address={address}", job], capture_output=True, text=True,
                            env=env)
        m = re.search(rf"Job '{job}' (succeeded|failed|stopped)", st.stdout + st.stderr)
        if m:
            return m.group(1)
        assert time.monotonic() < deadline, "the job did not finish"
        time.sleep(5)
