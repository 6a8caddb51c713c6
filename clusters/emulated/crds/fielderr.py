"""Field errors worded as Kubernetes words them.

Follows k8s.io/apimachinery/pkg/util/validation/field/errors.go (`Error`, `ErrorBody`,
`ErrorType.String`, `Required`, `Invalid`, `NotSupported`, `TooLong`, `TooMany`,
`Duplicate`, `TypeInvalid`, `Forbidden`) and `ErrorList.ToAggregate` with
k8s.io/apimachinery/pkg/util/errors `aggregate.Error` for the joined message.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

# A field with no path: upstream's nil *field.Path prints as "<nil>" (field/path.go String).
NIL_PATH = "<nil>"


class _Omit:
    """errors.go omitValue: the body shows the type only."""


OMIT = _Omit()

TITLES = {
    "FieldValueNotFound": "Not found",
    "FieldValueRequired": "Required value",
    "FieldValueDuplicate": "Duplicate value",
    "FieldValueInvalid": "Invalid value",
    "FieldValueNotSupported": "Unsupported value",
    "FieldValueForbidden": "Forbidden",
    "FieldValueTooLong": "Too long",
    "FieldValueTooMany": "Too many",
    "FieldValueTooFew": "Too few",
    "InternalError": "Internal error",
    "FieldValueTypeInvalid": "Invalid value",
    "FieldValueTooShort": "Too short",
}
# ErrorBody prints these with the type name only, never the value.
_NO_VALUE = {"FieldValueRequired", "FieldValueForbidden", "FieldValueTooLong",
             "FieldValueTooShort", "InternalError"}  # fmt: skip


@dataclass(frozen=True)
class FieldError:
    type: str
    field: str
    bad_value: Any
    detail: str = ""

    def body(self) -> str:
        """errors.go ErrorBody: `<Title>[: <value>][: <detail>]`."""
        title = TITLES[self.type]
        if self.type in _NO_VALUE or self.bad_value is OMIT:
            text = title
        else:
            text = f"{title}: {go_value(self.bad_value)}"
        return f"{text}: {self.detail}" if self.detail else text

    def error(self) -> str:
        return f"{self.field}: {self.body()}"


def required(field: str, detail: str = "") -> FieldError:
    return FieldError("FieldValueRequired", field, "", detail)


def invalid(field: str, value: Any, detail: str) -> FieldError:
    return FieldError("FieldValueInvalid", field, value, detail)


def type_invalid(field: str, value: Any, detail: str) -> FieldError:
    return FieldError("FieldValueTypeInvalid", field, value, detail)


def forbidden(field: str, detail: str) -> FieldError:
    return FieldError("FieldValueForbidden", field, "", detail)


def duplicate(field: str, value: Any) -> FieldError:
    return FieldError("FieldValueDuplicate", field, value)


def not_supported(field: str, value: Any, valid: list[str]) -> FieldError:
    detail = "supported values: " + ", ".join(go_quote(v) for v in valid) if valid else ""
    return FieldError("FieldValueNotSupported", field, value, detail)


def too_long(field: str, max_length: int) -> FieldError:
    """errors.go TooLong (what TooLongMaxLength calls): bytes, value omitted."""
    unit = "byte" if max_length == 1 else "bytes"
    detail = f"may not be more than {max_length} {unit}" if max_length >= 0 else "value is too long"
    return FieldError("FieldValueTooLong", field, "<value omitted>", detail)


def too_many(field: str, actual: int, max_items: int) -> FieldError:
    unit = "item" if max_items == 1 else "items"
    detail = f"must have at most {max_items} {unit}" if max_items >= 0 else "has too many items"
    return FieldError("FieldValueTooMany", field, actual if actual >= 0 else OMIT, detail)


def aggregate_texts(texts: list[str]) -> str:
    """ErrorList.ToAggregate().Error() of errors printing `texts`: repeats dropped, several
    bracketed."""
    seen: list[str] = []
    for text in texts:
        if text not in seen:
            seen.append(text)
    return seen[0] if len(seen) == 1 else "[" + ", ".join(seen) + "]"


def go_quote(text: str) -> str:
    """Go's strconv.Quote: printable characters as is, others escaped."""
    escapes = {"\a": r"\a", "\b": r"\b", "\f": r"\f", "\n": r"\n", "\r": r"\r",
               "\t": r"\t", "\v": r"\v", "\\": "\\\\", '"': '\\"'}  # fmt: skip
    out = []
    for ch in text:
        if ch in escapes:
            out.append(escapes[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


def go_float(value: float) -> str:
    """fmt %v of a float64: strconv/ftoa.go formatDigits 'g' with shortest precision, which
    switches to exponent form below 1e-4 or from 1e6 (eprec = 6)."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if value == 0:
        return "0"
    digits, exp = _shortest_digits(abs(value))
    sign = "-" if value < 0 else ""
    if exp < -4 or exp >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    point = exp + 1
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def _shortest_digits(value: float) -> tuple[str, int]:
    """Shortest round-trip decimal digits (as Python's repr) and the decimal exponent."""
    sign, digit_tuple, exponent = Decimal(repr(value)).normalize().as_tuple()
    digits = "".join(str(d) for d in digit_tuple)
    assert isinstance(exponent, int) and not sign
    return digits, exponent + len(digits) - 1


def go_json(value: Any) -> str:
    """encoding/json.Marshal: compact, sorted keys, HTML characters escaped."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                    ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):  # fmt: skip
        text = text.replace(ch, esc)
    return text


def go_value(value: Any) -> str:
    """How ErrorBody prints a bad value: %v for numbers and bools, %q for strings, JSON else."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, str):
        return go_quote(value)
    return go_json(value)
