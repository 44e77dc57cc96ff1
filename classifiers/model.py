"""fastText training, prediction and held-out metrics for the math classifier.

Two labels, ``__label__math`` and ``__label__other``; the score of a page is the
model's probability of ``__label__math`` on the normalised text
(:func:`classifiers.text.normalize`).
"""
from __future__ import annotations

import logging
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from pipeline.core.io import OutputCheckFailed, atomic_path, discard, is_vouched, vouch

log = logging.getLogger(__name__)

MATH = "__label__math"
OTHER = "__label__other"
_NAN_RETRIES = 5


@dataclass(frozen=True)
class Example:
    key: str  # stable identity (pool id or seed "<file>:<line>"): decides the held-out split
    text: str  # normalised
    label: int  # 1 math, 0 other


def holdout_of(key: str, fraction: float, seed: int) -> bool:
    """Deterministic split by key: the same page is held out in every run with this seed."""
    import hashlib

    h = int.from_bytes(hashlib.blake2b(f"{seed}\0{key}".encode(), digest_size=8).digest(), "big")
    return h / 2**64 < fraction


def write_fasttext_file(path: str | Path, examples: Iterable[Example], shuffle_seed: int | None = None) -> int:
    """Write ``__label__X text`` lines atomically (a local path or a URL); shuffled (fastText learns in file
    order)."""
    from pipeline.core import storage

    rows = [f"{MATH if e.label else OTHER} {e.text}\n" for e in examples if e.text]
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(rows)
    storage.write_bytes(str(path), "".join(rows).encode("utf-8"))
    return len(rows)


def train(train_file: str | Path, model_path: str | Path, params, seed: int) -> None:
    """Train with ``params`` (:class:`pipeline.core.config.FastTextParams`) and save the model atomically."""
    import fasttext

    for attempt in range(1, _NAN_RETRIES + 1):
        try:
            model = fasttext.train_supervised(
                input=str(train_file), dim=params.dim, lr=params.lr, wordNgrams=params.word_ngrams,
                minCount=params.min_count, epoch=params.epoch, bucket=params.bucket, thread=params.threads,
                seed=seed, loss="softmax", verbose=0,
            )
            break
        except RuntimeError as exc:
            # fasttext-numpy2 0.10.4 now and then stops a small training run with "Encountered NaN" although the
            # same file, parameters and seed train cleanly in the next call (seen under pytest and on a loaded
            # machine); a clean run is the same model, so retrying keeps the result deterministic.
            if "NaN" not in str(exc) or attempt == _NAN_RETRIES:
                raise
            log.warning("fastText stopped on NaN (attempt %d of %d), training again: %s", attempt, _NAN_RETRIES,
                        train_file)
    save_verified(model, model_path)


def save_verified(model, model_path: str | Path) -> dict:
    """Save ``model``, check the file holds it, rename it into place, then vouch for it (size and sha256).

    fastText's ``save_model`` ignores write errors: on a full disk it leaves a short file that loads
    without complaint and predicts from a zeroed matrix. So the saved file is loaded back and must give
    the same dimension, labels, words, input and output matrices and predictions as the model in memory.
    """
    model_path = Path(model_path)
    discard(model_path)  # the old vouch no longer applies, whatever happens below
    with atomic_path(model_path) as tmp:
        model.save_model(str(tmp))
        check_model_file(tmp, model, model_path)
    return vouch(model_path, {"dim": model.get_dimension(), "labels": list(model.get_labels())})


def check_model_file(path: str | Path, model, name: str | Path | None = None) -> None:
    """Raise OutputCheckFailed unless the fastText file at ``path`` loads back as ``model``."""
    import shutil

    import fasttext

    name = name or path
    size = os.path.getsize(path)
    free = shutil.disk_usage(Path(path).parent).free
    why = None
    mine = model.get_input_matrix()  # a copy: taken once
    want = expected_model_bytes(model, mine.shape)
    if size != want:  # checked before loading: fastText reads a short file without complaint, or crashes on it
        why = f"is not the {want:,} bytes the model takes"
    else:
        try:
            again = fasttext.load_model(str(path))
        except Exception as exc:  # noqa: BLE001 - fastText raises ValueError or RuntimeError on a bad file
            why = f"does not load ({type(exc).__name__})"
    if why is None:
        if again.get_dimension() != model.get_dimension() or list(again.get_labels()) != list(model.get_labels()) \
                or len(again.get_words()) != len(model.get_words()):
            why = "loads with another shape"
        elif not (np.array_equal(again.get_output_matrix(), model.get_output_matrix())
                  and np.array_equal(again.get_input_matrix(), mine)):
            why = "loads with other weights (cut short)"
        else:
            (la, pa_), (lb, pb) = again.predict("x + y = 1", k=2), model.predict("x + y = 1", k=2)
            if tuple(la) != tuple(lb) or not np.array_equal(pa_, pb):
                why = "predicts differently"
    if why is not None:
        full = " (the disk is full)" if free < want - size or free < (1 << 20) else ""
        raise OutputCheckFailed(f"fastText model {name}: the saved file ({size:,} bytes) {why}; {free:,} bytes free "
                                f"on its disk{full}: not published")


def expected_model_bytes(model, input_shape: tuple[int, int] | None = None) -> int:
    """The size of fastText's binary file (format version 12) for ``model``: header and arguments, the dictionary
    (each word and label with its count and type), then the input and output matrices with their shapes."""
    entries = sum(len(w.encode("utf-8")) + 1 + 8 + 1 for w in [*model.get_words(), *model.get_labels()])
    rows_in, dim = input_shape or model.get_input_matrix().shape
    rows_out = len(model.get_labels())
    return 8 + 56 + 28 + entries + (1 + 16 + rows_in * dim * 4) + (1 + 16 + rows_out * dim * 4)


def is_verified(model_path: str | Path, storage_options: dict | None = None) -> bool:
    """The model file is the one :func:`save_verified` checked and vouched for (same size and sha256); on an
    object store, the ``.verified.json`` written beside it by :func:`publish_model`."""
    from pipeline.core import storage

    if not storage.is_url(model_path):
        return is_vouched(model_path)
    import hashlib
    import json

    try:
        record = json.loads(storage.read_bytes(f"{model_path}.verified.json", storage_options))
        entry = record["files"][storage.name(model_path)]
        if storage.size(model_path, storage_options) != entry["bytes"]:
            return False
        h = hashlib.sha256()
        with storage.open_file(model_path, "rb", storage_options) as fh:
            while block := fh.read(1 << 20):
                h.update(block)
        return h.hexdigest() == entry["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return False


def model_digest(model_path: str | Path, storage_options: dict | None = None) -> str:
    """The sha256 the model's ``.verified.json`` records ("" without one): what its scores depend on."""
    import json

    from pipeline.core import storage

    try:
        record = json.loads(storage.read_bytes(f"{model_path}.verified.json", storage_options))
        return str(record["files"][storage.name(model_path)]["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def publish_model(local_model: Path, model_url: str, storage_options: dict | None = None) -> None:
    """Copy a checked local model to ``model_url`` on an object store, then its vouch (readers trust the
    model only while the vouch's size and sha256 match it)."""
    from pipeline.core import storage

    local_model = Path(local_model)
    storage.write_bytes(model_url, local_model.read_bytes(), storage_options)
    storage.write_bytes(f"{model_url}.verified.json",
                        local_model.with_name(local_model.name + ".verified.json").read_bytes(), storage_options)


def load_local_copy(model_path: str | Path, storage_options: dict | None = None):
    """:func:`load` from a local path, or from a local copy of a model on an object store."""
    from pipeline.core import storage

    if not storage.is_url(model_path):
        return load(model_path)
    import tempfile

    with tempfile.TemporaryDirectory(prefix="recall-model-") as tmp:
        local = Path(tmp) / "model.bin"
        with storage.open_file(model_path, "rb", storage_options) as src, open(local, "wb") as dst:
            while block := src.read(1 << 22):
                dst.write(block)
        return load(local)


def train_unit(unit: dict) -> dict:
    """One training run (the executor's ``fasttext_train`` step, in a fresh worker process): train on
    ``unit["train"]`` (None: the model is there already), then return the held-out metrics of
    ``unit["holdout"]`` at ``unit["threshold"]`` (None: none). Files and model may be URLs."""
    import tempfile

    from pipeline.core import storage

    model_path, opts = unit["model"], unit.get("storage_options")
    with tempfile.TemporaryDirectory(prefix="recall-train-") as tmp:
        if unit["train"] is not None:
            if storage.is_url(model_path):
                local_train = Path(tmp) / "train.txt"
                local_train.write_bytes(storage.read_bytes(unit["train"], opts))
                local_model = Path(tmp) / "model.bin"
                train(local_train, local_model, unit["params"], unit["seed"])
                publish_model(local_model, model_path, opts)
            else:
                train(unit["train"], model_path, unit["params"], unit["seed"])
    if unit.get("holdout") is None:
        return {}
    model = load_local_copy(model_path, opts)
    labels, texts = [], []
    for line in storage.read_text(unit["holdout"], opts).splitlines():
        lab, _, text = line.partition(" ")
        labels.append(lab == MATH)
        texts.append(text)
    return binary_metrics(np.array(labels, dtype=bool), math_probability(model, texts), unit["threshold"])


def train_and_evaluate(train_file: str | None, model_path: str, params, seed: int, *, holdout_file: str | None,
                       threshold: float, executor=None, storage_options: dict | None = None) -> dict:
    """Train (``train_file`` None: only evaluate) on the executor, in a fresh worker process with
    ``params.threads`` CPUs; return the held-out metrics (empty without ``holdout_file``).

    fasttext-numpy2 0.10.4 keeps state between training calls in one process: the same file, parameters
    and seed give a different model (or a spurious "Encountered NaN") depending on what the process did
    before. A worker that exits after one call starts from the same state every time, so a model depends
    only on its inputs and seed. On a cluster this also moves training off the driver.
    """
    from pipeline.core import executor as ex

    executor = executor or ex.current()
    unit = {"train": None if train_file is None else str(train_file), "model": str(model_path), "params": params,
            "seed": seed, "holdout": None if holdout_file is None else str(holdout_file), "threshold": threshold,
            "storage_options": storage_options}
    [res] = executor.map("fasttext_train", train_unit, [unit], key=lambda u: "model",
                         resources=ex.Resources(cpus=params.threads), fresh_worker=True, progress=False)
    return res.result


def train_isolated(train_file: str | Path, model_path: str | Path, params, seed: int, executor=None) -> None:
    """:func:`train` in a fresh worker process (see :func:`train_and_evaluate`)."""
    train_and_evaluate(str(train_file), str(model_path), params, seed, holdout_file=None, threshold=0.5,
                       executor=executor)


def load(model_path: str | Path):
    import fasttext

    if not Path(model_path).is_file():
        raise FileNotFoundError(f"model not found: {model_path}")
    return fasttext.load_model(str(model_path))


def load_verified(model_path: str | Path):
    """:func:`load`, only for a model file that :func:`save_verified` vouched for."""
    if not is_verified(model_path):
        raise OutputCheckFailed(f"fastText model {model_path} is not the one that was trained and checked "
                                "(no .verified.json, or its size or sha256 differ): train it again")
    return load(model_path)


def math_probability(model, texts: Sequence[str]) -> np.ndarray:
    """P(math) of each normalised text, from one batched ``predict`` call (k=2: both labels)."""
    if not texts:
        return np.zeros(0, dtype=np.float32)
    labels, probs = model.predict(list(texts), k=2)
    out = np.empty(len(texts), dtype=np.float32)
    for i, (ls, ps) in enumerate(zip(labels, probs)):
        p = 0.0
        for lab, pr in zip(ls, ps):
            if lab == MATH:
                p = float(pr)
                break
        else:
            # only one label came back: the other one's probability is what is left
            p = 1.0 - float(ps[0]) if ls and ls[0] == OTHER else 0.0
        out[i] = min(max(p, 0.0), 1.0)
    return out


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """Area under the ROC curve by the rank-sum (Mann-Whitney U) formula, ties averaged.

    Written here because it is a few lines of numpy; scikit-learn would be a large
    dependency for one function.
    """
    labels = np.asarray(labels, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    # average ranks over runs of equal scores
    boundaries = np.flatnonzero(np.diff(sorted_scores)) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [len(scores)]))
    for s, e in zip(starts, ends):
        ranks[order[s:e]] = (s + e + 1) / 2.0  # 1-based mean rank of positions s..e-1
    u = ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def binary_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict:
    labels = np.asarray(labels, dtype=bool)
    pred = np.asarray(scores) >= threshold
    tp = int((pred & labels).sum())
    fp = int((pred & ~labels).sum())
    fn = int((~pred & labels).sum())
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = 2 * precision * recall / (precision + recall) if precision and recall else None
    return {
        "threshold": threshold, "positives": int(labels.sum()), "negatives": int((~labels).sum()),
        "tp": tp, "fp": fp, "fn": fn,
        "precision": _r(precision), "recall": _r(recall), "f1": _r(f1), "auc": _r(roc_auc(labels, scores)),
    }


def _r(x: float | None) -> float | None:
    return None if x is None else round(float(x), 4)


def model_size_mb(path: str | Path) -> float:
    return round(os.path.getsize(path) / 2**20, 1)
