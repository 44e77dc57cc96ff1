"""Training samples from blended Megatron indexed datasets, deterministic and resumable from a few integers.

* A source is one ``{prefix}_text_document`` dataset (read with megatron-core's ``IndexedDataset``) seen as one
  stream of tokens (documents end to end, each ending in EOD), cut into windows of ``seq_len + 1`` tokens that
  overlap by one token (inputs are tokens ``[0, seq_len)``, labels ``[1, seq_len]``), as Megatron's GPT
  dataset does. Each pass over a source visits its windows in a fresh permutation drawn from
  ``(seed, source, epoch)``.
* The blend picks the source of the next sample deterministically: the source whose share so far lags its
  weight the most (Megatron's ``BlendedDataset`` uses the same error-driven rule). After ``n`` samples every
  source has ``weight * n`` samples, within one.
* The whole position is the per-source sample counts: a checkpoint stores them and a resumed run continues
  with exactly the samples the unbroken run would have drawn.
"""
from __future__ import annotations

import numpy as np


class TokenWindows:
    """One source's token stream, cut into overlapping windows of ``seq_len + 1`` tokens."""

    def __init__(self, prefix: str, seq_len: int):
        from training.indexed import megatron_indexed

        self.prefix = prefix
        self.seq_len = seq_len
        self.dataset = megatron_indexed().IndexedDataset(prefix)
        lengths = np.asarray(self.dataset.sequence_lengths, dtype=np.int64)
        self.starts = np.concatenate([[0], np.cumsum(lengths)])  # token offset where each document starts
        self.tokens = int(self.starts[-1])
        self.windows = (self.tokens - 1) // seq_len
        if self.windows < 1:
            raise ValueError(f"{prefix}: {self.tokens} tokens, fewer than one window of {seq_len + 1}")

    def window(self, k: int) -> np.ndarray:
        start = k * self.seq_len
        end = start + self.seq_len + 1
        doc = int(np.searchsorted(self.starts, start, side="right")) - 1
        pieces = []
        while start < end:
            take = min(end, int(self.starts[doc + 1])) - start
            pieces.append(self.dataset.get(doc, offset=start - int(self.starts[doc]), length=take))
            start += take
            doc += 1
        return np.concatenate(pieces).astype(np.int64)


class BlendedSampler:
    """Which source, and which window of it, each successive sample comes from."""

    def __init__(self, weights: list[float], windows: list[int], seed: int):
        w = np.asarray(weights, dtype=np.float64)
        if (w <= 0).any() or len(w) != len(windows):
            raise ValueError(f"weights must be positive, one per source: {weights}")
        self.weights = w / w.sum()
        self.windows = [int(n) for n in windows]
        self.seed = int(seed)
        self.counts = np.zeros(len(w), dtype=np.int64)
        self._perm: dict[int, tuple[int, np.ndarray]] = {}

    def _permutation(self, source: int, epoch: int) -> np.ndarray:
        cached = self._perm.get(source)
        if cached is None or cached[0] != epoch:
            rng = np.random.default_rng([self.seed, source, epoch])
            cached = (epoch, rng.permutation(self.windows[source]))
            self._perm[source] = cached
        return cached[1]

    def next(self) -> tuple[int, int]:
        """(source, window index) of the next sample."""
        n = int(self.counts.sum())
        source = int(np.argmax(self.weights * (n + 1) - self.counts))  # ties: the first source
        c = int(self.counts[source])
        self.counts[source] += 1
        epoch, pos = divmod(c, self.windows[source])
        return source, int(self._permutation(source, epoch)[pos])

    def take(self, n: int) -> list[tuple[int, int]]:
        return [self.next() for _ in range(n)]

    def state_dict(self) -> dict:
        return {"counts": self.counts.tolist(), "weights": self.weights.tolist(), "seed": self.seed,
                "windows": self.windows}

    def load_state_dict(self, state: dict) -> None:
        if state["windows"] != self.windows or state["seed"] != self.seed or \
                not np.allclose(state["weights"], self.weights):
            raise ValueError("checkpoint was written for another blend (sources, weights, seed or seq_len differ)")
        self.counts = np.asarray(state["counts"], dtype=np.int64)


class BlendedData:
    """Global batches of token windows for ``world`` ranks; every rank keeps the same sampler state."""

    def __init__(self, prefixes: list[str], weights: list[float], seq_len: int, seed: int):
        self.sources = [TokenWindows(p, seq_len) for p in prefixes]
        self.sampler = BlendedSampler(weights, [s.windows for s in self.sources], seed)

    def global_batch(self, samples: int, rank: int, world: int, micro_batch: int) -> list[np.ndarray]:
        """Draw ``samples`` samples (the whole step, all ranks) and return this rank's micro-batches: sample
        ``j`` of the step goes to rank ``(j // micro_batch) % world``."""
        picks = self.sampler.take(samples)
        mine = [p for j, p in enumerate(picks) if (j // micro_batch) % world == rank]
        rows = [self.sources[s].window(k) for s, k in mine]
        return [np.stack(rows[i:i + micro_batch]) for i in range(0, len(rows), micro_batch)]
