"""Faults in the middle of a run: Ray workers SIGKILLed mid-stage, the driver SIGKILLed mid-round.

The faulted run ends with exactly the corpus of the unbroken run (``full_run``, tests/conftest.py), nothing
lost or doubled in pool/, dedup/, rounds/, decontam/, and the whole-run accounting still balanced. It reuses
the unbroken run's mini-CC (copied, so the minicc stage is cached) and joins the session's Ray, where the
test finds the pipeline's actors and jobs in the GCS tables. Triggers are files appearing on disk and actors
appearing in the GCS, never sleeps.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from pipeline_runs import corpus_ids, run_pipeline, start_pipeline, wait_for

UNTIL = ("--until", "corpus")  # megatron and the report are not what these faults are about; the report is
#                                  rebuilt below from what the stages left on disk


def _gcs():
    # ray.util.state's list_actors/list_jobs go through the dashboard, which the test session runs without;
    # these read the same tables straight from the GCS.
    from ray._private import state

    return state


def _job_of(pid: int) -> str | None:
    """The job id (hex) of the live driver with this process id, once it has joined the cluster."""
    return next((j["JobID"] for j in _gcs().jobs() if j["DriverPid"] == pid and not j["IsDead"]), None)


#: The class of recall's scoring workers as Ray's actor table names it (the executor's worker of step "scoring").
SCORER = "ScoringWorker"


def _actors(job: str, cls: str | None = None, states: tuple[str, ...] | None = None) -> list[dict]:
    """The job's actors (of class ``cls``, in one of ``states``) from the GCS actor table."""
    return [a for a in _gcs().actors().values()
            if a["JobID"] == job and (cls is None or a["ActorClassName"].rsplit(".", 1)[-1] == cls)
            and (states is None or a["State"] in states)]


def _ids(files: list[Path], column: str = "id") -> list[str]:
    if not files:
        return []
    return ds.dataset(files, format="parquet").to_table(columns=[column]).column(column).to_pylist()


def _unique(values: list, what: str) -> set:
    assert len(values) == len(set(values)), f"{what}: {len(values) - len(set(values))} doubled rows"
    return set(values)


def _copy_stages(ref: Path, workdir: Path, *stages: str) -> None:
    for s in stages:
        shutil.copytree(ref / s, workdir / s, symlinks=True)


def assert_same_as_unbroken(workdir: Path, ref: Path) -> None:
    """Every stage's rows are those of the unbroken run, each once; the accounting balances."""
    from pipeline.report import build_report

    assert corpus_ids(workdir) == corpus_ids(ref)  # same rows, same order, same shards
    # pool: each page once, each WARC record either kept or dropped once
    for sub in ("pages", "drops"):
        got = sorted((workdir / "pool" / sub).glob("*.parquet"))
        want = sorted((ref / "pool" / sub).glob("*.parquet"))
        if sub == "pages":
            assert _unique(_ids(got), "pool/pages") == _unique(_ids(want), "reference pool/pages")
        else:
            assert sorted(_ids(got, "warc_record_id"), key=str) == sorted(_ids(want, "warc_record_id"), key=str)
    pool_pages = len(_ids(sorted((workdir / "pool" / "pages").glob("*.parquet"))))
    totals = json.loads((workdir / "pool" / "_SUCCESS").read_text())["totals"]
    assert totals["records_seen"] == totals["kept"] + totals["dropped"] and totals["kept"] == pool_pages
    # dedup: decisions by id, each page removed once, the unbroken run's
    dedup_removed = _unique(_ids(sorted((workdir / "dedup" / "removed").glob("*.parquet"))), "dedup/removed")
    assert dedup_removed == set(_ids(sorted((ref / "dedup" / "removed").glob("*.parquet"))))
    kept = pool_pages - len(dedup_removed)
    # rounds: every round scored every page after dedup once and selected what the unbroken run selected
    rounds = sorted(p.name for p in (ref / "rounds").glob("r[0-9]*"))
    assert sorted(p.name for p in (workdir / "rounds").glob("r[0-9]*")) == rounds
    for r in rounds:
        scores = _ids(sorted((workdir / "rounds" / r / "scores").glob("*.parquet")))
        assert len(_unique(scores, f"rounds/{r}/scores")) == kept
        # the same rows selected (pool file stems name each run's own WARC paths, so compare rows, not files)
        got, want = (pa.concat_tables([pq.read_table(p) for p in sorted((w / "rounds" / r / "selected").glob(
            "*.parquet"))]).sort_by("id") for w in (workdir, ref))
        assert got.equals(want), r
    recalled = _unique(_ids(sorted((workdir / "rounds" / "recalled").glob("*.parquet"))), "rounds/recalled")
    assert recalled == set(_ids(sorted((ref / "rounds" / "recalled").glob("*.parquet"))))
    # decontam: the recalled pages it removed, each once; the rest is the corpus
    dec_removed = _unique(_ids(sorted((workdir / "decontam" / "removed").glob("*.parquet"))), "decontam/removed")
    assert recalled - dec_removed == set(corpus_ids(ref))
    removed = _ids(sorted((workdir / "decontam" / "drops").glob("*.parquet")))
    assert _unique(removed, "decontam/drops") == set(_ids(sorted((ref / "decontam" / "drops").glob("*.parquet"))))
    # the whole run: records in = corpus rows + every drop with a reason
    stats = build_report(workdir, workdir / "report")
    assert stats["totals"]["balanced"] is True and stats["totals"]["out"] == len(corpus_ids(ref))
    assert json.loads((workdir / "report" / "_SUCCESS").read_text())["balanced"] is True


@pytest.fixture(scope="module")
def faulted_run(full_run, pipeline_env, tmp_path_factory):
    """One run from the unbroken run's mini-CC with four SIGKILLs, then a rerun to the end.

    First run: an extraction actor of the pool stage (after the first WARC is done), a scoring actor of
    recall round 1 (while it scores), then the driver itself while round 2 scores. Rerun: a decontam
    scanner while it scans. One scenario rather than one run per fault keeps the suite short; each test
    below checks what one of the faults must leave behind.
    """
    ref, _ = full_run
    tmp = tmp_path_factory.mktemp("faults")
    workdir = tmp / "out"
    _copy_stages(ref, workdir, "minicc")
    log = tmp / "killed.log"
    facts: dict = {"workdir": workdir, "ref": ref, "log": log}
    proc = start_pipeline(workdir, *UNTIL, env=pipeline_env, log=log)
    scores = workdir / "rounds" / "r2" / "scores"
    try:
        job = facts["job"] = wait_for(lambda: _job_of(proc.pid), "the driver to join Ray", 120, proc, log)
        # the pool stage has partial progress: a first WARC done (its marker names the worker that did it)
        warcs = workdir / "pool" / "warcs"
        marker = wait_for(lambda: warcs.is_dir() and next(warcs.glob("*/_SUCCESS"), None), "a first extracted WARC",
                          300, proc, log)
        alive = wait_for(lambda: _actors(job, "PoolWorker", ("ALIVE",)), "a live PoolWorker", 60, proc, log)
        pid = json.loads(marker.read_text()).get("worker_pid")
        victim = next((a for a in alive if a["Pid"] == pid), alive[0])
        facts["pool_done_at_kill"] = len(list(warcs.glob("*/_SUCCESS")))
        facts["killed"] = {"PoolWorker": (victim["ActorID"], len(alive))}
        facts["pool_complete_at_kill"] = (workdir / "pool" / "_SUCCESS").exists()
        os.kill(victim["Pid"], signal.SIGKILL)

        # recall round 1 scores the pool: kill a scoring actor
        scorers = wait_for(lambda: _actors(job, SCORER, ("ALIVE",)), f"a live {SCORER}", 300, proc, log,
                           every=0.02)
        scorer = scorers[0]
        facts["killed"][SCORER] = (scorer["ActorID"], len(scorers))
        facts["r1_complete_at_kill"] = (workdir / "rounds" / "r1" / "_SUCCESS").exists()
        os.kill(scorer["Pid"], signal.SIGKILL)

        # round 2 has scored a first file: kill the driver
        wait_for(lambda: scores.is_dir() and any(scores.glob("*.parquet")), "round 2's first score file", 600, proc,
                 log, every=0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    facts["driver_rc"] = proc.returncode
    facts["stats_at_kill"] = json.loads((workdir / "run_stats.json").read_text())
    # a dead driver's actors die with it (the cluster does not keep its work running), and so does its job
    wait_for(lambda: not _actors(job, states=("ALIVE", "RESTARTING", "PENDING_CREATION", "DEPENDENCIES_UNREADY")),
             "the killed driver's actors to die", 120)
    wait_for(lambda: any(j["JobID"] == job and j["IsDead"] for j in _gcs().jobs()), "the killed driver's job to end",
             120)
    facts["actors"] = _actors(job)
    r2 = workdir / "rounds" / "r2"
    facts["r2_scored_at_kill"] = sorted(scores.glob("*.parquet"))
    facts["r2_complete_at_kill"] = (r2 / "_SUCCESS").exists()
    keep = [*[p for p in (workdir / "rounds" / "r1").rglob("*") if p.is_file() and ".tmp-" not in p.name],
            r2 / "model.bin",
            *facts["r2_scored_at_kill"]]
    facts["stamps"] = {p: p.stat().st_mtime_ns for p in keep}

    # the rerun, with a decontam scanner killed while it scans
    relog = tmp / "rerun.log"
    proc = start_pipeline(workdir, *UNTIL, env=pipeline_env, log=relog)
    try:
        rejob = facts["rerun_job"] = wait_for(lambda: _job_of(proc.pid), "the rerun to join Ray", 120, proc, relog)
        scanner = wait_for(lambda: _actors(rejob, "DecontamWorker", ("ALIVE",)), "a live DecontamWorker", 600, proc, relog,
                           every=0.02)[0]
        facts["decontam_complete_at_kill"] = (workdir / "decontam" / "_SUCCESS").exists()
        os.kill(scanner["Pid"], signal.SIGKILL)
        facts["rerun_rc"] = proc.wait(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    facts["rerun_log"] = relog.read_text()
    facts["rerun_actors"] = _actors(rejob)
    return facts


def test_killed_workers_are_replaced_and_their_stage_completes(faulted_run):
    """The extraction and scoring actors killed mid-stage are restarted by Ray and their WARC / file redone:
    the pool stage and round 1 complete in the run that lost them, without a rerun."""
    f = faulted_run
    assert f["pool_done_at_kill"] >= 1 and not f["pool_complete_at_kill"] and not f["r1_complete_at_kill"]
    for cls, (victim, alive) in f["killed"].items():
        same = [a for a in f["actors"] if a["ActorClassName"].rsplit(".", 1)[-1] == cls]
        restarted = any(a["ActorID"] == victim and a["NumRestarts"] > 0 for a in same)
        assert restarted or len(same) > alive, (cls, same)  # Ray restarted the killed worker, or it was replaced
    at_kill = {s["stage"]: s["status"] for s in f["stats_at_kill"]["stages"]}
    assert at_kill == {"minicc": "cached", "pool": "ran", "dedup": "ran"}  # the driver died inside "rounds"
    assert (f["workdir"] / "rounds" / "r1" / "_SUCCESS").exists()


def test_a_killed_decontam_scanner_is_replaced(faulted_run):
    f = faulted_run
    assert f["rerun_rc"] == 0, f["rerun_log"][-4000:]
    assert not f["decontam_complete_at_kill"]
    scanners = [a for a in f["rerun_actors"] if a["ActorClassName"].rsplit(".", 1)[-1] == "DecontamWorker"]
    assert len(scanners) >= 3, scanners  # two scanners and the replacement of the one killed
    # killed while it scanned (its file scanned again) or while it loaded the index (replaced before any file)
    assert ("running it again on a new worker" in f["rerun_log"]
            or "a worker died during its set-up" in f["rerun_log"]), f["rerun_log"][-3000:]


def test_driver_killed_mid_round_the_rerun_resumes_that_round(faulted_run):
    """The driver died while round 2 scored; the rerun reuses round 1, round 2's model and the score files
    written before the kill, and scores only the rest."""
    f = faulted_run
    workdir = f["workdir"]
    assert f["driver_rc"] == -signal.SIGKILL and f["r2_scored_at_kill"] and not f["r2_complete_at_kill"]
    assert f["rerun_rc"] == 0, f["rerun_log"][-4000:]
    stats = {s["stage"]: s["status"] for s in json.loads((workdir / "run_stats.json").read_text())["stages"]}
    assert stats == {"minicc": "cached", "pool": "cached", "dedup": "cached", "rounds": "ran", "decontam": "ran",
                     "corpus": "ran"}
    assert {p: p.stat().st_mtime_ns for p in f["stamps"]} == f["stamps"]  # not redone
    scores = workdir / "rounds" / "r2" / "scores"
    scoring = json.loads((workdir / "rounds" / "r2" / "_SUCCESS").read_text())["scoring"]
    assert scoring["skipped"] == len(f["r2_scored_at_kill"])  # the stats count the whole pass
    assert scoring["rows"] == sum(pq.ParquetFile(p).metadata.num_rows for p in scores.glob("*.parquet"))
    assert not list(workdir.rglob(".*.tmp-*"))  # no temporary file of a killed process is left behind


def test_the_faulted_run_ends_with_the_unbroken_runs_corpus(faulted_run):
    assert faulted_run["rerun_rc"] == 0, faulted_run["rerun_log"][-4000:]
    assert_same_as_unbroken(faulted_run["workdir"], faulted_run["ref"])


def test_disk_full_during_a_model_save_the_rerun_retrains_to_the_same_corpus(full_run, pipeline_env, tmp_path):
    """Round 2's folder sits on a tmpfs with room for all of it but half its ~200 MB model: fastText's save_model
    cuts the file short without an error, the check finds it, the run stops naming it and publishes nothing of
    round 2. With the disk freed (unmounted), and round 1's published selection cut short meanwhile, the rerun
    selects round 1 again, trains round 2 again and ends with the unbroken run's corpus."""
    import subprocess

    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs")
    ref, _ = full_run
    workdir = tmp_path / "out"
    _copy_stages(ref, workdir, "minicc", "pool", "dedup")
    shutil.copytree(ref / "rounds" / "r1", workdir / "rounds" / "r1", symlinks=True)
    r2 = workdir / "rounds" / "r2"
    r2.mkdir(parents=True)
    # room for everything of round 2 but its model (training files, holdout, seed growth)
    model = (ref / "rounds" / "r2" / "model.bin").stat().st_size
    rest = sum(f.stat().st_size for f in (ref / "rounds" / "r2").rglob("*") if f.is_file()) - model
    size = rest + min(model // 2, 32 << 20)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(r2)],
                      capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        broken = run_pipeline(workdir, *UNTIL, env=pipeline_env)
        assert broken.returncode != 0
        assert "rounds/r2/model.bin" in broken.stderr and "not published" in broken.stderr, broken.stderr[-3000:]
        assert not (r2 / "model.bin").exists() and not (r2 / "_SUCCESS").exists()
        assert "Traceback" not in broken.stderr  # one clear line, not a raw traceback
    finally:
        subprocess.run(["umount", str(r2)], check=True)
    # and round 1's selection cut short after it was published (a failing disk): its marker no longer vouches
    # for it, so the rerun redoes round 1's selection (its model and scores still check out) before round 2
    selected = sorted((workdir / "rounds" / "r1" / "selected").glob("*.parquet"))[0]
    with open(selected, "r+b") as fh:
        fh.truncate(selected.stat().st_size // 2)
    model_stamp = (workdir / "rounds" / "r1" / "model.bin").stat().st_mtime_ns
    again = run_pipeline(workdir, *UNTIL, env=pipeline_env)
    assert again.returncode == 0, again.stderr[-4000:]
    stages = {s["stage"]: s["status"] for s in json.loads((workdir / "run_stats.json").read_text())["stages"]}
    assert stages["pool"] == "cached" and stages["dedup"] == "cached" and stages["rounds"] == "ran"
    assert (workdir / "rounds" / "r1" / "model.bin").stat().st_mtime_ns == model_stamp  # vouched for: kept
    assert_same_as_unbroken(workdir, ref)
