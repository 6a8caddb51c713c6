"""Draw a string that a policy regex really matches (HTTP method/path/host).

The pattern is parsed with Python's regex parser (RE2's syntax is, for what policies use, a
subset of it), a string is built from the parse tree with a seeded random source, and the
string is kept only when RE2 — the engine Envoy and the model run
(`conformance/model/regex.py`) — matches it whole. A pattern the parser or the draw cannot
serve gives None; the caller lists the rule with that reason instead of guessing.
"""

from __future__ import annotations

import importlib
import random
from collections.abc import Callable, Iterable
from typing import Any

from conformance.model.regex import Regex, RegexError, compile_re2

# Python's own parser (the public `sre_parse` alias warns since 3.11); used as Any.
_PARSER: Any = importlib.import_module("re._parser")
_C: Any = importlib.import_module("re._constants")

# Characters drawn for `.` and negated classes: safe in a URL path, a header value and a
# DNS label, so the drawn request can be sent as is.
SAFE = "abcdefghijklmnopqrstuvwxyz0123456789"
MAX_EXTRA_REPEATS = 2  # `*`/`+`/`{m,}` draw at most this many beyond the minimum
MAX_CLASS_CHARS = 512  # a class is enumerated up to this many code points
DRAWS = 8  # attempts per pattern before giving up


class _CannotDraw(Exception):
    pass


def draw(pattern: str, rng: random.Random, *,
         accept: Callable[[str], bool] = lambda s: True) -> str | None:
    """A string RE2 matches whole with `pattern` (and `accept` likes), or None."""
    try:
        compiled: Regex = compile_re2(pattern)
        tree = _PARSER.parse(pattern)
    except (RegexError, Exception):  # re's parser: re.error, OverflowError, RecursionError
        return None
    for _ in range(DRAWS):
        try:
            text = "".join(_emit(tree, rng))
        except (_CannotDraw, RecursionError):
            return None
        if compiled.fullmatch(text) is not None and accept(text):
            return text
    return None


def _emit(items: Iterable[tuple[Any, Any]], rng: random.Random,
          repeated: bool = False) -> Iterable[str]:
    for op, arg in items:
        yield from _one(op, arg, rng, repeated)


def _one(op: Any, arg: Any, rng: random.Random, repeated: bool) -> Iterable[str]:
    if op is _C.LITERAL:
        yield chr(arg)
    elif op is _C.NOT_LITERAL:
        yield rng.choice([c for c in SAFE if ord(c) != arg])
    elif op is _C.ANY:
        # A lone `.` is most often a dot written unescaped (`/api.Service/Method`); a
        # repeated one (`.*`) stands for any text.
        yield rng.choice(SAFE) if repeated else "."
    elif op is _C.IN:
        yield rng.choice(_class_chars(arg))
    elif op is _C.BRANCH:
        yield from _emit(rng.choice(arg[1]), rng, repeated)
    elif op is _C.SUBPATTERN:
        yield from _emit(arg[-1], rng, repeated)
    elif op in (_C.MAX_REPEAT, _C.MIN_REPEAT, getattr(_C, "POSSESSIVE_REPEAT", None)):
        low, high, body = arg
        high = low + MAX_EXTRA_REPEATS if high is _C.MAXREPEAT else min(
            high, low + MAX_EXTRA_REPEATS)
        for _ in range(rng.randint(low, high)):
            yield from _emit(body, rng, True)
    elif op is _C.AT:
        return
    elif op is _C.CATEGORY:
        yield rng.choice(_category(arg))
    else:  # backreferences, lookaround, conditionals: RE2 has none of them
        raise _CannotDraw(str(op))


def _category(cat: Any) -> str:
    if cat is _C.CATEGORY_DIGIT:
        return "0123456789"
    if cat is _C.CATEGORY_WORD:
        return SAFE
    if cat is _C.CATEGORY_SPACE:
        return " "
    if cat is _C.CATEGORY_NOT_DIGIT:
        return "abcdefghijklmnopqrstuvwxyz"
    if cat is _C.CATEGORY_NOT_WORD:
        return "-"
    if cat is _C.CATEGORY_NOT_SPACE:
        return SAFE
    raise _CannotDraw(str(cat))


def _class_chars(items: list[tuple[Any, Any]]) -> str:
    negate = bool(items) and items[0][0] is _C.NEGATE
    listed: set[str] = set()
    for op, arg in items[1:] if negate else items:
        if op is _C.LITERAL:
            listed.add(chr(arg))
        elif op is _C.RANGE:
            low, high = arg
            listed.update(chr(c) for c in range(low, min(high, low + MAX_CLASS_CHARS) + 1))
        elif op is _C.CATEGORY:
            listed.update(_category(arg))
        else:
            raise _CannotDraw(str(op))
    if negate:
        chars = [c for c in SAFE if c not in listed]
    else:  # prefer characters that are safe everywhere, keep the rest as a last resort
        chars = sorted(c for c in listed if c in SAFE or c in "-_./") or sorted(listed)
    if not chars:
        raise _CannotDraw("empty class")
    return "".join(chars)
