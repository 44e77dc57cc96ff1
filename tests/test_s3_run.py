"""The whole default run with ``workdir`` on S3 (moto's server on 127.0.0.1): the same corpus as the local run,
and a driver killed mid-run resumes from what it published, with no page twice."""
from __future__ import annotations

import os
import signal

import pytest
from pipeline_runs import (corpus_ids, moto_s3, run_pipeline, start_pipeline, storage_args, url_corpus_ids,
                           url_json, wait_for)

pytest.importorskip("moto.server")


@pytest.fixture(scope="module")
def s3():
    server, endpoint, options = moto_s3("runs")
    yield endpoint, options
    server.stop()


def test_the_default_run_on_s3_builds_the_local_runs_corpus(full_run, pipeline_env, s3):
    local, _ = full_run
    _, options = s3
    workdir = "s3://runs/whole"
    res = run_pipeline(workdir, *storage_args(options), env=pipeline_env)
    assert res.returncode == 0, res.stderr[-4000:]
    ids = url_corpus_ids(workdir, options)
    assert ids == corpus_ids(local) and len(ids) == len(set(ids)) > 100
    stats = url_json(f"{workdir}/run_stats.json", options)
    assert [s["status"] for s in stats["stages"]] == ["ran"] * 8
    assert url_json(f"{workdir}/report/_SUCCESS", options)["balanced"] is True
    # nothing of the run was written beside the checkout or in a local folder named like the workdir
    assert not os.path.exists("s3:") and not os.path.exists("runs")
    again = run_pipeline(workdir, *storage_args(options), env=pipeline_env)  # resumes: every stage cached
    assert again.returncode == 0, again.stderr[-4000:]
    stats = url_json(f"{workdir}/run_stats.json", options)
    assert {s["stage"]: s["status"] for s in stats["stages"] if s["stage"] != "report"} == {
        s: "cached" for s in ("minicc", "pool", "dedup", "rounds", "decontam", "corpus", "megatron")}


def test_a_killed_driver_resumes_on_s3_without_doubles(full_run, pipeline_env, s3, tmp_path):
    from pipeline.core import storage
    from pipeline.core.io import is_complete

    local, _ = full_run
    _, options = s3
    workdir = "s3://runs/killed"
    storage.set_default_options(options, "s3")
    log = tmp_path / "first.log"
    proc = start_pipeline(workdir, *storage_args(options), env=pipeline_env, log=log)
    try:
        # killed once the pool is published and the next stage is under way
        wait_for(lambda: is_complete(f"{workdir}/pool"), "the pool stage's marker on S3", 900, proc, log, every=1)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert url_corpus_ids(workdir, options) == []
    res = run_pipeline(workdir, *storage_args(options), env=pipeline_env)  # takes the dead driver's lock over
    assert res.returncode == 0, res.stderr[-4000:]
    stats = url_json(f"{workdir}/run_stats.json", options)
    status = {s["stage"]: s["status"] for s in stats["stages"]}
    assert status["minicc"] == status["pool"] == "cached" and status["corpus"] == "ran"
    ids = url_corpus_ids(workdir, options)
    assert ids == corpus_ids(local) and len(ids) == len(set(ids))
    assert not storage.exists(f"{workdir}/.run.lock")  # released at the end
