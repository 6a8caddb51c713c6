"""OpenAPI v3 schema validation of a custom resource, as the API server runs it.

Follows k8s.io/kube-openapi pkg/validation/validate (`SchemaValidator.Validate`: type,
schemaProps, string, format, number, slice, common (enum), object validators in that
order; messages from pkg/validation/errors/schema.go and validate/messages.go) and the
conversion to field errors in apiextensions-apiserver
pkg/apiserver/validation/validation.go `kubeOpenAPIResultToFieldErrors`.

Where upstream iterates a Go map (object properties) the order is unspecified; here it is
sorted by property name.
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import math
import re
from dataclasses import dataclass
from typing import Any

import re2  # type: ignore[import-untyped]  # Go's regexp is RE2; CRD patterns use its syntax

from clusters.emulated.crds import fielderr as fe
from clusters.emulated.crds.fielderr import FieldError
from clusters.emulated.crds.schema import KNOWN_FORMATS

IN = "body"  # kube-openapi SchemaValidator.in for every custom resource


@dataclass(frozen=True)
class OpenAPIError:
    """One kube-openapi result error; `kind` picks the field.Error it becomes."""

    kind: str  # required|enum|too_long|max_items|invalid_type|invalid|composite
    name: str
    message: str
    value: Any = None
    limit: Any = None  # max length / max items, or the enum values


def validate(data: Any, schema: dict[str, Any]) -> list[FieldError]:
    """Field errors of `data` (the whole object) against the CRD's openAPIV3Schema."""
    return [_to_field_error(e) for e in _validate(data, schema, "")]


def _to_field_error(err: OpenAPIError) -> FieldError:
    # kubeOpenAPIResultToFieldErrors with fldPath nil: err.Name minus one leading dot.
    if err.kind == "composite":
        return fe.invalid(fe.NIL_PATH, "", err.message)
    path = err.name[1:] if err.name.startswith(".") else err.name
    path = path if path else fe.NIL_PATH
    value = "" if err.value is None else err.value
    if err.kind == "required":
        return fe.required(path)
    if err.kind == "enum":
        allowed = [v if isinstance(v, str) else fe.go_json(v) for v in err.limit]
        return fe.not_supported(path, err.value, allowed)
    if err.kind == "too_long":
        return fe.too_long(path, err.limit)
    if err.kind == "max_items":
        return fe.too_many(path, err.value, err.limit)
    if err.kind == "invalid_type":
        return fe.type_invalid(path, value, err.message)
    return fe.invalid(path, value, err.message)


def _validate(data: Any, s: dict[str, Any], path: str) -> list[OpenAPIError]:
    if data is None:  # SchemaValidator.Validate: only the type and common validators
        return _type(None, s, path) + _enum(None, s, path)
    errs = _type(data, s, path) + _combinators(data, s, path)
    if isinstance(data, str):
        errs += _string(data, s, path) + _format(data, s, path)
    if _json_type(data) in ("integer", "number"):
        errs += _number(data, s, path)
    if isinstance(data, list):
        errs += _slice(data, s, path)
    errs += _enum(data, s, path)
    if isinstance(data, dict):
        errs += _object(data, s, path)
    return errs


def _types(s: dict[str, Any]) -> list[str]:
    # ConvertJSONSchemaProps: x-kubernetes-int-or-string becomes type [integer, string].
    if s.get("x-kubernetes-int-or-string"):
        return ["integer", "string"]
    return [s["type"]] if s.get("type") else []


def _format_name(s: dict[str, Any]) -> str:
    name = str(s.get("format", "")).replace("-", "")
    return name if name in KNOWN_FORMATS else ""  # StripUnsupportedFormatsPostProcessor


def _json_type(data: Any) -> str:
    if isinstance(data, bool):
        return "boolean"
    if isinstance(data, int):
        return "integer"
    if isinstance(data, float):
        return "number"
    if isinstance(data, str):
        return "string"
    return "array" if isinstance(data, list) else "object"


def _data_format(data: Any) -> str:
    """type.go schemaInfoForType: the format Go infers from a decoded JSON value."""
    return {"integer": "int64", "number": "double"}.get(_json_type(data), "")


def _type(data: Any, s: dict[str, Any], path: str) -> list[OpenAPIError]:
    """type.go typeValidator.Validate."""
    types, fmt = _types(s), _format_name(s)
    if not types and not fmt:
        return []
    if data is None:
        if types and "null" not in types and not s.get("nullable"):
            return [_invalid_type(path, ",".join(types), "null")]
        return []
    sch = _json_type(data)
    float_int = sch == "number" and float(data).is_integer() and "integer" in types
    int_float = sch == "integer" and "number" in types
    if sch not in ("string", "array") and fmt and not (
        sch in types or _data_format(data) == fmt or float_int or int_float
    ):
        return [_invalid_type(path, fmt, _data_format(data))]
    if not ("number" in types or "integer" in types) and fmt and sch in ("string", "array"):
        return []
    if sch in types or float_int or int_float:
        return []
    return [_invalid_type(path, ",".join(types), sch)]


def _invalid_type(path: str, type_name: str, value: str) -> OpenAPIError:
    # errors.InvalidType with a string value: typeFailWithData.
    message = f"{path} in {IN} must be of type {type_name}: {fe.go_quote(value)}"
    return OpenAPIError("invalid_type", path, message, value)


def _combinators(data: Any, s: dict[str, Any], path: str) -> list[OpenAPIError]:
    """schema_props.go schemaPropsValidator.Validate for anyOf and oneOf.

    The errors kept from failing branches are the first failing branch's (see
    schema._tied_branches for why that equals upstream's MatchCount choice here).
    """
    errs: list[OpenAPIError] = []
    quoted = fe.go_quote(path)
    if "anyOf" in s:
        results = [_validate(data, b, path) for b in s["anyOf"]]
        if all(results):
            msg = f"{quoted} must validate at least one schema (anyOf)"
            errs.append(OpenAPIError("composite", path, msg))
            errs += results[0]
    if "oneOf" in s:
        results = [_validate(data, b, path) for b in s["oneOf"]]
        valid = sum(1 for r in results if not r)
        if valid != 1:
            found = "Found none valid" if valid == 0 else f"Found {valid} valid alternatives"
            msg = f"{quoted} must validate one and only one schema (oneOf). {found}"
            errs.append(OpenAPIError("composite", path, msg))
            if valid == 0:
                errs += results[0]
    return errs


def _string(data: str, s: dict[str, Any], path: str) -> list[OpenAPIError]:
    """string validator: maxLength, minLength, pattern; the first failure only."""
    if "maxLength" in s and len(data) > s["maxLength"]:
        msg = f"{path} in {IN} should be at most {s['maxLength']} chars long"
        return [OpenAPIError("too_long", path, msg, data, s["maxLength"])]
    if "minLength" in s and len(data) < s["minLength"]:
        msg = f"{path} in {IN} should be at least {s['minLength']} chars long"
        return [OpenAPIError("invalid", path, msg, data)]
    if "pattern" in s and not _regex(s["pattern"]).search(data):
        msg = f"{path} in {IN} should match '{s['pattern']}'"
        return [OpenAPIError("invalid", path, msg, data)]
    return []


@functools.cache
def _regex(pattern: str) -> Any:
    return re2.compile(pattern)


def _format(data: str, s: dict[str, Any], path: str) -> list[OpenAPIError]:
    """format validator: FormatOf fails as an invalid type named by the format."""
    fmt = _format_name(s)
    checks = {"cidr": _is_cidr, "datetime": _is_datetime}
    if fmt in checks and not checks[fmt](data):
        return [_invalid_type(path, fmt, data)]
    return []


def _is_cidr(text: str) -> bool:
    """strfmt IsCIDR is Go's net.ParseCIDR: address '/' decimal prefix length, no zone."""
    addr, sep, bits = text.partition("/")
    if not sep or not bits.isdigit() or not bits.isascii() or "%" in addr:
        return False
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return int(bits) <= ip.max_prefixlen


# strfmt's date-time: RFC 3339 with optional fractional seconds.
_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)


def _is_datetime(text: str) -> bool:
    if not _DATETIME.match(text):
        return False
    try:
        dt.datetime.fromisoformat(text[:19])
    except ValueError:
        return False
    return True


def _number(data: float, s: dict[str, Any], path: str) -> list[OpenAPIError]:
    """numberValidator: maximum then minimum (MaximumNativeType / MinimumNativeType)."""
    errs = []
    for key, sign, word in (("maximum", 1, "less than"), ("minimum", -1, "greater than")):
        if key not in s:
            continue
        bound = s[key]
        exclusive = bool(s.get("exclusiveMaximum" if sign > 0 else "exclusiveMinimum"))
        over = sign * (data - bound)  # > 0: beyond the bound
        if over < 0 or (over == 0 and not exclusive):
            continue
        # An integer value is compared with int64(bound), so the bound prints as an integer.
        shown = str(int(bound)) if isinstance(data, int) else fe.go_float(float(bound))
        relation = word if exclusive else f"{word} or equal to"
        msg = f"{path} in {IN} should be {relation} {shown}"
        errs.append(OpenAPIError("invalid", path, msg, data))
    return errs


def _slice(data: list[Any], s: dict[str, Any], path: str) -> list[OpenAPIError]:
    """slice_validator.go: every item, then minItems, then maxItems."""
    errs: list[OpenAPIError] = []
    if isinstance(s.get("items"), dict):
        for i, item in enumerate(data):
            errs += _validate(item, s["items"], f"{path}[{i}]")
    if "minItems" in s and len(data) < s["minItems"]:
        msg = f"{path} in {IN} should have at least {s['minItems']} items"
        errs.append(OpenAPIError("invalid", path, msg, len(data)))
    if "maxItems" in s and len(data) > s["maxItems"]:
        msg = f"{path} in {IN} should have at most {s['maxItems']} items"
        errs.append(OpenAPIError("max_items", path, msg, len(data), s["maxItems"]))
    return errs


def _enum(data: Any, s: dict[str, Any], path: str) -> list[OpenAPIError]:
    """basicCommonValidator: the value must equal one enum member of the same JSON type."""
    if "enum" not in s or (data is not None and any(_same(data, v) for v in s["enum"])):
        return []
    msg = f"{path} in {IN} should be one of {s['enum']}"
    return [OpenAPIError("enum", path, msg, data, s["enum"])]


def _same(data: Any, member: Any) -> bool:
    if isinstance(member, bool) or isinstance(data, bool):
        return isinstance(member, bool) and isinstance(data, bool) and data == member
    if isinstance(member, (int, float)) and isinstance(data, (int, float)):
        return not math.isnan(float(data)) and data == member
    return type(data) is type(member) and bool(data == member)


def _object(data: dict[str, Any], s: dict[str, Any], path: str) -> list[OpenAPIError]:
    """object_validator.go: additionalProperties, properties, then required."""
    errs: list[OpenAPIError] = []
    props = s.get("properties", {})
    extra = s.get("additionalProperties")
    if isinstance(extra, dict):
        for key in sorted(k for k in data if k not in props):
            errs += _validate(data[key], extra, f"{path}.{key}")
    for name in sorted(props):
        if name in data:
            errs += _validate(data[name], props[name], f"{path}.{name}" if path else name)
    for name in s.get("required", []):
        if name not in data:
            where = f"{path}.{name}"
            errs.append(OpenAPIError("required", where, f"{where} in {IN} is required"))
    return errs
