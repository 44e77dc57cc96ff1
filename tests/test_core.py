"""The core every stage builds on: the unit executor (tasks, actors with set-up, markers, retries after a
worker dies) and run-folder I/O on fsspec URLs (an in-memory object store stands in for S3 here; the
S3 runs are in test_s3.py)."""
from __future__ import annotations

import os

import pyarrow as pa
import pytest

from pipeline.core import storage
from pipeline.core.executor import Executor, Resources, UnitFailed
from pipeline.core.io import is_complete, mark_complete, read_marker
from pipeline.core.stats import StageStats, UnitStats


@pytest.fixture(autouse=True, scope="module")
def _functions_by_value():
    """Ray workers do not import tests/: ship this module's unit functions by value."""
    import sys

    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])


def square(x):
    return {"x": x, "sq": x * x}


def fails_on_three(x):
    if x == 3:
        raise ValueError("three is not allowed")
    return x


class Offset:
    def __init__(self, k):
        self.k = k


def add_offset(state, x):
    return x + state.k


def die_once(state, x):
    """Kills its worker process the first time it sees unit 2 (a flag file says it happened)."""
    flag = os.path.join(state, "died")
    if x == 2 and not os.path.exists(flag):
        open(flag, "w").close()
        os._exit(1)
    return x * 10


def test_tasks_return_in_unit_order_and_markers_skip_finished_units(ray_session, tmp_path):
    ex = Executor()
    res = ex.map("square", square, list(range(6)), markers=str(tmp_path / "m"), fingerprint="v1", progress=False)
    assert [r.result["sq"] for r in res] == [0, 1, 4, 9, 16, 25]
    assert not any(r.cached for r in res)
    again = ex.map("square", square, list(range(6)), markers=str(tmp_path / "m"), fingerprint="v1", progress=False)
    assert all(r.cached for r in again) and [r.result["sq"] for r in again] == [0, 1, 4, 9, 16, 25]
    changed = ex.map("square", square, list(range(6)), markers=str(tmp_path / "m"), fingerprint="v2",
                     progress=False)
    assert not any(r.cached for r in changed)  # another fingerprint: the old markers vouch for nothing


def test_a_unit_that_raises_is_named(ray_session):
    ex = Executor()
    with pytest.raises(UnitFailed, match="unit 3 failed: ValueError: three is not allowed"):
        ex.map("odd", fails_on_three, [1, 2, 3, 4], progress=False)
    res = ex.map("odd", fails_on_three, [1, 2, 3, 4], raise_on_error=False, progress=False)
    assert [r.result for r in res] == [1, 2, None, 4]
    assert res[2].error is not None and not res[2].error.retryable


def test_actors_are_set_up_once_and_a_dead_worker_is_replaced(ray_session, tmp_path):
    ex = Executor()
    res = ex.map("offset", add_offset, [1, 2, 3], setup=Offset, setup_args=(100,), progress=False)
    assert [r.result for r in res] == [101, 102, 103]
    res = ex.map("die", die_once, [1, 2, 3], setup=str, setup_args=(str(tmp_path),), max_retries=1,
                 resources=Resources(cpus=1), progress=False)
    assert [r.result for r in res] == [10, 20, 30]
    assert (tmp_path / "died").exists()


def test_run_folder_on_an_object_store_publishes_and_vouches():
    base = "memory://bucket/run/stage"
    table = pa.table({"id": ["a", "b"], "n": [1, 2]})
    storage.write_parquet(storage.join(base, "pages", "p0.parquet"), table)
    storage.write_text(storage.join(base, "stats.json"), "{}")
    assert storage.list_files(storage.join(base, "pages"), ".parquet") == [f"{base}/pages/p0.parquet"]
    assert not is_complete(base)
    mark_complete(base, {"rows": 2}, outputs=["pages/p0.parquet"])
    assert is_complete(base) and read_marker(base)["rows"] == 2
    assert storage.read_parquet_table(f"{base}/pages/p0.parquet").equals(table)
    # nothing is left under the temporary keys, and a changed output voids the marker
    fs, inner = storage.filesystem(base)
    assert not [p for p in fs.find(inner) if "/.tmp/" in p]
    storage.write_parquet(storage.join(base, "pages", "p0.parquet"), pa.table({"id": ["a"], "n": [1]}))
    assert not is_complete(base)


def test_stage_stats_fold_units():
    units = [UnitStats(rows_in=10, rows_out=7, dropped={"non_html": 3}),
             UnitStats(rows_in=5, rows_out=5).to_dict()]
    s = StageStats.fold("pool", units, notes="2 WARCs")
    assert (s.rows_in, s.rows_out, s.dropped, s.units, s.balanced) == (15, 12, {"non_html": 3}, 2, True)
    assert StageStats.from_dict(s.to_dict()) == s
