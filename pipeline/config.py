"""One validated configuration object, loaded from YAML.

Every stage reads its own section. Unknown keys and bad values fail with a
:class:`ConfigError` whose message names the dotted key (``synth.pages``) so a
user editing ``configs/default.yaml`` sees at once what to fix.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class ConfigError(ValueError):
    """A configuration file or value is wrong; the message names the key."""


class _Section(BaseModel):
    # extra="forbid": a misspelt key is an error, never silently ignored.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


class BenchmarkSizes(_Section):
    """How many items the mini-CC writes for each benchmark format."""

    gsm8k: int = Field(120, ge=1, le=100_000)
    math: int = Field(120, ge=1, le=100_000)
    cmath: int = Field(80, ge=1, le=100_000)
    agieval: int = Field(30, ge=1, le=100_000, description="items per AGIEval math file (4 files)")


class SynthConfig(_Section):
    """The labelled mini Common Crawl (``python -m pipeline synth``)."""

    pages: int = Field(12_000, ge=10, description="response records to write (all kinds)")
    seed: int = Field(20240205, description="random seed; same seed, same bytes")
    domains: int = Field(400, ge=20, description="number of web sites (hosts)")
    math_domains: int = Field(24, ge=2, description="sites whose math paths hold math pages")
    math_fraction: float = Field(0.08, gt=0.0, lt=0.5, description="share of HTML pages that are math")
    zh_fraction: float = Field(0.2, ge=0.0, le=0.8, description="share of pages in Chinese")
    records_per_warc: int = Field(1_000, ge=10, description="response records per WARC file")
    duplicate_fraction: float = Field(0.05, ge=0.0, le=0.3, description="share of HTML pages that copy another")
    non_html_fraction: float = Field(0.06, ge=0.0, le=0.3, description="images, PDFs, robots.txt")
    non_200_fraction: float = Field(0.05, ge=0.0, le=0.3, description="404/500/redirect responses")
    seed_docs: int = Field(1_500, ge=10, description="OpenWebMath-format seed positives")
    planted_items: int = Field(60, ge=0, description="benchmark items quoted verbatim in pages")
    damaged_files: int = Field(2, ge=0, le=2, description="truncated-gzip and garbage files beside the WARCs")
    benchmarks: BenchmarkSizes = Field(default_factory=BenchmarkSizes)

    @model_validator(mode="after")
    def _consistent(self) -> "SynthConfig":
        if self.math_domains >= self.domains:
            raise ValueError("math_domains must be smaller than domains")
        return self


class TokenizeConfig(_Section):
    """Tokenising text into Megatron indexed datasets (``<workdir>/megatron/``)."""

    tokenizer: str | None = Field(None, description="local Hugging Face tokenizer folder; null = train a BPE on the corpus")
    vocab_size: int = Field(4096, ge=300, le=1_000_000, description="vocabulary of the embedded BPE")
    train_docs: int = Field(20_000, ge=10, description="documents the embedded BPE trains on (first N of the corpus)")
    workers: int = Field(2, ge=1, description="Ray tasks in flight")
    batch_docs: int = Field(512, ge=1, description="documents per tokenizer call")
    task_mib: int = Field(32, ge=1, description="input MiB per Ray task (Parquet row groups or a jsonl byte range)")
    text_column: str = Field("text", min_length=1)
    add_special_tokens: bool = Field(False, description="let the tokenizer add BOS etc.; EOD is always appended")


#: DeepSeekMath's continued pre-training mix (§2.3): 56% DeepSeekMath Corpus, 4% AlgebraicStack, 10% arXiv,
#: 20% GitHub code, 10% Common Crawl natural-language text.
PAPER_MIXTURE = (("math_corpus", 56.0), ("algebraic_stack", 4.0), ("arxiv", 10.0), ("code", 20.0), ("cc_text", 10.0))


class MixtureSource(_Section):
    name: str = Field(..., pattern=r"^[A-Za-z0-9_.-]+$", description="also the dataset prefix <name>_text_document")
    weight: float = Field(..., gt=0.0)
    paths: list[str] = Field(default_factory=list, description="Parquet/jsonl files, folders or globs; relative "
                             "paths resolve against workdir; empty = absent (or a synth stand-in, see standins)")


class MixtureConfig(_Section):
    """Sources blended for continued pre-training; weights are renormalised over the sources present."""

    sources: list[MixtureSource] = Field(default_factory=lambda: [
        MixtureSource(name=n, weight=w, paths=["corpus"] if n == "math_corpus" else []) for n, w in PAPER_MIXTURE])
    standins: list[str] = Field(default_factory=lambda: ["code", "cc_text"],
                                description="sources with no paths that get synth stand-ins (code, cc_text)")
    standin_docs: int = Field(3000, ge=1, description="documents per stand-in source")

    @model_validator(mode="after")
    def _unique(self) -> "MixtureConfig":
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names):
            raise ValueError(f"source names must be unique, got {names}")
        bad = [s for s in self.standins if s not in ("code", "cc_text")]
        if bad:
            raise ValueError(f"stand-ins exist for code and cc_text only, got {bad}")
        return self


class TinyModelConfig(_Section):
    """The embedded default model: a Llama-style decoder built in code (a few hundred thousand parameters)."""

    hidden_size: int = Field(64, ge=8)
    layers: int = Field(2, ge=1)
    heads: int = Field(4, ge=1)
    kv_heads: int = Field(2, ge=1)
    intermediate_size: int = Field(176, ge=8)


class TrainConfig(_Section):
    """Continued pre-training (``python -m pipeline train``), written to ``<workdir>/train/``."""

    model: str | None = Field(None, description="local Hugging Face causal-LM checkpoint; null = the tiny model")
    tiny: TinyModelConfig = Field(default_factory=TinyModelConfig)
    seq_len: int = Field(128, ge=8)
    micro_batch: int = Field(8, ge=1, description="sequences per worker per forward pass")
    batch_tokens: int = Field(2048, ge=8, description="tokens per optimizer step, all workers (via accumulation)")
    steps: int = Field(200, ge=1)
    lr: float = Field(3e-3, gt=0.0, description="peak learning rate (the paper: 4.2e-4 for 7B)")
    warmup_steps: int = Field(20, ge=0, description="linear warmup (the paper: 2000)")
    weight_decay: float = Field(0.1, ge=0.0)
    beta1: float = Field(0.9, gt=0.0, lt=1.0)
    beta2: float = Field(0.95, gt=0.0, lt=1.0)
    grad_clip: float = Field(1.0, gt=0.0)
    precision: str = Field("auto", pattern="^(auto|bf16|fp32)$", description="auto: bf16 where the device supports it")
    workers: int = Field(1, ge=1, description="Ray Train workers (DDP)")
    use_gpu: bool = Field(False)
    save_every: int = Field(50, ge=1, description="checkpoint every N steps (and at the end)")
    keep_checkpoints: int = Field(2, ge=1)
    log_every: int = Field(10, ge=1)
    seed: int = Field(1234)

    @model_validator(mode="after")
    def _batch(self) -> "TrainConfig":
        per_pass = self.seq_len * self.micro_batch * self.workers
        if self.batch_tokens % per_pass:
            raise ValueError(f"batch_tokens ({self.batch_tokens}) must be a multiple of seq_len * micro_batch * "
                             f"workers ({per_pass})")
        if self.warmup_steps >= self.steps:
            raise ValueError(f"warmup_steps ({self.warmup_steps}) must be below steps ({self.steps})")
        return self

    @property
    def grad_accum(self) -> int:
        return self.batch_tokens // (self.seq_len * self.micro_batch * self.workers)


class Config(_Section):
    """The whole run. ``workdir`` holds one sub-folder per stage."""

    workdir: str = Field("out", min_length=1)
    synth: SynthConfig = Field(default_factory=SynthConfig)
    tokenize: TokenizeConfig = Field(default_factory=TokenizeConfig)
    mixture: MixtureConfig = Field(default_factory=MixtureConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)

    @property
    def workdir_path(self) -> Path:
        return Path(self.workdir)


def _format_error(err: ValidationError, source: str) -> str:
    lines = [f"invalid configuration in {source}:"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "<root>"
        if e["type"] == "extra_forbidden":
            lines.append(f"  {key}: unknown key")
            continue
        got = e.get("input")
        shown = "" if isinstance(got, (dict, list)) else f" (got {got!r})"
        lines.append(f"  {key}: {e['msg']}{shown}")
    return "\n".join(lines)


def config_from_dict(data: dict[str, Any] | None, source: str = "<dict>") -> Config:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"invalid configuration in {source}: the top level must be a mapping, got {type(data).__name__}")
    try:
        return Config.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_error(err, source)) from None


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Load ``path`` (YAML), apply dotted ``overrides`` ({"synth.pages": 500}) and validate."""
    data: dict[str, Any] = {}
    source = "<defaults>"
    if path is not None:
        p = Path(path)
        source = str(p)
        if not p.exists():
            raise ConfigError(f"configuration file not found: {p}")
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"configuration file {p} is not valid YAML: {exc}") from None
    for dotted, value in (overrides or {}).items():
        _set_dotted(data, dotted, value)
    return config_from_dict(data, source)


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        nxt = node.setdefault(part, {})
        if not isinstance(nxt, dict):
            raise ConfigError(f"cannot override {dotted}: {part} is not a section")
        node = nxt
    node[parts[-1]] = value
