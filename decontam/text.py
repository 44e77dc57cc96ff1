"""Normalisation and tokenisation shared by benchmark indexing and page scanning.

The rule (README "Decontamination"):

* normalise: Unicode NFKC, lower case, every run of white space collapsed to one
  space, ends stripped. Exact-substring matching of short benchmark texts works on
  this string, and audit-log offsets are character offsets into it.
* tokens: each CJK character (Han ideographs, kana) is one token; any other run
  of letters and digits is one token (a "word"); punctuation, symbols and the
  underscore separate tokens and are not tokens themselves.

Mixed Chinese + LaTeX text therefore tokenises per character for the Chinese and
per word for the LaTeX: ``已知 $a \\in R,(1+a i) i=3+i$`` gives
``已 知 a in r 1 a i i 3 i``. Dropping the punctuation makes the 10-gram test blind
to how a page spaces or delimits its formulas (``$x+1$`` vs ``\\( x + 1 \\)``),
which differs between extractors, while word and digit order still has to match.
"""
from __future__ import annotations

import re
import unicodedata

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
TOKEN_RE = re.compile(f"[{CJK_RANGES}]|[^\\W_{CJK_RANGES}]+")
_CJK_RE = re.compile(f"[{CJK_RANGES}]")
_WS_RE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """NFKC, lower case, white space collapsed to single spaces, ends stripped."""
    return _WS_RE.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()


def tokens(norm: str) -> list[str]:
    """Tokens of an already normalised string (see module docstring)."""
    return TOKEN_RE.findall(norm)


def token_spans(norm: str) -> list[tuple[int, int]]:
    """Character spans of :func:`tokens` in ``norm`` (only needed to report a match)."""
    return [m.span() for m in TOKEN_RE.finditer(norm)]


def is_cjk(ch: str) -> bool:
    return bool(_CJK_RE.match(ch))


def is_word_char(ch: str) -> bool:
    """A character that continues a (non-CJK) word: exact matches may not cut through one."""
    return ch.isalnum() and not is_cjk(ch)
