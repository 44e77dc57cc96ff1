"""One validated configuration object, loaded from YAML.

Every stage reads its own section. Unknown keys and bad values fail with a
:class:`ConfigError` whose message names the dotted key (``synth.pages``) so a
user editing ``configs/default.yaml`` sees at once what to fix.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


class ConfigError(ValueError):
    """A configuration file or value is wrong; the message names the key."""


_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://(.*)$")


def _expand_workdir(value: str, workdir: str | Path) -> Path | str:
    """``{workdir}`` expanded; a URL (``s3://...``) stays a string (``Path`` would fold its ``//``)."""
    text = value.replace("{workdir}", str(workdir).rstrip("/") if _URL.match(str(workdir)) else str(workdir))
    return text if _URL.match(text) and not text.startswith("file://") else Path(text)


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

    pages: int = Field(12_000, ge=10, le=10_000_000, description="response records to write (all kinds)")
    seed: int = Field(20240205, description="random seed; same seed, same bytes")
    domains: int = Field(400, ge=20, le=1_000_000, description="number of web sites (hosts)")
    math_domains: int = Field(24, ge=2, description="sites whose math paths hold math pages")
    math_fraction: float = Field(0.08, gt=0.0, lt=0.5, description="share of HTML pages that are math")
    zh_fraction: float = Field(0.2, ge=0.0, le=0.8, description="share of pages in Chinese")
    records_per_warc: int = Field(1_000, ge=10, le=1_000_000, description="response records per WARC file")
    duplicate_fraction: float = Field(0.05, ge=0.0, le=0.3, description="share of HTML pages that copy another")
    non_html_fraction: float = Field(0.06, ge=0.0, le=0.3, description="images, PDFs, robots.txt")
    non_200_fraction: float = Field(0.05, ge=0.0, le=0.3, description="404/500/redirect responses")
    seed_docs: int = Field(1_500, ge=10, le=10_000_000, description="OpenWebMath-format seed positives")
    planted_items: int = Field(60, ge=0, le=100_000, description="benchmark items quoted verbatim in pages")
    damaged_files: int = Field(2, ge=0, le=2, description="truncated-gzip and garbage files beside the WARCs")
    benchmarks: BenchmarkSizes = Field(default_factory=BenchmarkSizes)

    @model_validator(mode="after")
    def _consistent(self) -> "SynthConfig":
        if self.math_domains >= self.domains:
            raise ValueError("math_domains must be smaller than domains")
        return self


#: A Common Crawl crawl id: ``CC-MAIN-<year>-<ISO week>`` (the WARC crawls since 2013; the list is at
#: https://data.commoncrawl.org/crawl-data/index.html).
CRAWL_ID_RE = re.compile(r"^CC-MAIN-(20[1-9][0-9])-([0-5][0-9])$")


class PoolConfig(_Section):
    """The pool stage (``python -m pipeline extract``; ``pool/`` in ``make corpus``)."""

    inputs: list[str] = Field(
        default_factory=list,
        description="WARC paths, globs, fsspec URLs or warc.paths.gz manifests; empty (and no crawls): "
        "<workdir>/minicc/warc/*.warc.gz",
    )
    crawls: list[str] = Field(
        default_factory=list,
        description="Common Crawl crawl ids (CC-MAIN-2024-10); each adds <cc_base_url>crawl-data/<id>/warc.paths.gz "
        "to the inputs (manifest_limit / manifest_sample apply to it)",
    )
    workers: int = Field(2, ge=1, le=4096, description="Ray actors, one WARC in flight each")
    max_retries: int = Field(2, ge=0, le=20, description="actor restarts and task retries after a crash")
    max_record_bytes: int = Field(5 * 1024 * 1024, ge=1024, le=1 << 30, description="payload cap per record, before and after HTTP decompression (inflating stops there); larger: too_large")
    max_seconds_per_record: float = Field(10.0, gt=0, le=3600, description="parse+extract time cap per record")
    min_text_chars: int = Field(1, ge=1, le=10_000_000, description="shorter extracted text: empty_text")
    lang_chars: int = Field(600, ge=50, le=1_000_000, description="characters of text given to the language identifier")
    extractor: Literal["mathcorpus", "trafilatura"] = Field(
        "mathcorpus", description="main-text engine: mathcorpus (ours: every post of a thread, Markdown-like "
        "structure) or trafilatura (with its fallbacks)")
    include_tables: bool = True
    include_comments: bool = Field(True, description="keep comment sections (forum answers often hold the math)")
    favor_recall: bool = False
    manifest_limit: int | None = Field(None, ge=1, le=100_000_000, description="first N WARCs of each manifest")
    manifest_sample: int | None = Field(None, ge=1, le=100_000_000, description="seeded random N WARCs of each manifest")
    manifest_seed: int = 0
    cc_base_url: str = Field("https://data.commoncrawl.org/", min_length=1,
                             description="prefix for crawl-data/... manifest entries (or s3://commoncrawl/)")
    storage_options: dict[str, Any] = Field(default_factory=dict, description="fsspec options, e.g. {anon: false}")
    allow_schemes: list[str] = Field(
        default_factory=lambda: ["https", "http", "s3", "gs", "hf"],
        description="URL schemes inputs and manifest entries may use (local paths are always allowed as inputs)")
    allow_manifest_targets: list[Literal["local", "loopback", "private", "link_local"]] = Field(
        default_factory=list, description="what a manifest entry may name besides public URLs and files under "
        "the manifest's base: local (absolute paths, file://), loopback, private, link_local hosts")

    @field_validator("allow_schemes")
    @classmethod
    def _schemes(cls, value: list[str]) -> list[str]:
        for scheme in value:
            if not re.fullmatch(r"[a-z][a-z0-9+.-]{0,31}", scheme):
                raise ValueError(f"{scheme!r} is not a URL scheme (lower case, e.g. https)")
            if scheme == "file":
                raise ValueError("file is not a remote scheme: list local in allow_manifest_targets instead")
        return value

    @field_validator("crawls", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("crawls")
    @classmethod
    def _crawl_ids(cls, value: list[str]) -> list[str]:
        for crawl in value:
            m = CRAWL_ID_RE.match(crawl)
            if m is None or not 1 <= int(m.group(2)) <= 53:
                raise ValueError(f"{crawl!r} is not a Common Crawl crawl id: CC-MAIN-<year>-<week>, e.g. "
                                 "CC-MAIN-2024-10 (see https://data.commoncrawl.org/crawl-data/index.html)")
        if len(set(value)) != len(value):
            raise ValueError(f"a crawl is listed twice: {value}")
        return value

    def crawl_manifests(self) -> list[str]:
        """The ``warc.paths.gz`` of every crawl in ``crawls``, under ``cc_base_url``."""
        base = self.cc_base_url.rstrip("/") + "/"
        return [f"{base}crawl-data/{crawl}/warc.paths.gz" for crawl in self.crawls]

    def resolved_inputs(self) -> list[str]:
        """``inputs`` then the crawls' manifests; empty means the run reads the mini-CC."""
        return [*self.inputs, *self.crawl_manifests()]

    @property
    def reads_minicc(self) -> bool:
        """True when no real input is configured: the run generates and reads the mini Common Crawl."""
        return not (self.inputs or self.crawls)


class BenchmarkSpec(_Section):
    """One benchmark source for decontamination (see decontam/loaders.py for the formats)."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$", description="benchmark name in the audit log")
    path: str | None = Field(None, description="file or folder; relative to the working directory; {workdir} expands")
    format: Literal["auto", "gsm8k", "math", "cmath", "agieval", "jsonl", "parquet", "hf"] = "auto"
    fields: list[str] | None = Field(None, description="text fields (dotted paths) for jsonl, parquet and hf")
    id_field: str | None = Field(None, description="item id field for jsonl, parquet and hf (default: row number)")
    hf_id: str | None = Field(None, description="Hugging Face datasets id, read instead of a path (needs internet "
                              "or a warm HF cache): format hf with fields, or a named format's records")
    hf_config: str | list[str] | None = Field(None, description="the dataset's config; a list reads each config "
                                              "(e.g. MATH's seven subjects) as one benchmark")
    split: str = "test"
    required: bool = Field(True, description="false: a missing path is skipped with a warning")

    @model_validator(mode="after")
    def _consistent(self) -> "BenchmarkSpec":
        if self.path and self.hf_id:
            raise ValueError("set path or hf_id, not both")
        if self.format == "hf":
            if not self.hf_id or not self.fields:
                raise ValueError("format hf needs hf_id and fields")
        elif self.hf_id:
            if self.format not in ("gsm8k", "math", "cmath", "agieval"):
                raise ValueError(f"hf_id goes with format hf (and fields) or gsm8k, math, cmath, agieval "
                                 f"(got format {self.format})")
        elif not self.path:
            raise ValueError(f"format {self.format} needs path")
        if self.format in ("jsonl", "parquet") and not self.fields:
            raise ValueError(f"format {self.format} needs fields")
        if isinstance(self.hf_config, list) and (not self.hf_config or len(set(self.hf_config)) != len(self.hf_config)):
            raise ValueError(f"hf_config: a list needs distinct config names (got {self.hf_config})")
        return self

    def resolved_path(self, workdir: str | Path) -> Path | str | None:
        """The path with ``{workdir}`` expanded: a ``Path``, or a URL string for a workdir on an object store."""
        return None if self.path is None else _expand_workdir(self.path, workdir)


def _default_benchmarks() -> list[BenchmarkSpec]:
    # The mini-CC's own generated benchmarks (always there in a default run), then the
    # real test sets where a checkout has ../shared/data beside it.
    real = "../shared/data/benchmarks"
    specs = [
        ("minicc-gsm8k", "{workdir}/minicc/benchmarks/gsm8k/test.jsonl", True),
        ("minicc-math", "{workdir}/minicc/benchmarks/math", True),
        ("minicc-cmath", "{workdir}/minicc/benchmarks/cmath/test.jsonl", True),
        ("minicc-agieval-gaokao-mathqa", "{workdir}/minicc/benchmarks/agieval/gaokao-mathqa.jsonl", True),
        ("minicc-agieval-gaokao-mathcloze", "{workdir}/minicc/benchmarks/agieval/gaokao-mathcloze.jsonl", True),
        ("minicc-agieval-sat-math", "{workdir}/minicc/benchmarks/agieval/sat-math.jsonl", True),
        ("minicc-agieval-math", "{workdir}/minicc/benchmarks/agieval/math.jsonl", True),
        ("gsm8k", f"{real}/gsm8k/test.jsonl", False),
        ("math", f"{real}/math/MATH_test.tar.gz", False),
        ("cmath", f"{real}/cmath/test.jsonl", False),
        ("agieval-gaokao-mathqa", f"{real}/agieval/gaokao-mathqa.jsonl", False),
        ("agieval-gaokao-mathcloze", f"{real}/agieval/gaokao-mathcloze.jsonl", False),
        ("agieval-sat-math", f"{real}/agieval/sat-math.jsonl", False),
        ("agieval-math", f"{real}/agieval/math.jsonl", False),
    ]
    return [BenchmarkSpec(name=n, path=p, required=r) for n, p, r in specs]


class DecontamConfig(_Section):
    """Benchmark decontamination (``python -m pipeline decontam``; stage ``decontam``)."""

    input: str | None = Field(
        None, description="Parquet page files to scan instead (a folder, read recursively, a file, a glob or a URL; "
        "POOL or CORPUS schema; {workdir} expands); default: the recalled pages of every pool file")
    n: int = Field(10, ge=2, le=64, description="a page holding any n-gram of a benchmark text is removed")
    short_min: int = Field(3, ge=1, description="benchmark texts of short_min..short_max tokens match exactly")
    short_max: int = Field(9, ge=1)
    n_cjk: int = Field(20, ge=2, le=128, description="n for benchmark texts that are mostly CJK characters "
                       "(10 = the literal per-character rule); their exact-match bound is n_cjk - 1")
    require_word: bool = Field(True, description="formula-only n-grams and short texts (no word of 2+ letters, "
                               "no CJK character) are not evidence")
    workers: int = Field(2, ge=1, le=1024, description="Ray actors scanning pages")
    batch_rows: int = Field(2_000, ge=1, le=1_000_000, description="pages per Arrow batch read and written")
    benchmarks: list[BenchmarkSpec] = Field(default_factory=_default_benchmarks)

    @model_validator(mode="after")
    def _consistent(self) -> "DecontamConfig":
        if not self.short_min <= self.short_max < self.n:
            raise ValueError(f"need short_min <= short_max < n (got {self.short_min}, {self.short_max}, n={self.n})")
        if self.short_min >= self.n_cjk:
            raise ValueError(f"need short_min < n_cjk (got {self.short_min}, n_cjk={self.n_cjk})")
        names = [b.name for b in self.benchmarks]
        dup = sorted({x for x in names if names.count(x) > 1})
        if dup:
            raise ValueError(f"benchmark names must be unique: {dup}")
        return self


class DedupConfig(_Section):
    """Exact and MinHash near-dedup (``python -m pipeline dedup``; stage ``dedup`` after ``pool``)."""

    inputs: list[str] = Field(default_factory=list, description="Parquet files/folders/globs; empty = <workdir>/pool/pages")
    threshold: float = Field(0.75, gt=0.0, lt=1.0, description="Jaccard similarity the LSH bands are tuned for")
    num_perm: int = Field(128, ge=8, le=1024, description="MinHash permutations")
    bands: int | None = Field(None, ge=1, description="LSH bands; set with rows to override the optimum")
    rows: int | None = Field(None, ge=1, description="rows (hashes) per band")
    fp_weight: float = Field(0.2, ge=0.0, le=1.0, description="weight of false positives when choosing bands/rows")
    fn_weight: float = Field(0.8, ge=0.0, le=1.0, description="weight of false negatives when choosing bands/rows")
    word_ngram: int = Field(5, ge=1, le=50, description="shingle size in words")
    cjk_ngram: int = Field(5, ge=1, le=50, description="shingle size in characters for CJK-dominant texts")
    cjk_dominant: float = Field(0.5, ge=0.0, le=1.0, description="share of CJK tokens making a text CJK-dominant")
    max_chars: int = Field(500_000, ge=1_000, le=100_000_000, description="longer texts are signed on this many leading characters")
    seed: int = Field(1, ge=0, description="MinHash permutation seed")
    batch_rows: int = Field(2_000, ge=1, le=1_000_000, description="texts hashed per vectorised batch")
    chunk_rows: int = Field(50_000, ge=1, le=100_000_000, description="rows per signature task (whole row groups)")
    partition_rows: int = Field(4_000_000, ge=1_000, le=1_000_000_000, description="target (key, node) rows per shuffle partition")
    workers: int = Field(0, ge=0, le=4096, description="Ray tasks in flight; 0 = every CPU of the Ray cluster")
    keep_work: bool = Field(False, description="keep the shuffle files in dedup/_work/ after success")
    max_rounds: int = Field(100, ge=1, le=10_000, description="connected-components rounds before giving up")

    @model_validator(mode="after")
    def _consistent(self) -> "DedupConfig":
        if (self.bands is None) != (self.rows is None):
            raise ValueError("bands and rows must be set together (or both left out)")
        if self.bands is not None and self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands*rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}")
        if self.fp_weight + self.fn_weight <= 0:
            raise ValueError("fp_weight + fn_weight must be positive")
        return self


#: The largest fastText model a config may ask for (its input matrix, bucket * dim floats).
MAX_FASTTEXT_MODEL_BYTES = 8 << 30


class FastTextParams(_Section):
    """fastText supervised training; defaults are DeepSeekMath's (dim 256, lr 0.1, wordNgrams 3, minCount 3, epoch 3)."""

    dim: int = Field(256, ge=2, le=1024)
    lr: float = Field(0.1, gt=0.0, le=10.0)
    word_ngrams: int = Field(3, ge=1, le=6)
    min_count: int = Field(3, ge=1, le=1_000_000)
    epoch: int = Field(3, ge=1, le=1000)
    bucket: int = Field(200_000, ge=1_000, le=50_000_000, description="hash buckets for word n-grams (model size ~ bucket*dim*4 bytes, at most 8 GiB)")
    threads: int = Field(1, ge=1, le=256, description="training threads; 1 makes a model depend only on its seed")

    @model_validator(mode="after")
    def _model_size(self) -> "FastTextParams":
        size = self.bucket * self.dim * 4
        if size > MAX_FASTTEXT_MODEL_BYTES:
            raise ValueError(f"bucket * dim * 4 = {size:,} bytes: the model would exceed "
                             f"{MAX_FASTTEXT_MODEL_BYTES >> 30} GiB; lower recall.fasttext.bucket or dim")
        return self


class RecallConfig(_Section):
    """The iterative recall loop (``python -m pipeline recall``; ``rounds/rN/`` in ``make corpus``)."""

    input: str | None = Field(None, description="pool rows read as they are: a pool stage folder, a folder of Parquet "
                              "files or a glob; empty: <workdir>/pool/pages minus <workdir>/dedup/removed")
    seed_files: list[str] = Field(default_factory=list, description="OpenWebMath-format jsonl(.gz)/Parquet files "
                                  "or globs, local or fsspec URLs (hf://datasets/open-web-math/open-web-math/data/"
                                  "*.parquet); empty: <workdir>/minicc/seed/openwebmath.jsonl")
    seed_max_docs: int | None = Field(None, ge=1, le=1_000_000_000, description="keep at most this many seed positives, spread "
                                      "evenly over the seed files (the paper: 500,000); null: every row")
    seed_min_tokens: int = Field(20, ge=1, le=1_000_000, description="shorter seed texts (classifier tokens) are filtered out")
    negatives_ratio: float = Field(1.0, gt=0.0, le=100.0, description="negatives per positive, drawn from the pool")
    holdout_fraction: float = Field(0.1, gt=0.0, lt=0.5, description="share of the training pages held out for metrics")
    max_chars: int = Field(20_000, ge=100, le=100_000_000, description="characters of a page the classifier reads")
    fasttext: FastTextParams = Field(default_factory=FastTextParams)
    threshold: float | None = Field(0.5, ge=0.0, le=1.0, description="keep pages scoring at least this (null: none)")
    token_budget: int | None = Field(None, ge=1, le=10**15, description="keep the top pages up to this many tokens (null: none)")
    math_domain_share: float = Field(0.1, gt=0.0, lt=1.0, description="a domain is math when more than this share "
                                     "of its pool pages were recalled")
    prefix_depth: int = Field(1, ge=1, le=4, description="path segments of the proposed URL prefixes")
    prefix_min_pages: int = Field(5, ge=1, le=100_000_000, description="prefixes with fewer pool pages are not proposed")
    prefix_share: float = Field(0.5, gt=0.0, le=1.0, description="a prefix is proposed (accepted) when at least "
                                "this share of its pages were recalled")
    annotation_file: str | None = Field(None, description="a user's annotation TSV; wins over every round's proposal")
    saturation: float = Field(0.98, gt=0.0, le=1.0, description="stop when this share of a round's pages "
                              "were already recalled by the round before")
    max_rounds: int = Field(5, ge=1, le=100)
    workers: int = Field(2, ge=1, le=4096, description="scoring workers (one model copy each)")
    batch_rows: int = Field(2_000, ge=1, le=1_000_000, description="pages per scoring batch inside an actor")
    truth: str | None = Field(None, description="truth.parquet for precision/recall; empty: <workdir>/minicc/"
                              "truth.parquet when it exists")
    random_seed: int = Field(0, description="negatives, held-out split and fastText initialisation")

    @model_validator(mode="after")
    def _selects(self) -> "RecallConfig":
        if self.threshold is None and self.token_budget is None:
            raise ValueError("set threshold, token_budget or both (otherwise every page is recalled)")
        return self


class CorpusConfig(_Section):
    """The final shards (``<workdir>/corpus/part-*.parquet``, with ``.meta/manifest.json``)."""

    target_rows: int | None = Field(5_000, ge=1, le=1_000_000_000, description="close a shard at this many rows (null: no limit)")
    target_bytes: int | None = Field(64 << 20, ge=1 << 10, le=1 << 40, description="or at this many uncompressed bytes")
    row_group_rows: int = Field(1_000, ge=1, le=100_000_000, description="rows per Parquet row group")
    compression: Literal["zstd", "snappy", "gzip", "none"] = "zstd"

    @model_validator(mode="after")
    def _some_target(self) -> "CorpusConfig":
        if self.target_rows is None and self.target_bytes is None:
            raise ValueError("set target_rows, target_bytes or both")
        return self


class TokenizeConfig(_Section):
    """Tokenising text into Megatron indexed datasets (``<workdir>/megatron/``)."""

    tokenizer: str | None = Field(None, description="local Hugging Face tokenizer folder; null = train a BPE on the corpus")
    vocab_size: int = Field(4096, ge=300, le=1_000_000, description="vocabulary of the embedded BPE")
    train_docs: int = Field(20_000, ge=10, le=100_000_000, description="documents the embedded BPE trains on (first N of the corpus)")
    workers: int = Field(2, ge=1, le=4096, description="Ray tasks in flight")
    batch_docs: int = Field(512, ge=1, le=1_000_000, description="documents per tokenizer call")
    task_mib: int = Field(32, ge=1, le=1 << 20, description="input MiB per Ray task (Parquet row groups or a jsonl byte range)")
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
    standin_docs: int = Field(3000, ge=1, le=100_000_000, description="documents per stand-in source")

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

    hidden_size: int = Field(64, ge=8, le=65_536)
    layers: int = Field(2, ge=1, le=1_024)
    heads: int = Field(4, ge=1, le=1_024)
    kv_heads: int = Field(2, ge=1, le=1_024)
    intermediate_size: int = Field(176, ge=8, le=1 << 20)


class TrainConfig(_Section):
    """Continued pre-training (``python -m pipeline train``), written to ``<workdir>/train/``."""

    model: str | None = Field(None, description="local Hugging Face causal-LM checkpoint; null = the tiny model")
    tiny: TinyModelConfig = Field(default_factory=TinyModelConfig)
    seq_len: int = Field(128, ge=8, le=1 << 20)
    micro_batch: int = Field(8, ge=1, le=1 << 16, description="sequences per worker per forward pass")
    batch_tokens: int = Field(2048, ge=8, le=1 << 32, description="tokens per optimizer step, all workers (via accumulation)")
    steps: int = Field(200, ge=1, le=100_000_000)
    lr: float = Field(3e-3, gt=0.0, description="peak learning rate (the paper: 4.2e-4 for 7B)")
    warmup_steps: int = Field(20, ge=0, description="linear warmup (the paper: 2000)")
    weight_decay: float = Field(0.1, ge=0.0)
    beta1: float = Field(0.9, gt=0.0, lt=1.0)
    beta2: float = Field(0.95, gt=0.0, lt=1.0)
    grad_clip: float = Field(1.0, gt=0.0)
    precision: str = Field("auto", pattern="^(auto|bf16|fp32)$", description="auto: bf16 where the device supports it")
    workers: int = Field(1, ge=1, le=4096, description="Ray Train workers (DDP)")
    use_gpu: bool = Field(False)
    save_every: int = Field(50, ge=1, le=100_000_000, description="checkpoint every N steps (and at the end)")
    keep_checkpoints: int = Field(2, ge=1, le=1_000)
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


class MegatronConfig(_Section):
    """The Megatron-LM hand-off (``<workdir>/megatron/pretrain_gpt.sh``): the model it continues and the schedule.

    Defaults are DeepSeekMath's (§2.3): DeepSeek-Coder-Base-v1.5 7B, 500B tokens, ~10M tokens a batch."""

    model_name: str = Field("deepseek-ai/deepseek-coder-7b-base-v1.5", min_length=1,
                            description="the model INIT_CHECKPOINT holds (named in the script and in errors)")
    vocab_size: int = Field(102_400, ge=2, description="that model's embedding rows (config.json vocab_size)")
    vocab_padding: int = Field(4096, ge=0, description="embedding rows the model's tokenizer may leave unused "
                               "(DeepSeek's 100,015 tokens in 102,400 rows: 2,385)")
    train_tokens: float = Field(500e9, gt=0)
    batch_tokens: int = Field(10_000_000, ge=1, description="tokens per optimizer step; the global batch is this "
                              "over seq_len, rounded to a multiple of micro batch x data-parallel size")
    seq_len: int = Field(4096, ge=8)
    lr: float = Field(4.2e-4, gt=0)
    warmup_iters: int = Field(2000, ge=0)
    model_args: dict[str, int | float | str] = Field(
        default_factory=lambda: {"num-layers": 30, "hidden-size": 4096, "ffn-hidden-size": 11008,
                                 "num-attention-heads": 32, "rotary-base": 10000, "norm-epsilon": 1e-6},
        description="pretrain_gpt.py flags for the model's shape (Llama architecture: RoPE, SwiGLU, RMSNorm)")

    def tokenizer_mismatch(self, tokens: int) -> str | None:
        """Why a tokenizer of ``tokens`` tokens cannot feed this model, or None when it can."""
        if tokens > self.vocab_size:
            return (f"the tokenizer has {tokens:,} tokens but {self.model_name} has {self.vocab_size:,} embedding "
                    "rows: ids past its vocabulary would index nothing")
        if self.vocab_size - tokens > self.vocab_padding:
            return (f"the tokenizer has {tokens:,} tokens but {self.model_name} has {self.vocab_size:,} embedding "
                    f"rows ({self.vocab_size - tokens:,} unused, more than megatron.vocab_padding="
                    f"{self.vocab_padding:,}): it is not that model's tokenizer, so its ids would mean nothing to "
                    "the model")
        return None


class EvaluateConfig(_Section):
    """``python -m pipeline evaluate CHECKPOINT``: few-shot GSM8K and MATH, bits-per-byte on their solutions."""

    gsm8k: str | None = Field("{workdir}/minicc/benchmarks/gsm8k/test.jsonl",
                              description="GSM8K-format jsonl (question, answer); {workdir} expands; null: skip")
    math: str | None = Field("{workdir}/minicc/benchmarks/math", description="MATH release: folder, .tar.gz or "
                             "jsonl (problem, solution); {workdir} expands; null: skip")
    gsm8k_shots: int = Field(8, ge=0, description="few-shot examples (the first items of the file, not scored)")
    math_shots: int = Field(4, ge=0)
    limit: int | None = Field(None, ge=1, description="score at most this many items per benchmark")
    max_new_tokens: int = Field(256, ge=1, description="greedy generation length for an answer")
    max_length: int | None = Field(None, ge=16, description="context window; null: the model's")
    batch_size: int = Field(8, ge=1)
    device: str = Field("cpu", min_length=1, description="torch device, e.g. cpu or cuda")

    def path(self, name: str, workdir: str | Path) -> Path | str | None:
        value = getattr(self, name)
        return None if value is None else _expand_workdir(value, workdir)


class ValidateConfig(_Section):
    """``make validate``: the default model trained at equal tokens on the blend and on cc_text alone."""

    steps: int = Field(300, ge=2, description="optimizer steps of each run (train.batch_tokens each)")
    limit: int | None = Field(40, ge=1, description="items scored per benchmark (replaces evaluate.limit)")
    shots: int | None = Field(2, ge=0, description="few-shot examples for both benchmarks (the tiny model sees "
                              "256 positions); null: evaluate's")
    max_new_tokens: int = Field(64, ge=1, description="generation length (replaces evaluate.max_new_tokens)")
    baseline_source: str = Field("cc_text", min_length=1, description="the source trained on alone")


class Config(_Section):
    """The whole run. ``workdir`` holds one sub-folder per stage."""

    workdir: str = Field("out", min_length=1, description="the run folder: a local path or an fsspec URL "
                         "(s3://bucket/run, gs://..., memory://...)")
    storage_options: dict[str, Any] = Field(
        default_factory=dict, description="fsspec options for a URL workdir (key, secret, endpoint_url, ...); "
        "empty: fsspec's environment (AWS_*, FSSPEC_S3_ENDPOINT_URL)")
    lock_stale_seconds: float = Field(60.0, ge=2, description="a URL workdir's lock object is taken over after "
                                      "this long without its holder's heartbeat")
    synth: SynthConfig = Field(default_factory=SynthConfig)
    pool: PoolConfig = Field(default_factory=PoolConfig)
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    recall: RecallConfig = Field(default_factory=RecallConfig)
    decontam: DecontamConfig = Field(default_factory=DecontamConfig)
    corpus: CorpusConfig = Field(default_factory=CorpusConfig)
    tokenize: TokenizeConfig = Field(default_factory=TokenizeConfig)
    mixture: MixtureConfig = Field(default_factory=MixtureConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    megatron: MegatronConfig = Field(default_factory=MegatronConfig)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)
    validation: ValidateConfig = Field(default_factory=ValidateConfig)

    @field_validator("workdir")
    @classmethod
    def _workdir(cls, value: str) -> str:
        m = _URL.match(value)
        if not m or value.startswith("file://"):
            return value
        import fsspec

        scheme, rest = m.group(1), m.group(2)
        if scheme not in fsspec.available_protocols():
            raise ValueError(f"{scheme}:// is not a file system fsspec knows (e.g. s3://bucket/run, gs://..., "
                             "memory://...)")
        if not rest.strip("/"):
            raise ValueError(f"{value}: name a bucket (and a folder), e.g. {scheme}://bucket/run")
        return value.rstrip("/")

    @property
    def workdir_is_url(self) -> bool:
        return bool(_URL.match(self.workdir)) and not self.workdir.startswith("file://")

    @property
    def workdir_path(self) -> Path:
        """The workdir as a local ``Path``; a URL workdir has none (use ``workdir`` and pipeline.core.storage)."""
        if self.workdir_is_url:
            raise ConfigError(f"workdir {self.workdir} is a URL: this command needs a local workdir (or reads the "
                              "run folder through pipeline.core.storage)")
        return Path(self.workdir)

    def apply_storage_options(self) -> None:
        """Make ``storage_options`` this process's defaults for the workdir's URLs (workers get them from the
        executor)."""
        from pipeline.core import storage

        storage.set_default_options(self.storage_options, storage.protocol(self.workdir))


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


def _cross_check(cfg: Config) -> list[str]:
    """Problems between sections, as ``key: message`` lines. Today: a run on real input (``pool.inputs`` or
    ``pool.crawls``) generates no mini-CC, so nothing may depend on the mini-CC's seed or benchmarks."""
    if cfg.pool.reads_minicc:
        return []
    why = "pool.inputs / pool.crawls name real input, so no mini-CC is generated"
    problems = []
    if not cfg.recall.seed_files:
        problems.append(f"recall.seed_files: empty, but {why} (and no mini-CC seed): name an OpenWebMath-format "
                        "seed, e.g. hf://datasets/open-web-math/open-web-math/data/*.parquet")
    for i, b in enumerate(cfg.decontam.benchmarks):
        if b.required and b.path and "{workdir}/minicc" in b.path.replace("\\", "/"):
            problems.append(f"decontam.benchmarks.{i}: {b.name} reads {b.path}, but {why}: remove it or set "
                            "required: false")
    return problems


def config_from_dict(data: dict[str, Any] | None, source: str = "<dict>") -> Config:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"invalid configuration in {source}: the top level must be a mapping, got {type(data).__name__}")
    try:
        cfg = Config.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_error(err, source)) from None
    problems = _cross_check(cfg)
    if problems:
        raise ConfigError("\n".join([f"invalid configuration in {source}:"] + [f"  {p}" for p in problems]))
    return cfg


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
