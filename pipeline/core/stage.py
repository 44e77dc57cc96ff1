"""What the orchestrator hands a stage, and what a stage is.

A stage is a name, the stages whose outputs it reads (declared once, next to the stage list in
:mod:`pipeline.run`), and a function ``run(ctx) -> StageStats``. Inside, a stage plans its units, runs
them with ``ctx.executor.map(...)`` (per-unit markers under its folder make it resumable) and folds their
stats; its folder is ``ctx.folder`` (a local path or a URL: read and write through
:mod:`pipeline.core.storage`), and the folders of the stages it reads are ``ctx.inputs[name]``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from pipeline.core.executor import Executor
from pipeline.core.stats import StageStats


@dataclass
class StageContext:
    cfg: Any  # pipeline.core.config.Config
    workdir: str  # a local path or an fsspec URL
    folder: str  # this stage's folder: <workdir>/<stage>
    inputs: dict[str, str]  # the folders of the stages it reads, by stage name
    executor: Executor
    progress: bool = True
    storage_options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Stage:
    name: str  # also the sub-folder of the workdir
    run: Callable[[StageContext], StageStats]
    reads: tuple[str, ...] = ()  # stages whose folders it reads (their markers must exist)
    uses_ray: bool = True
    always: bool = False  # rebuilt on every run (the report reflects the latest state)
