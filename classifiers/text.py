"""The one text normalisation shared by classifier training and pool scoring.

fastText splits its input on white space and builds word n-grams over the
tokens, so what a "word" is decides what the classifier can learn. Public math
classifiers (OpenWebMath's MathScore, FineMath's fastText filters, the
DeepSeekMath description) all lower-case, collapse white space and split
punctuation away from words; for math we also want the LaTeX to survive as
features instead of melting into a few long, unique strings. So:

* NFKC then lower case: full-width digits and letters (common in Chinese pages)
  become ASCII; ``\\Delta`` and ``\\delta`` become one feature (the case of a TeX
  command carries little signal about "is this math").
* LaTeX commands are tokens of their own (``\\frac``, ``\\sqrt``, ``\\int``), as
  are the math symbols around them (``= + - ^ _ { } ( ) < >`` ...): with
  ``wordNgrams=3`` fastText then sees ``\\frac {`` and ``^ <num>`` n-grams,
  which are what makes LaTeX-heavy text recognisable.
* Every run of digits becomes ``<num>``: "3 apples" and "17 apples" are one
  pattern, which is what lets word problems (few symbols, many numbers)
  generalise from a handful of seed examples instead of memorising numbers.
* Chinese (and Japanese kana) is written without spaces. Without segmentation a
  whole sentence would be one unique "word" that fastText can never match again.
  Each CJK character becomes a token; fastText's word n-grams (3 by default)
  then add character bigrams and trigrams, which is how n-gram Chinese
  classifiers work without a dictionary segmenter (jieba would need a dictionary
  and gives different splits for math terms it does not know; per-character
  tokens plus n-grams cover them all and cost nothing).
* Prose punctuation (``. , ; : ? "`` and their CJK forms) is dropped: it is in
  every page and would only make each page longer to score.

The same function runs in training and in the scoring actors, so the features
never drift between the two. ``max_chars`` bounds the cost of one page: the
first characters of a page say whether it is math.
"""
from __future__ import annotations

import re
import unicodedata

NUM_TOKEN = "<num>"

# CJK Unified Ideographs (+ extension A, compatibility), kana, Hangul syllables.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_PROSE_PUNCT = ".,;:?\"'`\u201c\u201d\u2018\u2019\u3001\u3002\uff0c\uff1b\uff1a\uff1f\uff01\u300a\u300b\u300c\u300d\u2026\u00b7"

# One pass over the text; the order of the alternatives matters (first match wins at each position).
_TOKEN_RE = re.compile(
    r"\\[a-z]+"                       # a LaTeX command: \frac, \alpha (after lower-casing)
    r"|\\[^\sa-z]"                    # an escaped symbol or spacing command: \{ \, \\
    rf"|[{_CJK}]"                     # one CJK character
    r"|\d+(?:[.,]\d+)*"               # a number (1,000 / 3.14) -> <num>
    rf"|[^\W\d_{_CJK}]+"              # a run of letters (any script but CJK)
    rf"|[^\w\s{re.escape(_PROSE_PUNCT)}]|_"  # any other single symbol: = + ^ _ { } ( ) $ ...
)
_DIGIT_START = re.compile(r"\d")


def tokenize(text: str, max_chars: int | None = None) -> list[str]:
    """The classifier's tokens of ``text`` (see the module docstring)."""
    if max_chars is not None and len(text) > max_chars:
        text = text[:max_chars]
    text = unicodedata.normalize("NFKC", text).lower()
    return [NUM_TOKEN if _DIGIT_START.match(t) else t for t in _TOKEN_RE.findall(text)]


def normalize(text: str, max_chars: int | None = None) -> str:
    """One line of space-separated tokens: what fastText trains on and predicts from."""
    return " ".join(tokenize(text, max_chars))


# A rough token count for budgets: words, numbers and symbols count one each,
# and so does each CJK character (about one LM token per character in Chinese).
_COUNT_RE = re.compile(rf"[{_CJK}]|[^\s{_CJK}]+")


def count_tokens(text: str) -> int:
    """Approximate LM tokens of a page (white-space words + CJK characters), for token budgets."""
    return len(_COUNT_RE.findall(text))
