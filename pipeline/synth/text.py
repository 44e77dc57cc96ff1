"""Page contents for the mini-CC: math exposition, word problems, and the
non-math pages (including hard negatives) that surround them on the web.

A document is a title plus blocks. A block is ``("p", segments)``,
``("display", Formula)``, ``("h2", text)``, ``("code", text)``,
``("table", rows)`` or ``("list", items)``; segments are plain strings or
inline :class:`Formula` objects, so the same content can be rendered in any
math markup (see ``markup.py``) or as OpenWebMath-style plain text.

Sentences come from many frames whose slots are filled with Faker words, names,
numbers and SymPy formulas, in English (``en_US``) and Chinese (``zh_CN``).
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Union

from faker import Faker

from pipeline.synth.formulas import TOPICS, Formula, formula, inline_symbol

Segment = Union[str, Formula]


@dataclass
class Post:
    """A reply on a thread page: an answer on a Q&A site, a post in a forum thread, a blog comment.

    ``comments`` are the short comments under it (segment lists, formulas allowed); ``quote`` is the
    part of an earlier post it quotes (author, segments), as forum replies do.
    """

    blocks: list
    author: str
    reputation: int
    votes: int
    date: tuple  # (year, month, day, hour, minute): each layout formats it its own way
    comments: list = field(default_factory=list)
    accepted: bool = False
    quote: tuple | None = None
    signature: str | None = None


@dataclass
class Doc:
    """A title, the opening blocks (article body, question, first post) and the replies (``posts``)."""

    title: str
    blocks: list = field(default_factory=list)
    lang: str = "en"
    kind: str = ""
    posts: list = field(default_factory=list)
    author: str = ""
    date: tuple = (2024, 1, 15, 9, 30)
    comments: list = field(default_factory=list)  # comments under the opening post

    def formulas(self) -> list[Formula]:
        """Every formula of the main content: opening blocks, every reply, quote and comment."""
        out = _block_formulas(self.blocks)
        for segs in self.comments:
            out.extend(s for s in segs if isinstance(s, Formula))
        for p in self.posts:
            if p.quote:
                out.extend(s for s in p.quote[1] if isinstance(s, Formula))
            out.extend(_block_formulas(p.blocks))
            for segs in p.comments:
                out.extend(s for s in segs if isinstance(s, Formula))
        return out


def _block_formulas(blocks) -> list[Formula]:
    out = []
    for b in blocks:
        if b[0] == "display":
            out.append(b[1])
        elif b[0] == "p":
            out.extend(s for s in b[1] if isinstance(s, Formula))
    return out


def _segs_text(segs, inline: str) -> str:
    return "".join(inline.format(s.tex) if isinstance(s, Formula) else s for s in segs)


def _blocks_text(blocks, inline: str, display: str) -> list[str]:
    parts = []
    for b in blocks:
        if b[0] == "p":
            parts.append(_segs_text(b[1], inline))
        elif b[0] == "display":
            parts.append(display.format(b[1].tex))
        elif b[0] in ("h2", "code"):
            parts.append(b[1])
        elif b[0] == "list":
            parts.extend(f"- {item}" for item in b[1])
        elif b[0] == "table":
            parts.extend(" | ".join(row) for row in b[1])
    return parts


def plain_text(doc: Doc, inline: str = "${}$", display: str = "$${}$$") -> str:
    """Render a doc as text with TeX delimiters (OpenWebMath's convention): every post and comment included."""
    parts = [doc.title] + _blocks_text(doc.blocks, inline, display)
    parts.extend(_segs_text(c, inline) for c in doc.comments)
    for p in doc.posts:
        if p.quote:
            parts.append(_segs_text(p.quote[1], inline))
        parts.extend(_blocks_text(p.blocks, inline, display))
        parts.extend(_segs_text(c, inline) for c in p.comments)
    return "\n\n".join(parts)


def random_date(rng: random.Random, lo: int = 2012, hi: int = 2024) -> tuple:
    return (rng.randint(lo, hi), rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23), rng.randint(0, 59))


def later(date: tuple, rng: random.Random) -> tuple:
    """A date a little after ``date`` (a reply comes after what it answers)."""
    y, mo, d, h, mi = date
    mi += rng.randint(3, 59)
    h += mi // 60 + rng.randint(0, 30)
    d += h // 24
    mo += (d - 1) // 28
    y += (mo - 1) // 12
    return (y, (mo - 1) % 12 + 1, (d - 1) % 28 + 1, h % 24, mi % 60)


# ----------------------------------------------------------------------------
# English math exposition
# ----------------------------------------------------------------------------

TERMS = {
    "calculus": ["derivative", "integral", "limit", "continuous function", "chain rule", "product rule",
                 "antiderivative", "tangent line", "critical point", "Taylor series", "mean value theorem",
                 "fundamental theorem of calculus", "inflection point", "Riemann sum", "improper integral",
                 "power series", "radius of convergence", "partial derivative"],
    "algebra": ["polynomial", "root", "quadratic formula", "discriminant", "factorisation", "coefficient",
                "identity", "induction hypothesis", "arithmetic progression", "geometric series",
                "inequality", "AM-GM inequality", "binomial theorem", "recurrence relation", "closed form"],
    "linear_algebra": ["matrix", "determinant", "eigenvalue", "eigenvector", "basis", "linear map", "kernel",
                       "rank", "characteristic polynomial", "diagonalisable matrix", "orthogonal projection",
                       "vector space", "inner product", "trace", "Jordan normal form"],
    "probability": ["random variable", "expected value", "variance", "binomial distribution",
                    "independent events", "conditional probability", "density function", "normal distribution",
                    "Bayes' theorem", "sample space", "moment generating function", "law of large numbers",
                    "Markov chain", "standard deviation"],
    "number_theory": ["prime", "divisor", "congruence", "residue class", "Fermat's little theorem",
                      "Euler's totient function", "greatest common divisor", "Chinese remainder theorem",
                      "Diophantine equation", "quadratic residue", "prime factorisation", "Euclidean algorithm"],
    "geometry": ["triangle", "hypotenuse", "circle", "radius", "Pythagorean theorem", "inscribed angle",
                 "area", "law of cosines", "similar triangles", "perpendicular bisector", "circumcircle",
                 "regular polygon", "unit circle"],
}

ADJ = ["real", "positive", "nonzero", "bounded", "continuous", "smooth", "finite", "integer", "arbitrary",
       "fixed", "monotone", "differentiable", "non-negative", "odd", "even", "rational"]
OBJ = ["number", "function", "sequence", "constant", "parameter", "matrix", "point", "interval", "set", "variable"]

# {m}: inline formula; {t}/{t2}: terms of the topic; {a}: adjective; {o}: object; {n}: small number.
EN_FRAMES = [
    "Let {m} be a {a} {o}.",
    "Suppose that {m} and consider the {t}.",
    "By the {t}, we have {m}.",
    "Applying the {t} to {m} gives the result.",
    "It follows that {m}, which proves the claim.",
    "Note that {m} whenever {m}.",
    "Recall the definition of the {t}: it is the unique {o} with {m}.",
    "We first show that the {t} exists, and then that {m}.",
    "Differentiating both sides and using the {t}, one obtains {m}.",
    "Hence {m} for every {a} {o} {m}.",
    "Since {m}, the {t} must vanish.",
    "Consider the {t} of {m} on the interval where {m}.",
    "I think the trick is to use the {t} instead of the {t2}.",
    "Can someone explain why {m} implies {m}?",
    "Your argument works, but you need {m} for the {t} to apply.",
    "This is a standard exercise on the {t}; see any textbook chapter on the {t2}.",
    "Substituting {m} we get a simpler expression.",
    "Thus the {t} equals {m}, as expected.",
    "Write {m} and expand using the {t}.",
    "The key observation is that {m}.",
    "Therefore {m}.",
    "We can assume without loss of generality that {m}.",
    "The case {m} is trivial, so let {m}.",
    "Combining this with the {t2}, we conclude that {m}.",
    "A quick sanity check with {m} confirms the formula.",
    "Equivalently, the {t} can be written as {m}.",
    "If {m}, then the {t} is {a}, by induction on {m}.",
    "This answer uses the {t}; a proof via the {t2} is also possible.",
    "Taking {m} shows that the bound is sharp.",
    "In particular, {m} and {m}.",
    "The {t} is defined only when {m}.",
    "To see this, compare the {t} with {m}.",
    "Now integrate term by term, which is allowed because {m}.",
    "Observe that {m} is a {a} {o}.",
    "From the previous step, {m}, so {m}.",
    "The answer is {m}.",
]

TITLE_FRAMES = [
    "How to compute the {t} of {m}?",
    "Proof that {m}",
    "Why does {m} hold?",
    "Understanding the {t}",
    "Evaluating {m}",
    "Question about the {t} and the {t2}",
    "Show that {m} for all {m}",
    "Finding the {t} when {m}",
    "Is it true that {m}?",
    "Lecture notes: the {t}",
    "Exercise {n}: the {t}",
    "A short proof of the {t}",
]

CONNECTIVES = ["", "", "", "Indeed, ", "Moreover, ", "In other words, ", "First, ", "Next, ", "Finally, ",
               "On the other hand, ", "Similarly, ", "Clearly, ", "Hmm, ", "Thanks! "]


def _fill(frame: str, rng: random.Random, topic: str, inline_pool: list[Formula]) -> list[Segment]:
    terms = TERMS[topic]
    segs: list[Segment] = []
    buf = ""
    i = 0
    while i < len(frame):
        if frame[i] == "{":
            j = frame.index("}", i)
            slot = frame[i + 1:j]
            if slot == "m":
                segs.append(buf)
                buf = ""
                use_pool = inline_pool and rng.random() < 0.35
                segs.append(rng.choice(inline_pool) if use_pool else (
                    formula(rng, topic) if rng.random() < 0.45 else inline_symbol(rng)))
            elif slot == "t":
                buf += rng.choice(terms)
            elif slot == "t2":
                buf += rng.choice(TERMS[rng.choice(TOPICS)])
            elif slot == "a":
                buf += rng.choice(ADJ)
            elif slot == "o":
                buf += rng.choice(OBJ)
            elif slot == "n":
                buf += str(rng.randint(1, 40))
            i = j + 1
        else:
            buf += frame[i]
            i += 1
    segs.append(buf)
    return [s for s in segs if s != ""]


def _as_inline(f: Formula) -> Formula:
    return Formula(f.tex, f.topic, False)


def math_title_en(rng: random.Random, topic: str) -> list[Segment]:
    return _fill(rng.choice(TITLE_FRAMES), rng, topic, [])


def math_paragraph_en(rng: random.Random, fk: Faker, topic: str, sentences: int, pool: list[Formula]) -> list[Segment]:
    segs: list[Segment] = []
    for k in range(sentences):
        if rng.random() < 0.12:
            segs.append(fk.sentence(nb_words=rng.randint(6, 14)) + " ")
            continue
        frame = rng.choice(EN_FRAMES)
        filled = _fill(frame, rng, topic, pool)
        conn = rng.choice(CONNECTIVES)
        if conn and isinstance(filled[0], str):
            filled[0] = conn + filled[0][0].lower() + filled[0][1:]
        segs.extend(_as_inline(s) if isinstance(s, Formula) else s for s in filled)
        segs.append(" ")
    return segs


COMMENT_FRAMES_EN = [
    "Hint: consider {m}.",
    "Why not use the {t} directly?",
    "Typo in the second line: it should be {m}.",
    "Nice answer, but you also need {m} for the {t} to apply.",
    "Are you sure that {m}? I get something different.",
    "This is a duplicate of an older question about the {t}.",
    "What have you tried so far?",
    "Thanks, that makes sense now.",
    "You can check this numerically with {m}.",
    "The case {m} needs a separate argument.",
    "Could you add the definition of {m} you are using?",
    "+1, the trick with the {t} is neat.",
]

REPLY_OPENERS_EN = ["", "", "Thanks for the replies. ", "Good point. ", "I agree with the above. ", "Not quite. ",
                    "Following up on this: ", "Update: ", "To add to the previous answer, "]


def math_comment_en(rng: random.Random, fk: Faker, topic: str, pool: list[Formula]) -> list[Segment]:
    """A one-line comment under a post: a hint, a correction, a thank-you (sometimes with a formula)."""
    segs = [_as_inline(s) if isinstance(s, Formula) else s for s in _fill(rng.choice(COMMENT_FRAMES_EN), rng, topic, pool)]
    if rng.random() < 0.3:
        segs.insert(0, f"@{fk.user_name()} ")
    return segs


def _poster(rng: random.Random, fk: Faker) -> tuple[str, int]:
    return fk.user_name(), int(rng.paretovariate(1.2) * 40)


def _comments(rng: random.Random, fk: Faker, topic: str, pool: list[Formula], most: int) -> list:
    return [math_comment_en(rng, fk, topic, pool) for _ in range(rng.choice([0, 0, 1, 1, 2, most]))]


def math_doc_en(rng: random.Random, fk: Faker, topic: str | None = None, answers: int = 0) -> Doc:
    """A LaTeX-heavy English page: a lecture note or blog post, or a Q&A page (``answers`` > 0): a question
    and that many answers, each with its own formulas, votes, author and comments."""
    topic = topic or rng.choice(TOPICS)
    title_segs = math_title_en(rng, topic)
    title = "".join(f"${s.tex}$" if isinstance(s, Formula) else s for s in title_segs)
    doc = Doc(title=title, lang="en", kind="math_latex", date=random_date(rng))
    doc.author = fk.user_name() if answers else fk.name()
    pool: list[Formula] = []
    for _ in range(rng.randint(1, 3) if answers else rng.randint(3, 7)):
        doc.blocks.append(("p", math_paragraph_en(rng, fk, topic, rng.randint(2, 5), pool)))
        if rng.random() < 0.55:
            f = formula(rng, topic)
            pool.append(f)
            doc.blocks.append(("display", Formula(f.tex, f.topic, True)))
    if not answers:
        return doc
    doc.comments = _comments(rng, fk, topic, pool, 3)
    date = doc.date
    for a in range(answers):
        date = later(date, rng)
        author, rep = _poster(rng, fk)
        blocks = []
        for _ in range(rng.randint(1, 3)):
            blocks.append(("p", math_paragraph_en(rng, fk, topic, rng.randint(2, 4), pool)))
            if rng.random() < 0.5:
                blocks.append(("display", Formula(formula(rng, topic).tex, topic, True)))
        doc.posts.append(Post(blocks=blocks, author=author, reputation=rep, votes=rng.randint(-2, 60), date=date,
                              comments=_comments(rng, fk, topic, pool, 4), accepted=(a == 0 and rng.random() < 0.6)))
    doc.posts.sort(key=lambda p: (not p.accepted, -p.votes))  # accepted first, then by score
    return doc


SECTION_HEADINGS_EN = ["Definition", "Properties", "Examples", "Proof", "Applications", "Exercises",
                       "Generalisations", "Worked example", "Summary", "Historical remarks"]


def add_sections(doc: Doc, rng: random.Random) -> Doc:
    """Split a long page into sections (a textbook chapter, a wiki article): headings after the lead."""
    n = len(doc.blocks)
    cuts = sorted(rng.sample(range(1, n), min(n - 1, rng.randint(1, 3)))) if n > 2 else []
    heads = rng.sample(SECTION_HEADINGS_EN, len(cuts))
    for k, (at, h) in enumerate(reversed(list(zip(cuts, heads)))):
        doc.blocks.insert(at, ("h2", h))
    return doc


def math_thread_en(rng: random.Random, fk: Faker, topic: str | None = None, replies: int = 8) -> Doc:
    """A long forum thread: an opening post and ``replies`` replies by a handful of members, some quoting
    an earlier post (formulas included), some with a signature."""
    topic = topic or rng.choice(TOPICS)
    title_segs = math_title_en(rng, topic)
    title = "".join(f"${s.tex}$" if isinstance(s, Formula) else s for s in title_segs)
    doc = Doc(title=title, lang="en", kind="math_latex", date=random_date(rng))
    members = [(*_poster(rng, fk), (f"{fk.catch_phrase()}." if rng.random() < 0.5 else None))
               for _ in range(rng.randint(2, 5))]
    doc.author = members[0][0]
    pool: list[Formula] = []
    doc.blocks.append(("p", math_paragraph_en(rng, fk, topic, rng.randint(2, 4), pool)))
    if rng.random() < 0.5:
        f = formula(rng, topic)
        pool.append(f)
        doc.blocks.append(("display", Formula(f.tex, f.topic, True)))
    bodies = [(doc.author, doc.blocks[0][1])]
    date = doc.date
    for k in range(replies):
        date = later(date, rng)
        author, rep, sig = members[(k + 1) % len(members)] if rng.random() < 0.7 else rng.choice(members)
        quote = None
        if rng.random() < 0.3:
            who, segs = rng.choice(bodies)
            quote = (who, segs[: max(1, len(segs) // 2)])
        segs = math_paragraph_en(rng, fk, topic, rng.randint(1, 3), pool)
        opener = rng.choice(REPLY_OPENERS_EN)
        if opener and isinstance(segs[0], str):
            segs[0] = opener + segs[0]
        blocks = [("p", segs)]
        if rng.random() < 0.25:
            blocks.append(("display", Formula(formula(rng, topic).tex, topic, True)))
        bodies.append((author, segs))
        doc.posts.append(Post(blocks=blocks, author=author, reputation=rep, votes=rng.choice([0, 0, 0, 1, 2, 5]),
                              date=date, quote=quote, signature=sig))
    return doc


def word_problem_thread(rng: random.Random, fk: Faker, lang: str, replies: int) -> Doc:
    """A word problem asked on a Q&A site or forum (no LaTeX): the problem, then replies that solve it."""
    doc = word_problem_doc(rng, fk, lang, n_problems=1)
    doc.date = random_date(rng)
    doc.author = fk.user_name() if lang == "en" else fk.name()
    solution = doc.blocks[1][1][0]
    doc.blocks = [doc.blocks[0]] + doc.blocks[2:]
    date = doc.date
    for k in range(replies):
        date = later(date, rng)
        author, rep = _poster(rng, fk)
        text = solution if k == 0 else (fk.sentence(nb_words=12) if lang == "en" else fk.sentence())
        doc.posts.append(Post(blocks=[("p", [text])], author=author, reputation=rep, votes=rng.randint(0, 12),
                              date=date, accepted=(k == 0 and rng.random() < 0.5)))
    return doc


# ----------------------------------------------------------------------------
# Word problems (no LaTeX): English and Chinese, in "page" and "exam" phrasing
# ----------------------------------------------------------------------------

EN_ITEMS = ["apples", "pencils", "stickers", "marbles", "cookies", "books", "tickets", "cupcakes", "oranges",
            "notebooks", "seashells", "balloons", "muffins", "trading cards", "bottles of juice", "flowers",
            "comic books", "erasers", "candles", "postcards"]
EN_PLACES = ["the market", "the bakery", "a garage sale", "the school fair", "the bookstore", "the farm stand",
             "the toy shop", "the craft store"]
EN_VEHICLES = ["car", "train", "bus", "bicycle", "boat", "truck"]


def _money(x: float) -> str:
    return f"${x:.2f}".replace(".00", "")


def word_problem_en(rng: random.Random, fk: Faker, style: str = "page") -> tuple[str, str, str]:
    """An English grade-school word problem: (question, worked solution, final answer)."""
    name, other = fk.first_name(), fk.first_name()
    item = rng.choice(EN_ITEMS)
    fam = rng.randrange(8)
    exam = style == "exam"
    if fam == 0:
        a, b, c = rng.randint(12, 90), rng.randint(2, 11), rng.randint(2, 9)
        q = (f"{name} collects {item} and owns {a} of them. Each week {name} gets {b} more, and after {c} weeks "
             f"gives half of the total to {other}. How many {item} are left?") if not exam else (
            f"At the start {name} had {a} {item}. For {c} weeks in a row, {b} {item} were added every week. "
            f"Then {other} received one half. What number of {item} remained with {name}?")
        total = a + b * c
        ans = total - total // 2
        s = f"After {c} weeks {name} has {a} + {b} * {c} = {total} {item}. Half of {total} is {total // 2}, so {ans} are left."
    elif fam == 1:
        price, n, paid = rng.randint(2, 19) + rng.choice([0, 0.5, 0.25]), rng.randint(2, 12), rng.choice([50, 100, 200])
        cost = price * n
        while cost > paid:
            n -= 1
            cost = price * n
        q = (f"At {rng.choice(EN_PLACES)}, {item} cost {_money(price)} each. {name} buys {n} of them and pays with "
             f"a {_money(paid)} bill. How much change does {name} get?") if not exam else (
            f"One of the {item} sells for {_money(price)}. If {name} purchases {n} and hands over {_money(paid)}, "
            f"what amount of change should be returned?")
        s = f"The {item} cost {n} * {_money(price)} = {_money(cost)}. The change is {_money(paid)} - {_money(cost)} = {_money(paid - cost)}."
        ans = _money(paid - cost).lstrip("$")
    elif fam == 2:
        v, t = rng.randint(20, 90), rng.randint(2, 8)
        veh = rng.choice(EN_VEHICLES)
        extra = rng.randint(10, 60)
        q = (f"A {veh} travels at {v} miles per hour for {t} hours and then another {extra} miles. "
             f"How far does it travel in total?") if not exam else (
            f"{name} drives a {veh} for {t} hours with a steady speed of {v} mph, then covers {extra} more miles. "
            f"Find the whole distance in miles.")
        s = f"In {t} hours it covers {v} * {t} = {v * t} miles, so the total is {v * t} + {extra} = {v * t + extra} miles."
        ans = v * t + extra
    elif fam == 3:
        age = rng.randint(4, 15)
        mult = rng.randint(2, 5)
        yrs = rng.randint(2, 12)
        q = (f"{name} is {age} years old. {other} is {mult} times as old as {name}. How old will {other} be "
             f"in {yrs} years?") if not exam else (
            f"The age of {other} is {mult} times the age of {name}, who is {age}. What will be the age of {other} "
            f"{yrs} years from now?")
        s = f"{other} is {age} * {mult} = {age * mult} years old, so in {yrs} years {other} will be {age * mult + yrs}."
        ans = age * mult + yrs
    elif fam == 4:
        w, l = rng.randint(3, 30), rng.randint(3, 40)
        cost = rng.randint(2, 9)
        q = (f"{name} wants to cover a rectangular garden that is {w} feet wide and {l} feet long with mulch. "
             f"Mulch costs {_money(cost)} per square foot. How much will it cost?") if not exam else (
            f"A rectangle of {w} ft by {l} ft must be covered; each square foot of covering is {_money(cost)}. "
            f"Compute the total price.")
        s = f"The area is {w} * {l} = {w * l} square feet, so the cost is {w * l} * {_money(cost)} = {_money(w * l * cost)}."
        ans = w * l * cost
    elif fam == 5:
        rate1, rate2 = rng.randint(2, 9), rng.randint(2, 9)
        hours = rng.randint(2, 8)
        q = (f"{name} can pack {rate1} boxes an hour and {other} can pack {rate2} boxes an hour. "
             f"If they work together for {hours} hours, how many boxes do they pack?") if not exam else (
            f"Working alone, {name} fills {rate1} boxes per hour while {other} fills {rate2}. "
            f"How many boxes are filled by both of them in {hours} hours?")
        s = f"Together they pack {rate1} + {rate2} = {rate1 + rate2} boxes an hour, so {(rate1 + rate2) * hours} boxes in {hours} hours."
        ans = (rate1 + rate2) * hours
    elif fam == 6:
        total = rng.randint(3, 12) * 12
        frac_num = rng.choice([1, 1, 2, 3])
        frac_den = rng.choice([3, 4, 6])
        if frac_num >= frac_den:
            frac_num = 1
        q = (f"There are {total} students in a school. {frac_num}/{frac_den} of them take the bus and the rest walk. "
             f"How many students walk?") if not exam else (
            f"Of the {total} pupils at an academy, a fraction {frac_num}/{frac_den} ride buses. "
            f"Determine how many pupils do not ride a bus.")
        bus = total * frac_num // frac_den
        s = f"{total} * {frac_num}/{frac_den} = {bus} take the bus, so {total} - {bus} = {total - bus} walk."
        ans = total - bus
    else:
        saved, weekly, goal = rng.randint(10, 80), rng.randint(5, 25), rng.randint(150, 400)
        weeks = -(-(goal - saved) // weekly)
        q = (f"{name} has saved {_money(saved)} and saves {_money(weekly)} every week. {name} wants to buy a bike "
             f"that costs {_money(goal)}. How many weeks will it take?") if not exam else (
            f"Starting with {_money(saved)} in savings and adding {_money(weekly)} weekly, after how many whole weeks "
            f"can {name} afford a purchase priced at {_money(goal)}?")
        s = (f"{name} still needs {_money(goal)} - {_money(saved)} = {_money(goal - saved)}. "
             f"{_money(goal - saved)} / {_money(weekly)} rounds up to {weeks} weeks.")
        ans = weeks
    return q, s, str(ans)


ZH_ITEMS = ["苹果", "铅笔", "练习本", "气球", "糖果", "图书", "橘子", "邮票", "贴纸", "饼干", "玩具车", "鲜花"]


def word_problem_zh(rng: random.Random, fk: Faker, style: str = "page") -> tuple[str, str, str]:
    """A Chinese primary-school word problem: (question, solution, final answer)."""
    name, other = fk.name(), fk.name()
    item = rng.choice(ZH_ITEMS)
    fam = rng.randrange(6)
    exam = style == "exam"
    if fam == 0:
        a, b = rng.randint(3, 9), rng.randint(4, 12)
        q = (f"{name}买了{a}盒{item}，每盒有{b}个，{name}一共买了多少个{item}？") if not exam else (
            f"每盒{item}装{b}个，{a}盒共装{item}几个？")
        s = f"{a}×{b}={a * b}（个），答：一共{a * b}个。"
        ans = a * b
    elif fam == 1:
        a, b = rng.randint(30, 99), rng.randint(5, 29)
        q = (f"{name}有{a}张{item}，送给{other}{b}张后，还剩下多少张？") if not exam else (
            f"原有{item}{a}张，分出去{b}张，剩余张数是多少？")
        s = f"{a}-{b}={a - b}（张），答：还剩{a - b}张。"
        ans = a - b
    elif fam == 2:
        v, t = rng.randint(40, 90), rng.randint(2, 6)
        q = (f"一辆汽车每小时行驶{v}千米，{name}坐这辆车行驶了{t}小时，一共行驶了多少千米？") if not exam else (
            f"汽车速度为每时{v}千米，经过{t}时后走过的路程为多少千米？")
        s = f"{v}×{t}={v * t}（千米），答：一共行驶了{v * t}千米。"
        ans = v * t
    elif fam == 3:
        price, n = rng.randint(2, 15), rng.randint(2, 9)
        paid = ((price * n) // 10 + 1) * 10
        q = (f"每支{item}{price}元，{name}买了{n}支，付给售货员{paid}元，应找回多少元？") if not exam else (
            f"{item}单价{price}元，购买{n}支并支付{paid}元，找零是几元？")
        s = f"{price}×{n}={price * n}（元），{paid}-{price * n}={paid - price * n}（元），答：应找回{paid - price * n}元。"
        ans = paid - price * n
    elif fam == 4:
        w, l = rng.randint(3, 20), rng.randint(5, 30)
        q = (f"一块长方形菜地长{l}米，宽{w}米，这块菜地的面积是多少平方米？") if not exam else (
            f"长{l}米、宽{w}米的长方形，面积为多少平方米？")
        s = f"{l}×{w}={l * w}（平方米），答：面积是{l * w}平方米。"
        ans = l * w
    else:
        total = rng.randint(4, 12) * 6
        k = rng.choice([2, 3, 6])
        q = (f"{name}班上有{total}名同学，其中1/{k}参加了数学兴趣小组，参加的有多少人？") if not exam else (
            f"全班{total}人，数学小组人数占全班的1/{k}，数学小组有几人？")
        s = f"{total}÷{k}={total // k}（人），答：有{total // k}人参加。"
        ans = total // k
    return q, s, str(ans)


def word_problem_doc(rng: random.Random, fk: Faker, lang: str, n_problems: int | None = None) -> Doc:
    """A worksheet or a forum thread with plain-text word problems and solutions (no LaTeX at all)."""
    n_problems = n_problems or rng.randint(1, 4)
    if lang == "zh":
        doc = Doc(title=rng.choice(["应用题练习", "数学应用题解答", "小学数学题", "求助一道数学题", "每日一练"])
                  + f"（{rng.randint(1, 300)}）", lang="zh", kind="math_word")
        for i in range(n_problems):
            q, s, _ = word_problem_zh(rng, fk)
            doc.blocks.append(("p", [f"{i + 1}. {q}"]))
            doc.blocks.append(("p", [f"解：{s}"]))
        if rng.random() < 0.5:
            doc.blocks.append(("p", [fk.sentence() + "这道题考查乘法和减法的应用。"]))
    else:
        doc = Doc(title=rng.choice(["Word problem help", "Practice problems", "Homework question",
                                    "Math word problems with answers", "Can't solve this one"])
                  + f" #{rng.randint(1, 999)}", lang="en", kind="math_word")
        for i in range(n_problems):
            q, s, _ = word_problem_en(rng, fk)
            doc.blocks.append(("p", [f"Problem {i + 1}. {q}"]))
            doc.blocks.append(("p", [f"Solution. {s}"]))
        if rng.random() < 0.5:
            doc.blocks.append(("p", [fk.sentence() + " Try drawing a picture before you compute anything."]))
    return doc


# ----------------------------------------------------------------------------
# Chinese math exposition (with formulas)
# ----------------------------------------------------------------------------

ZH_TERMS = {
    "calculus": ["导数", "积分", "极限", "连续函数", "链式法则", "切线", "极值点", "泰勒展开", "定积分"],
    "algebra": ["多项式", "方程的根", "判别式", "因式分解", "数学归纳法", "等差数列", "等比数列", "不等式"],
    "linear_algebra": ["矩阵", "行列式", "特征值", "特征向量", "线性变换", "秩", "向量空间"],
    "probability": ["随机变量", "数学期望", "方差", "二项分布", "条件概率", "正态分布", "独立事件"],
    "number_theory": ["质数", "约数", "同余", "最大公约数", "费马小定理", "欧拉函数"],
    "geometry": ["三角形", "斜边", "圆", "半径", "勾股定理", "面积", "余弦定理", "相似三角形"],
}
ZH_FRAMES = [
    "已知{m}，求{t}。", "设{m}，则{m}。", "解：由{t}可得{m}。", "所以{m}。", "因为{m}，所以{t}存在。",
    "由题意得{m}，代入得{m}。", "根据{t}，有{m}。", "当{m}时，{t}取得最小值。", "证明：先证明{m}。",
    "故所求{t}为{m}。", "注意到{m}，因此{m}。", "这道题主要考查{t}和{t2}。", "令{m}，化简得{m}。",
    "综上所述，{m}。", "对{m}求导，得{m}。",
]


def math_doc_zh(rng: random.Random, fk: Faker, topic: str | None = None) -> Doc:
    topic = topic or rng.choice(TOPICS)
    t = rng.choice(ZH_TERMS[topic])
    doc = Doc(title=rng.choice([f"{t}的求法", f"关于{t}的一道题", f"{t}例题讲解", f"高中数学：{t}", f"{t}练习"]),
              lang="zh", kind="math_latex")
    pool: list[Formula] = []
    for _ in range(rng.randint(3, 6)):
        segs: list[Segment] = []
        for _ in range(rng.randint(2, 4)):
            frame = rng.choice(ZH_FRAMES)
            frame = frame.replace("{t2}", rng.choice(ZH_TERMS[rng.choice(TOPICS)])).replace("{t}", rng.choice(ZH_TERMS[topic]))
            pieces = frame.split("{m}")
            for k, piece in enumerate(pieces):
                if piece:
                    segs.append(piece)
                if k < len(pieces) - 1:
                    f = formula(rng, topic) if rng.random() < 0.5 else inline_symbol(rng)
                    segs.append(Formula(f.tex, f.topic, False))
        if rng.random() < 0.2:
            segs.append(fk.sentence())
        doc.blocks.append(("p", segs))
        if rng.random() < 0.5:
            f = formula(rng, topic)
            pool.append(f)
            doc.blocks.append(("display", Formula(f.tex, f.topic, True)))
    return doc


# ----------------------------------------------------------------------------
# Non-math pages, including hard negatives
# ----------------------------------------------------------------------------

NEWS_TOPICS_EN = {
    "politics": ["council", "election", "senator", "policy", "vote", "campaign", "minister", "parliament"],
    "travel": ["beach", "hotel", "flight", "museum", "itinerary", "island", "passport", "old town"],
    "food": ["recipe", "restaurant", "chef", "menu", "flavour", "harvest", "bakery", "street food"],
    "tech": ["smartphone", "startup", "cloud service", "update", "battery", "app", "privacy", "chip"],
    "health": ["clinic", "vaccine", "sleep", "exercise", "nutrition", "patients", "therapy", "diet"],
    "culture": ["album", "festival", "novel", "director", "exhibition", "concert", "premiere", "theatre"],
}


#: Faker's day_of_week() draws a date up to "now", so the text would change with the clock.
WEEKDAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def news_doc_en(rng: random.Random, fk: Faker) -> Doc:
    topic = rng.choice(list(NEWS_TOPICS_EN))
    words = NEWS_TOPICS_EN[topic]
    doc = Doc(title=f"{fk.catch_phrase()}: {rng.choice(words)} in {fk.city()}", lang="en", kind="news")
    for _ in range(rng.randint(3, 7)):
        sents = [fk.sentence(nb_words=rng.randint(8, 18)) for _ in range(rng.randint(2, 5))]
        if rng.random() < 0.6:
            sents.insert(rng.randrange(len(sents) + 1),
                         f"\u201c{fk.sentence(nb_words=10)}\u201d said {fk.name()}, {fk.job().lower()} at {fk.company()}.")
        if rng.random() < 0.5:
            sents.append(f"The {rng.choice(words)} in {fk.city()} drew {rng.randint(2, 900)} people on {rng.choice(WEEKDAYS_EN)}.")
        doc.blocks.append(("p", [" ".join(sents)]))
    return doc


def finance_doc_en(rng: random.Random, fk: Faker) -> Doc:
    doc = Doc(title=f"Markets: {fk.company()} {rng.choice(['rallies', 'slides', 'holds steady'])} as "
                    f"{rng.choice(['rates', 'earnings', 'oil', 'the dollar'])} {rng.choice(['rise', 'fall', 'stall'])}",
              lang="en", kind="hard_finance")
    rows = [["Ticker", "Last", "Change", "% Chg", "Volume"]]
    for _ in range(rng.randint(6, 14)):
        last = rng.uniform(5, 900)
        ch = rng.uniform(-25, 25)
        rows.append([fk.lexify("????").upper(), f"{last:,.2f}", f"{ch:+.2f}", f"{ch / last * 100:+.2f}%",
                     f"{rng.randint(10_000, 9_000_000):,}"])
    doc.blocks.append(("p", [f"Shares of {fk.company()} rose {rng.uniform(0.1, 9):.1f}% to ${rng.uniform(10, 400):.2f} "
                             f"after quarterly revenue of ${rng.uniform(1, 90):.1f} billion beat estimates by "
                             f"{rng.randint(1, 30)} cents a share. {fk.sentence(nb_words=12)}"]))
    doc.blocks.append(("table", rows))
    doc.blocks.append(("p", [f"The yield on the 10-year note was {rng.uniform(1, 6):.2f}%, while the index closed at "
                             f"{rng.uniform(3000, 40000):,.2f}, a change of {rng.uniform(-3, 3):+.2f}%. {fk.paragraph(nb_sentences=3)}"]))
    return doc


CODE_SNIPPETS = [
    "def area(radius):\n    return 3.14159 * radius ** 2\n\nprint(area({a}))",
    "for i in range({a}):\n    total += i * {b}\nprint(total)",
    "const sum = values.reduce((acc, x) => acc + x * {b}, 0);\nconsole.log(sum / values.length);",
    "SELECT customer_id, SUM(amount) AS total\nFROM orders\nWHERE amount > {a}\nGROUP BY customer_id;",
    "x = np.linspace(0, {a}, {b})\ny = np.sin(x) ** 2\nplt.plot(x, y)",
    "if (count % {b} == 0) {{\n    buffer.flush();\n}}",
    "git rebase -i HEAD~{b}\ngit push --force-with-lease",
    "docker run -p {a}:{a} -e WORKERS={b} myimage:latest",
]


def code_doc_en(rng: random.Random, fk: Faker) -> Doc:
    lang = rng.choice(["Python", "JavaScript", "SQL", "Go", "Rust", "Bash"])
    doc = Doc(title=f"{rng.choice(['How to', 'Tutorial:', 'Quick tip:'])} {fk.bs()} in {lang}", lang="en",
              kind="hard_code")
    for _ in range(rng.randint(2, 4)):
        doc.blocks.append(("p", [f"{fk.paragraph(nb_sentences=rng.randint(2, 4))} In {lang} you can write it like this:"]))
        doc.blocks.append(("code", rng.choice(CODE_SNIPPETS).format(a=rng.randint(2, 9000), b=rng.randint(2, 64))))
    doc.blocks.append(("p", [f"Tested with {lang} {rng.randint(1, 3)}.{rng.randint(0, 12)}. {fk.sentence()}"]))
    return doc


PHYSICS = ["dark matter", "neutrino", "quantum dot", "superconductor", "gravitational wave", "exoplanet", "plasma",
           "laser pulse", "black hole", "graphene", "qubit", "cosmic ray"]


def physics_news_doc_en(rng: random.Random, fk: Faker) -> Doc:
    thing = rng.choice(PHYSICS)
    doc = Doc(title=f"Physicists observe {rng.choice(['unexpected', 'record', 'elusive', 'new'])} {thing} behaviour",
              lang="en", kind="hard_physics_news")
    for _ in range(rng.randint(3, 6)):
        doc.blocks.append(("p", [
            f"Researchers at the University of {fk.city()} measured the {thing} at {rng.uniform(1, 900):.1f} "
            f"{rng.choice(['kelvin', 'nanometres', 'teraelectronvolts', 'gigahertz', 'light-years'])}, "
            f"a result that their model equations did not predict. {fk.sentence(nb_words=14)} "
            f"\u201c{fk.sentence(nb_words=9)}\u201d said {fk.name()}, who led the team of {rng.randint(3, 60)}. "
            f"{fk.sentence(nb_words=12)}"]))
    return doc


def sports_doc_en(rng: random.Random, fk: Faker) -> Doc:
    sport = rng.choice(["football", "basketball", "hockey", "baseball", "rugby"])
    doc = Doc(title=f"{fk.city()} {rng.choice(['beat', 'edge', 'crush', 'draw with'])} {fk.city()} in {sport} thriller",
              lang="en", kind="hard_sports")
    rows = [["Team", "P", "W", "D", "L", "Pts"]]
    for _ in range(rng.randint(6, 12)):
        w, d, l = rng.randint(0, 20), rng.randint(0, 8), rng.randint(0, 20)
        rows.append([fk.city(), str(w + d + l), str(w), str(d), str(l), str(3 * w + d)])
    doc.blocks.append(("p", [f"Final score {rng.randint(0, 120)}-{rng.randint(0, 120)}. {fk.name()} scored "
                             f"{rng.randint(1, 40)} points in {rng.randint(12, 48)} minutes. {fk.paragraph(nb_sentences=3)}"]))
    doc.blocks.append(("table", rows))
    return doc


def recipe_doc_en(rng: random.Random, fk: Faker) -> Doc:
    dish = f"{rng.choice(['Lemon', 'Garlic', 'Spiced', 'Honey', 'Smoky'])} {rng.choice(['chicken', 'lentil soup', 'bread', 'pasta', 'tart'])}"
    doc = Doc(title=f"{dish} (serves {rng.randint(2, 8)})", lang="en", kind="recipe")
    doc.blocks.append(("list", [f"{rng.choice(['1/2', '1', '2', '3/4', '1 1/2'])} {rng.choice(['cup', 'tbsp', 'tsp', 'kg'])} "
                                f"{fk.word()}" for _ in range(rng.randint(4, 9))]))
    for i in range(rng.randint(2, 5)):
        doc.blocks.append(("p", [f"Step {i + 1}. {fk.sentence(nb_words=14)} Bake at {rng.choice([180, 200, 220])} "
                                 f"degrees for {rng.randint(10, 60)} minutes."]))
    return doc


def user_profile_doc(rng: random.Random, fk: Faker, site: str) -> Doc:
    """A member page on a math Q&A site: about the user, not about math."""
    user = fk.user_name()
    doc = Doc(title=f"User {user} - {site}", lang="en", kind="user_profile")
    doc.blocks.append(("p", [f"Member for {rng.randint(1, 12)} years, last seen {rng.randint(1, 59)} minutes ago. "
                             f"Reputation {rng.randint(1, 90_000):,}; {rng.randint(0, 40)} gold, {rng.randint(0, 90)} silver "
                             f"and {rng.randint(0, 200)} bronze badges. Location: {fk.city()}, {fk.country()}."]))
    doc.blocks.append(("p", [f"About me: {fk.paragraph(nb_sentences=rng.randint(2, 5))}"]))
    doc.blocks.append(("list", [f"{fk.word()} · {rng.randint(1, 500)} posts" for _ in range(rng.randint(3, 8))]))
    return doc


def tags_doc(rng: random.Random, fk: Faker, site: str) -> Doc:
    doc = Doc(title=f"Tags - {site}", lang="en", kind="tag_index")
    doc.blocks.append(("p", ["A tag is a keyword or label that categorizes your question with other, similar questions. "
                             "Using the right tags makes it easier for others to find and answer your question."]))
    doc.blocks.append(("list", [f"{fk.word()}-{fk.word()} × {rng.randint(10, 90_000)} · {rng.randint(1, 40)} asked this week"
                                for _ in range(rng.randint(8, 20))]))
    return doc


def site_about_doc(rng: random.Random, fk: Faker, site: str, lang: str) -> Doc:
    if lang == "zh":
        doc = Doc(title=f"关于我们 - {site}", lang="zh", kind="about")
        doc.blocks.append(("p", [fk.paragraph(nb_sentences=5)]))
        doc.blocks.append(("p", [f"联系电话：{fk.phone_number()}，地址：{fk.address()}。"]))
        return doc
    doc = Doc(title=f"About {site}", lang="en", kind="about")
    doc.blocks.append(("p", [fk.paragraph(nb_sentences=rng.randint(3, 6))]))
    doc.blocks.append(("p", [f"Contact us at {fk.email()} or write to {fk.address()}."]))
    return doc


ZH_NEWS = ["经济", "体育", "旅游", "科技", "教育", "健康", "美食", "汽车", "房产", "娱乐"]


def news_doc_zh(rng: random.Random, fk: Faker) -> Doc:
    cat = rng.choice(ZH_NEWS)
    doc = Doc(title=f"{fk.city()}{cat}新闻：{fk.sentence(nb_words=6)}", lang="zh", kind="news")
    for _ in range(rng.randint(3, 6)):
        doc.blocks.append(("p", [f"{fk.paragraph(nb_sentences=rng.randint(2, 5))}记者{fk.name()}报道，"
                                 f"{fk.city()}的{cat}活动吸引了{rng.randint(100, 9000)}名市民参加。"]))
    return doc


def finance_doc_zh(rng: random.Random, fk: Faker) -> Doc:
    doc = Doc(title=f"{fk.company()}股价{rng.choice(['上涨', '下跌', '持平'])}，市场关注{rng.choice(['利率', '财报', '油价'])}",
              lang="zh", kind="hard_finance")
    rows = [["代码", "名称", "最新价", "涨跌幅", "成交量"]]
    for _ in range(rng.randint(6, 12)):
        rows.append([f"{rng.randint(600000, 603999)}", fk.company_prefix(), f"{rng.uniform(3, 90):.2f}",
                     f"{rng.uniform(-10, 10):+.2f}%", f"{rng.randint(1000, 900000)}手"])
    doc.blocks.append(("p", [f"{fk.paragraph(nb_sentences=3)}沪指收报{rng.uniform(2800, 3600):.2f}点，涨幅{rng.uniform(-2, 2):+.2f}%。"]))
    doc.blocks.append(("table", rows))
    return doc


def shop_doc_zh(rng: random.Random, fk: Faker) -> Doc:
    doc = Doc(title=f"{fk.word()}{rng.choice(['旗舰店', '专卖店', '官方商城'])} - 正品保证", lang="zh", kind="shop")
    doc.blocks.append(("p", [f"价格：¥{rng.randint(9, 3999)}.00 月销{rng.randint(10, 9999)}件。{fk.paragraph(nb_sentences=3)}"]))
    doc.blocks.append(("list", [f"{fk.word()}：{fk.word()}" for _ in range(rng.randint(4, 8))]))
    return doc


NEGATIVE_EN = [(news_doc_en, 0.45), (finance_doc_en, 0.12), (code_doc_en, 0.12), (physics_news_doc_en, 0.1),
               (sports_doc_en, 0.11), (recipe_doc_en, 0.10)]
NEGATIVE_ZH = [(news_doc_zh, 0.6), (finance_doc_zh, 0.2), (shop_doc_zh, 0.2)]


def negative_doc(rng: random.Random, fk: Faker, lang: str) -> Doc:
    table = NEGATIVE_ZH if lang == "zh" else NEGATIVE_EN
    r = rng.random() * sum(w for _, w in table)
    for fn, w in table:
        r -= w
        if r <= 0:
            return fn(rng, fk)
    return table[-1][0](rng, fk)
