"""Tokenisers for the Megatron stage: any local Hugging Face tokenizer, or an embedded byte-level BPE.

The embedded default trains a byte-level BPE with ``tokenizers`` on the corpus itself (nothing is downloaded)
and saves it as a Hugging Face tokenizer folder, so Megatron-LM (``--tokenizer-type HuggingFaceTokenizer``),
transformers and this package all load the same files. The end-of-document token is the tokenizer's
``eos_token`` (Megatron's ``HuggingFaceTokenizer.eod`` is ``eos_token_id`` too).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable

log = logging.getLogger(__name__)

EOD_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|pad|>"


def load_tokenizer(path: str | Path):
    """Load a Hugging Face tokenizer from a local folder (never from the Hub)."""
    from transformers import AutoTokenizer

    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"tokenizer folder not found: {path}")
    tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    if tok.eos_token_id is None:
        raise ValueError(f"tokenizer at {path} has no eos_token: Megatron's EOD needs one")
    return tok


_PROBE = "Let $x^2 + y^2 = 1$; 求 x 的值. def f(n): return n * 2"


def check_tokenizer_dir(path: str | Path, tok, name: str | Path | None = None) -> None:
    """Raise OutputCheckFailed unless the saved tokenizer folder loads back as ``tok`` (vocabulary, EOD, ids)."""
    from pipeline.core.io import OutputCheckFailed

    try:
        again = load_tokenizer(path)
    except Exception as exc:  # noqa: BLE001 - a half-written folder fails in json, tokenizers or transformers
        raise OutputCheckFailed(f"tokenizer {name or path}: the saved folder does not load ({type(exc).__name__}): "
                                "not published") from None
    if len(again) != len(tok) or again.eos_token_id != tok.eos_token_id or \
            again.encode(_PROBE, add_special_tokens=False) != tok.encode(_PROBE, add_special_tokens=False):
        raise OutputCheckFailed(f"tokenizer {name or path}: the saved folder loads as another tokenizer: not published")


def vocab_size(tok) -> int:
    """Token ids run from 0 to ``len(tok) - 1`` (added tokens included), as Megatron counts them."""
    return len(tok)


def train_bpe_tokenizer(texts: Iterable[str], out_dir: str | Path, vocab_size: int = 4096):
    """Train a byte-level BPE on ``texts`` and save it as a Hugging Face tokenizer in ``out_dir``.

    Byte-level: every string is encodable (LaTeX, Chinese, code) without an unknown token. The trainer is
    deterministic for the same texts in the same order.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from pipeline.core.io import OutputCheckFailed, atomic_path, discard, vouch

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOD_TOKEN, PAD_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token=EOD_TOKEN, bos_token=EOD_TOKEN,
                                   pad_token=PAD_TOKEN, model_max_length=1 << 30)
    out_dir = Path(out_dir)
    discard(out_dir)
    with atomic_path(out_dir) as tmp:
        try:
            fast.save_pretrained(str(tmp))
        except OSError:
            raise
        except Exception as exc:  # noqa: BLE001 - the Rust tokenizers library raises a bare Exception on ENOSPC
            raise OutputCheckFailed(f"tokenizer {out_dir}: saving failed: {str(exc)[:200]}: not published") from None
        check_tokenizer_dir(tmp, fast, out_dir)
    vouch(out_dir, {"tokens": len(fast)})
    log.info("trained byte-level BPE tokenizer (%d tokens) -> %s", len(fast), out_dir)
    return fast
