"""The unit executor: the only code in the project that starts Ray or schedules work on it.

A stage describes its work as *units* (a WARC, a Parquet file, a hash partition) and a function that
processes one unit and returns its stats (a JSON-able dict, usually :class:`pipeline.core.stats.UnitStats`
as a dict). :meth:`Executor.map` runs the units on the cluster and owns what every stage needs around
that: Ray start and stop, actors and their one-time set-up (a model loaded once per worker), retries,
replacing an actor whose process died, per-unit completion markers carrying a fingerprint of the unit's
inputs and config (a rerun skips units that finished with the same fingerprint and redoes the rest),
and progress.

Under ``ray job submit`` (or with ``RAY_ADDRESS`` set) the driver joins that cluster and uses its
resources; otherwise it starts a local Ray limited to ``num_cpus``, bound to 127.0.0.1 only (GCS,
raylet, workers, dashboard agent, runtime-env agent: nothing listens on another interface), and shuts
it down when the driver exits, also on SIGTERM and SIGINT. Local heads run with ``RAY_AUTH_MODE=disabled``:
Ray 2.60 turns on token auth after a local ``ray.init()``, which then breaks ``ray job submit`` against
it; being reachable from this machine only is what keeps them closed (see docs/run.md for a cluster with
token auth).

Units must be safe to run twice (outputs written atomically or at final object keys, a unit's marker
last): a retried or replaced unit then leaves nothing behind that counts twice.
"""
from __future__ import annotations

import functools
import json
import logging
import os
import re
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

log = logging.getLogger(__name__)


#: Ray's switch for single-machine mode: off, every Ray process binds to 127.0.0.1 (as Ray does on macOS).
_LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def loopback_only() -> None:
    """Make the next local ``ray.init()`` bind every Ray process to 127.0.0.1 (read by Ray at start-up; the
    processes it spawns inherit the variable)."""
    import sys

    os.environ[_LOOPBACK_ENV] = "0"
    constants = sys.modules.get("ray._private.ray_constants")
    if constants is not None:  # ray already imported: it read the variable then
        constants.ENABLE_RAY_CLUSTER = False


def _shutdown_on_signals() -> None:
    """SIGTERM and SIGINT end the driver through its ``finally`` blocks (Ray shut down there and at exit)."""
    import atexit
    import signal
    import threading

    import ray

    atexit.register(ray.shutdown)
    if threading.current_thread() is not threading.main_thread():
        return

    def _exit(signum, frame):
        signal.signal(signum, signal.SIG_DFL)  # a second signal ends at once
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        if signal.getsignal(sig) in (signal.SIG_DFL, signal.default_int_handler):
            signal.signal(sig, _exit)


def ensure_ray(num_cpus: int | None = None, log_to_driver: bool = False) -> bool:
    """Initialise Ray if it is not yet; return True if this call started it (the caller then stops it)."""
    import ray

    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    if os.environ.get("RAY_ADDRESS"):
        ray.init(address=os.environ["RAY_ADDRESS"], log_to_driver=log_to_driver)
        log.info("joined Ray cluster at %s (%s CPUs)", os.environ["RAY_ADDRESS"],
                 ray.cluster_resources().get("CPU"))
    else:
        loopback_only()
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=log_to_driver)
        _shutdown_on_signals()
        log.info("started local Ray on 127.0.0.1 with %s CPUs", ray.cluster_resources().get("CPU"))
    return True


@dataclass(frozen=True)
class Resources:
    """What one unit's worker needs from the cluster (NeMo Curator-style: a stage declares it, the executor
    asks Ray for it). ``custom`` names Ray custom resources, e.g. ``{"pool": 1}`` to pin a step to the nodes
    that advertise it."""

    cpus: float = 1.0
    gpus: float = 0.0
    memory_bytes: int | None = None
    custom: dict[str, float] = field(default_factory=dict)

    def ray_options(self) -> dict[str, Any]:
        opts: dict[str, Any] = {"num_cpus": self.cpus}
        if self.gpus:
            opts["num_gpus"] = self.gpus
        if self.memory_bytes:
            opts["memory"] = self.memory_bytes
        if self.custom:
            opts["resources"] = dict(self.custom)
        return opts


class UnitFailed(RuntimeError):
    """A unit raised, or its worker died more often than the retries allow."""

    def __init__(self, step: str, key: str, cause: BaseException):
        first = str(cause).splitlines()[0][:300] if str(cause) else ""
        super().__init__(f"{step}: unit {key} failed: {type(cause).__name__}: {first}")
        self.step, self.key, self.cause = step, key, cause
        self.retryable = _is_worker_death(cause)


def _is_worker_death(exc: BaseException) -> bool:
    from ray.exceptions import RayActorError, WorkerCrashedError

    return isinstance(exc, (RayActorError, WorkerCrashedError))


@dataclass
class UnitResult:
    """One unit's outcome: its result (``None`` when it failed), the error, and whether a marker from an
    earlier run supplied it."""

    unit: Any
    key: str
    result: Any = None
    error: UnitFailed | None = None
    cached: bool = False
    #: where it ran: {"node_id", "host", "pid"} of the Ray worker (also in its unit marker)
    worker: dict | None = None


def _where() -> dict:
    import ray

    return {"node_id": ray.get_runtime_context().get_node_id(), "host": socket.gethostname(), "pid": os.getpid()}


def _unit_call(defaults: tuple[dict, str | None], fn: Callable[..., Any], *args: Any) -> dict:
    """A unit in its worker: the run's storage options first (a worker process does not read the config),
    then ``fn``; the value comes back with where it ran."""
    _apply_storage_defaults(defaults)
    cpu = time.process_time()
    value = fn(*args)
    # the unit's own CPU time in its worker (what a cost per page is computed from; wall time on a shared
    # machine is not)
    return {"value": value, "worker": _where(), "cpu_seconds": time.process_time() - cpu}


def _setup_call(defaults: tuple[dict, str | None], setup: Callable[..., Any], *args: Any) -> Any:
    _apply_storage_defaults(defaults)
    return setup(*args)


def _in_worker(fn: Callable[..., Any], defaults: tuple[dict, str | None]) -> Callable[..., dict]:
    # a plain function (Ray's remote() takes functions and classes, not partials), named as the stage's
    def unit(*args: Any) -> dict:
        return _unit_call(defaults, fn, *args)

    unit.__name__ = unit.__qualname__ = getattr(fn, "__name__", "unit")
    return unit


def _set_up_in_worker(setup: Callable[..., Any], defaults: tuple[dict, str | None]) -> Callable[..., Any]:
    def set_up(*args: Any) -> Any:
        return _setup_call(defaults, setup, *args)

    return set_up


def _apply_storage_defaults(defaults: tuple[dict, str | None]) -> None:
    options, protocol = defaults
    if options or protocol:
        from pipeline.core import storage

        storage.set_default_options(options, protocol)


class Executor:
    """Runs units on Ray. Use as a context manager (or :func:`current`); it starts Ray on first use and
    stops it on exit when it started it.

    ``num_cpus`` limits a local Ray (ignored when joining a cluster); ``workers`` caps how many units of a
    step run at once (default: what the cluster's CPUs allow for the step's resources).
    ``storage_options`` (credentials, an S3 endpoint) are set in every worker before its units run; by
    default the driver's (:func:`pipeline.core.storage.set_default_options`) at the time of each ``map``.
    """

    def __init__(self, num_cpus: int | None = None, storage_options: dict | None = None,
                 log_to_driver: bool = False):
        self.num_cpus = num_cpus
        self.log_to_driver = log_to_driver
        self.storage_options = storage_options
        self._started = False
        #: per step: seconds spent setting workers up and running units after that (for speed figures)
        self.timings: dict[str, dict[str, float]] = {}
        #: per step: units run per Ray node id (what a run on a cluster reports about its spread)
        self.placement: dict[str, Counter] = {}
        #: per step: the CPU seconds its units spent in their workers (all calls of the step), and units run
        self.unit_cpu_seconds: Counter = Counter()
        self.units_run: Counter = Counter()

    # --- Ray's lifetime -----------------------------------------------------------------------------

    def start(self) -> "Executor":
        if ensure_ray(self.num_cpus, self.log_to_driver):
            self._started = True
        return self

    def stop(self) -> None:
        if self._started:
            import ray

            ray.shutdown()
            self._started = False

    def __enter__(self) -> "Executor":
        _STACK.append(self)
        return self

    def __exit__(self, *exc) -> None:
        _STACK.remove(self)
        self.stop()

    def cluster_cpus(self) -> int:
        import ray

        self.start()
        return max(1, int(ray.cluster_resources().get("CPU", 1)))

    def put(self, obj: Any):
        """Place ``obj`` in the object store once (an index every unit reads); pass the ref as ``setup_args``."""
        import ray

        self.start()
        return ray.put(obj)

    # --- running units ------------------------------------------------------------------------------

    def map(self, step: str, fn: Callable[..., Any], units: Sequence[Any], *,
            key: Callable[[Any], str] = str, setup: Callable[..., Any] | None = None, setup_args: tuple = (),
            resources: Resources = Resources(), workers: int | None = None, max_retries: int = 2,
            markers: str | None = None, fingerprint: str = "", storage_options: dict | None = None,
            raise_on_error: bool = True, progress: bool = True, unit_name: str = "unit",
            describe: Callable[[Any, Any], str] | None = None, fresh_worker: bool = False) -> list[UnitResult]:
        """Run ``fn(unit)`` for every unit, or ``fn(state, unit)`` on actors whose ``state = setup(*setup_args)``
        is built once per worker; return one :class:`UnitResult` per unit, in the order of ``units``.

        ``markers`` (a folder path or fsspec URL): each finished unit's result is written there as
        ``<key>.json`` with ``fingerprint``, after ``fn`` returned (so after the unit's outputs are in
        place); a unit whose marker holds the same fingerprint is not run again. A unit that raises, or
        whose worker dies more than ``max_retries`` times (a dead actor is replaced, a dead task retried),
        fails: with ``raise_on_error`` the first failure raises :class:`UnitFailed` once the units in
        flight have finished, else it is returned in its :class:`UnitResult`.

        ``fresh_worker``: each task runs in a worker process of its own that exits after it (Ray's
        ``max_calls=1``), for libraries that keep state between calls in one process (fastText training);
        actors are processes of their own already.
        """
        from pipeline.core.progress import progress_bar

        keys = [key(u) for u in units]
        if len(set(keys)) != len(keys):
            raise ValueError(f"{step}: unit keys are not unique")
        results = [UnitResult(u, k) for u, k in zip(units, keys)]
        todo = []
        for i, r in enumerate(results):
            done = _read_unit_marker(markers, r.key, fingerprint, storage_options) if markers else None
            if done is not None:
                r.result, r.cached = done, True
            else:
                todo.append(i)
        t0 = time.perf_counter()
        if todo:
            self.start()
            from pipeline.core import storage

            defaults = storage.defaults()
            if self.storage_options is not None:
                defaults = (dict(self.storage_options), defaults[1])
            fn, setup = _in_worker(fn, defaults), (_set_up_in_worker(setup, defaults) if setup else None)
            placed = self.placement.setdefault(step, Counter())
            slots = workers or max(1, int(self.cluster_cpus() // max(resources.cpus, 1e-9)))
            slots = max(1, min(slots, len(todo)))
            bar = progress_bar(len(units), step, unit_name, progress, initial=len(units) - len(todo))
            last_log = time.monotonic()
            if setup is not None:
                run = _run_on_actors
            else:
                run = functools.partial(_run_as_tasks, fresh_worker=fresh_worker)
            n_done = 0
            timing = self.timings[step] = {"setup": 0.0, "run": 0.0}

            def ready() -> None:
                timing["setup"] = time.perf_counter() - t0

            for i, value, error in run(step, fn, [units[i] for i in todo], todo, setup, setup_args, resources, slots,
                                       max_retries, ready):
                r = results[i]
                if error is not None:
                    r.error = UnitFailed(step, r.key, error)
                    log.warning("%s: %s", step, r.error)
                else:
                    self.unit_cpu_seconds[step] += float(value.get("cpu_seconds", 0.0))
                    self.units_run[step] += 1
                    r.result, r.worker = value["value"], value["worker"]
                    value = r.result
                    placed[r.worker["node_id"]] += 1
                    if markers:
                        _write_unit_marker(markers, r.key, fingerprint, value, storage_options, r.worker)
                n_done += 1
                bar.update(1)
                if progress and (describe is not None or time.monotonic() - last_log > 10 or n_done == len(todo)):
                    detail = f" {r.key}: {describe(r.unit, value)}" if describe is not None and error is None else ""
                    log.info("%s: %d/%d %s(s) done%s", step, len(units) - len(todo) + n_done, len(units), unit_name,
                             detail)
                    last_log = time.monotonic()
            bar.close()
            timing["run"] = time.perf_counter() - t0 - timing["setup"]
            log.debug("%s: %d unit(s) in %.1fs on %d slot(s)", step, len(todo), time.perf_counter() - t0, slots)
        if raise_on_error:
            failed = [r for r in results if r.error is not None]
            if failed:
                raise failed[0].error
        return results


#: The executors entered in this process, innermost last (see :func:`current`).
_STACK: list[Executor] = []


def entered() -> Executor | None:
    """The innermost executor entered as a context manager in this process (a run's, a command's), or None."""
    return _STACK[-1] if _STACK else None


def current(num_cpus: int | None = None) -> Executor:
    """The executor of the running command, or a process-wide one started on first use (a stage function
    called on its own, from a notebook or a test); that one stops Ray when the process exits."""
    if _STACK:
        return _STACK[-1]
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Executor(num_cpus)
    return _DEFAULT


_DEFAULT: Executor | None = None


# --- unit markers (fsspec: a local folder or an object store) ---------------------------------------

def _marker_url(folder: str, key: str) -> str:
    return f"{folder.rstrip('/')}/{key}.json"


def _read_unit_marker(folder: str, key: str, fingerprint: str, storage_options: dict | None) -> Any | None:
    from pipeline.core import storage

    try:
        payload = json.loads(storage.read_bytes(_marker_url(folder, key), storage_options))
    except (FileNotFoundError, ValueError):
        return None
    if not isinstance(payload, dict) or payload.get("fingerprint") != fingerprint:
        return None
    return payload.get("result")


def _write_unit_marker(folder: str, key: str, fingerprint: str, result: Any, storage_options: dict | None,
                       worker: dict | None = None) -> None:
    from pipeline.core import storage

    body = json.dumps({"fingerprint": fingerprint, "result": result, "worker": worker}, sort_keys=True,
                      default=str).encode()
    storage.write_bytes(_marker_url(folder, key), body, storage_options)


# --- the two ways of running units on Ray -------------------------------------------------------------

def _run_as_tasks(step: str, fn, units, index, setup, setup_args, resources: Resources, slots: int,
                  max_retries: int, ready: Callable[[], None], fresh_worker: bool = False
                  ) -> Iterator[tuple[int, Any, BaseException | None]]:
    """Stateless units as Ray tasks, ``slots`` in flight; Ray retries a task whose worker died."""
    import ray

    ready()
    extra = {"max_calls": 1} if fresh_worker else {}
    remote = ray.remote(max_retries=max_retries, **extra, **resources.ray_options())(fn)
    pending = list(range(len(units)))
    in_flight: dict = {}
    while pending or in_flight:
        while pending and len(in_flight) < slots:
            j = pending.pop(0)
            in_flight[remote.remote(units[j])] = j
        [ref], _ = ray.wait(list(in_flight), num_returns=1)
        j = in_flight.pop(ref)
        try:
            yield index[j], ray.get(ref), None
        except Exception as exc:  # the task raised (RayTaskError) or its worker died past the retries
            yield index[j], None, getattr(exc, "cause", None) if _app_error(exc) else exc


def _app_error(exc: BaseException) -> bool:
    from ray.exceptions import RayTaskError

    return isinstance(exc, RayTaskError) and getattr(exc, "cause", None) is not None


class _Worker:
    """An actor holding one stage's set-up state (a model, an index); runs units one at a time."""

    def __init__(self, fn, setup, *setup_args):  # top-level ObjectRef arguments arrive resolved
        self.fn = fn
        self.state = setup(*setup_args)

    def ready(self) -> bool:
        return True

    def run(self, unit):
        return self.fn(self.state, unit)


def _started_actors(new_actor: Callable[[], Any], n: int, max_retries: int) -> list:
    """``n`` actors whose set-up finished (set-up is not unit time). One whose process dies during set-up is
    replaced, up to ``max_retries`` times in all; a set-up that raises fails the step here."""
    import ray
    from ray.exceptions import RayActorError

    actors = [new_actor() for _ in range(n)]
    deaths = 0
    while True:
        alive = []
        for a in actors:
            try:
                ray.get(a.ready.remote())
                alive.append(a)
            except RayActorError as exc:
                ray.kill(a)
                deaths += 1
                log.warning("a worker died during its set-up (%s); starting a new one",
                            str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__)
        if len(alive) == n or deaths > max_retries:
            if not alive:
                raise RuntimeError(f"every worker died during its set-up ({deaths} deaths)")
            return alive
        actors = alive + [new_actor() for _ in range(n - len(alive))]


def _worker_class(step: str) -> type:
    """``_Worker`` under the step's name (``pool`` -> ``PoolWorker``), so Ray's dashboard and state API say
    which stage an actor serves."""
    name = "".join(w.capitalize() for w in re.split(r"[^A-Za-z0-9]+", step) if w) + "Worker"
    return type(name, (_Worker,), {"__module__": __name__, "__qualname__": name})


def _run_on_actors(step: str, fn, units, index, setup, setup_args, resources: Resources, slots: int,
                   max_retries: int, ready: Callable[[], None]) -> Iterator[tuple[int, Any, BaseException | None]]:
    """Units on ``slots`` actors, one in flight each. An actor whose process died is replaced by a new one
    and its unit run again, up to ``max_retries`` times per unit (Ray's own ``ActorPool`` can do neither)."""
    import ray
    from ray.exceptions import RayActorError

    actor_cls = ray.remote(**resources.ray_options())(_worker_class(step))

    def new_actor():
        return actor_cls.remote(fn, setup, *setup_args)

    idle = _started_actors(new_actor, slots, max_retries)
    ready()
    queue = list(range(len(units)))
    replaced: dict[int, int] = {}
    in_flight: dict = {}
    try:
        while queue or in_flight:
            while queue and idle:
                actor, j = idle.pop(), queue.pop(0)
                in_flight[actor.run.remote(units[j])] = (actor, j)
            [ref], _ = ray.wait(list(in_flight), num_returns=1)
            actor, j = in_flight.pop(ref)
            try:
                value = ray.get(ref)
            except RayActorError as exc:
                ray.kill(actor)  # dead already, or unreachable: never used again either way
                idle.append(new_actor())
                if replaced.get(j, 0) < max_retries:
                    replaced[j] = replaced.get(j, 0) + 1
                    log.warning("the worker running unit %d died (%s); running it again on a new worker", index[j],
                                str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__)
                    queue.insert(0, j)
                    continue
                yield index[j], None, exc
                continue
            except Exception as exc:  # the unit raised: the actor itself is fine
                idle.append(actor)
                yield index[j], None, getattr(exc, "cause", None) if _app_error(exc) else exc
                continue
            idle.append(actor)
            yield index[j], value, None
    finally:
        for a in idle + [a for a, _ in in_flight.values()]:
            ray.kill(a)
