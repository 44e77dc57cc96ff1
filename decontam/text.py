"""Normalisation and tokenisation shared by benchmark indexing and page scanning.

The rule (docs/decontam.md):

* normalise: Unicode NFKC, lower case, every run of white space collapsed to one
  space, ends stripped. Exact-substring matching of short benchmark texts works on
  this string, and audit-log offsets are character offsets into it.
* tokens: each CJK character (Han ideographs, kana) is one token; any other run
  of letters and digits is one token (a "word"); punctuation, symbols and the
  underscore separate tokens and are not tokens themselves; TeX control words
  (``\\frac``, ``\\sqrt``, ``\\left``) are markup and are not tokens either.

Mixed Chinese + LaTeX text therefore tokenises per character for the Chinese and
per word for the LaTeX: ``已知 $a \\in R,(1+a i) i=3+i$`` gives
``已 知 a r 1 a i i 3 i``. Dropping the punctuation makes the 10-gram test blind
to how a page spaces or delimits its formulas (``$x+1$`` vs ``\\( x + 1 \\)``),
which differs between extractors, while word and digit order still has to match.
"""
from __future__ import annotations

import re
import unicodedata

import numpy as np

#: Scripts written without spaces, counted one character per token: CJK unified
#: ideographs (+ extension A, compatibility, extension B..F), hiragana, katakana,
#: CJK symbols are punctuation and excluded. Hangul is written with spaces and is
#: tokenised per word like Latin text.
CJK_RANGES = (
    "\u3040-\u30ff"  # hiragana, katakana
    "\u3400-\u4dbf"  # CJK extension A
    "\u4e00-\u9fff"  # CJK unified ideographs
    "\uf900-\ufaff"  # CJK compatibility ideographs
    "\U00020000-\U0002fa1f"  # CJK extensions B..F, compatibility supplement
)

# One CJK character, or a maximal run of word characters that are neither CJK nor
# "_" (LaTeX ``a_1`` is two tokens). One compiled regex keeps tokenising in C.
_TOKEN = f"[{CJK_RANGES}]|[^\\W_{CJK_RANGES}]+"
TOKEN_RE = re.compile(_TOKEN)
# TeX control words (``\frac``, ``\left``) are markup, not words of the text: they are
# blanked before tokenising, so a 10-gram means ten tokens of content.
TEX_COMMAND_RE = re.compile(r"\\[a-z]+")
_SPLIT_RE = re.compile(f"({_TOKEN})")
_CJK_RE = re.compile(f"[{CJK_RANGES}]")
_WORD_RE = re.compile(r"[^\W\d_]{2,}")
_WS_RE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """NFKC, lower case, white space collapsed to single spaces, ends stripped."""
    return _WS_RE.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()


def tokens(norm: str) -> list[str]:
    """Tokens of an already normalised string (see module docstring)."""
    return TOKEN_RE.findall(TEX_COMMAND_RE.sub(" ", norm) if "\\" in norm else norm)


def token_spans(norm: str) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends): character spans of :func:`tokens` in ``norm`` (only needed to report a match).

    TeX words are blanked with as many spaces as they have characters, so offsets hold; one
    ``split`` and a cumulative sum of part lengths give every span without a Python loop.
    """
    blank = TEX_COMMAND_RE.sub(lambda m: " " * (m.end() - m.start()), norm) if "\\" in norm else norm
    parts = _SPLIT_RE.split(blank)  # [separator, token, separator, token, ..., separator]
    lens = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
    ends = np.cumsum(lens)[1::2]
    return ends - lens[1::2], ends


def is_wordy(tok: str) -> bool:
    """A CJK character or a word of two or more letters: what makes a window more than a formula."""
    return bool(_CJK_RE.match(tok) or _WORD_RE.fullmatch(tok))


def is_cjk(ch: str) -> bool:
    return bool(_CJK_RE.match(ch))


def is_word_char(ch: str) -> bool:
    """A character that continues a (non-CJK) word: exact matches may not cut through one."""
    return ch.isalnum() and not is_cjk(ch)
