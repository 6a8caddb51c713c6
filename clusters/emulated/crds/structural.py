"""What the API server does with a custom resource around OpenAPI validation.

- decoding: unknown-field pruning (apiextensions-apiserver pkg/apiserver/schema/pruning/
  algorithm.go `PruneWithOptions` with the root as a resource root), removal of null values
  of non-nullable fields without a default (schema/defaulting/prunenulls.go
  `PruneNonNullableNullsWithoutDefaults`), then defaulting (schema/defaulting/algorithm.go
  `Default`);
- after validation: x-kubernetes-list-type set/map uniqueness (schema/listtype/
  validation.go `ValidateListSetsAndMaps`) and x-kubernetes-validations rules (only the
  `has(self.a) || has(self.b)` form the committed CRDs use; schema.py refuses others),
  worded as schema/cel/validation.go `validateExpressions` words a false rule.

All functions are pure: they return new values and never change their input.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from clusters.emulated.crds import fielderr as fe
from clusters.emulated.crds.fielderr import FieldError

META_FIELDS = ("apiVersion", "kind", "metadata")
_HAS = re.compile(r"has\(self\.(\w+)\)")


def prune(obj: dict[str, Any], schema: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The object without fields the schema does not declare, and their paths.

    The root is a resource root: apiVersion, kind and metadata are left to ObjectMeta
    handling. Paths read `spec.egress[0].foo`; upstream walks Go maps, so its order is
    unspecified: here they are sorted.
    """
    out = copy.deepcopy(obj)
    pruned: list[str] = []
    for key in list(out):
        if key in META_FIELDS:
            continue
        _prune_key(out, key, schema, key, pruned)
    return out, sorted(pruned)


def _prune_key(obj: dict[str, Any], key: str, s: dict[str, Any] | None, where: str,
               pruned: list[str]) -> None:  # fmt: skip
    props = (s or {}).get("properties", {})
    extra = (s or {}).get("additionalProperties")
    if s is not None and key in props:
        _prune_value(obj[key], props[key], where, pruned)
    elif s is not None and extra is not None:
        _prune_value(obj[key], extra if isinstance(extra, dict) else None, where, pruned)
    else:
        if key not in META_FIELDS:
            pruned.append(where)
        del obj[key]


def _prune_value(value: Any, s: dict[str, Any] | None, where: str, pruned: list[str]) -> None:
    if isinstance(value, dict):
        for key in list(value):
            _prune_key(value, key, s, f"{where}.{key}", pruned)
    elif isinstance(value, list):
        items = (s or {}).get("items") if s is not None else None
        for i, item in enumerate(value):
            _prune_value(item, items, f"{where}[{i}]", pruned)


def drop_nulls_and_default(obj: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """prunenulls.go then algorithm.go Default, on a copy."""
    out = copy.deepcopy(obj)
    _drop_nulls(out, schema)
    _default(out, schema)
    return out


def _sub_schema(s: dict[str, Any], key: str) -> dict[str, Any] | None:
    if key in s.get("properties", {}):
        sub: dict[str, Any] = s["properties"][key]
        return sub
    extra = s.get("additionalProperties")
    return extra if isinstance(extra, dict) else None


def _drop_nulls(value: Any, s: dict[str, Any] | None) -> None:
    if s is None:
        return
    if isinstance(value, dict):
        for key in list(value):
            sub = _sub_schema(s, key)
            if sub is None:
                continue
            if value[key] is None and not sub.get("nullable") and "default" not in sub:
                del value[key]
            else:
                _drop_nulls(value[key], sub)
    elif isinstance(value, list):
        for item in value:
            _drop_nulls(item, s.get("items"))


def _default(value: Any, s: dict[str, Any] | None) -> None:
    if s is None:
        return
    if isinstance(value, dict):
        for key, prop in sorted(s.get("properties", {}).items()):
            if "default" not in prop:
                continue
            if key not in value or (value[key] is None and not prop.get("nullable")):
                value[key] = copy.deepcopy(prop["default"])
        for key, item in value.items():
            _default(item, _sub_schema(s, key))
    elif isinstance(value, list):
        for item in value:
            _default(item, s.get("items"))


def list_type_errors(obj: dict[str, Any], schema: dict[str, Any]) -> list[FieldError]:
    """ValidateListSetsAndMaps from the root (nil path): duplicates in sets and maps."""
    return _lists_in_object(obj, schema, "")


def _join(parent: str, child: str) -> str:
    return f"{parent}.{child}" if parent else child


def _lists_in_object(obj: dict[str, Any], s: dict[str, Any], where: str) -> list[FieldError]:
    errs: list[FieldError] = []
    extra = s.get("additionalProperties")
    if isinstance(extra, dict):
        for key in sorted(obj):
            # field.Path.Key prints a map key as `[key]`.
            errs += _lists_in_value(obj[key], extra, f"{where}[{key}]")
    for key in sorted(obj):
        if key in s.get("properties", {}):
            errs += _lists_in_value(obj[key], s["properties"][key], _join(where, key))
    return errs


def _lists_in_value(value: Any, s: dict[str, Any], where: str) -> list[FieldError]:
    if isinstance(value, dict):
        return _lists_in_object(value, s, where)
    if not isinstance(value, list):
        return []
    errs: list[FieldError] = []
    kind = s.get("x-kubernetes-list-type")
    if kind == "set":
        errs += [fe.duplicate(f"{where}[{i}]", value[i]) for i in _second_copies(value)]
    elif kind == "map":
        errs += _list_map_errors(value, s.get("x-kubernetes-list-map-keys", []), where)
    if isinstance(s.get("items"), dict):
        for i, item in enumerate(value):
            errs += _lists_in_value(item, s["items"], f"{where}[{i}]")
    return errs


def _second_copies(items: list[Any]) -> list[int]:
    """validateListSet: the index of each value's first repeat (later repeats not again)."""
    seen: dict[str, int] = {}
    out = []
    for i, item in enumerate(items):
        key = json.dumps(item, sort_keys=True) + type(item).__name__
        seen[key] = seen.get(key, 0) + 1
        if seen[key] == 2:
            out.append(i)
    return out


def _list_map_errors(items: list[Any], keys: list[str], where: str) -> list[FieldError]:
    """validateListMap: items must be objects; duplicate key tuples are reported."""
    for i, item in enumerate(items):
        if item is not None and not isinstance(item, dict):
            return [fe.invalid(f"{where}[{i}]", item, "must be an object for an array of "
                               "list-type map")]  # fmt: skip
    tuples = [{k: item[k] for k in keys if k in item} if item else {} for item in items]
    if len(keys) == 1:
        shown: list[Any] = [t if t else {} for t in tuples]
    else:
        shown = tuples
    return [fe.duplicate(f"{where}[{i}]", shown[i]) for i in _second_copies(tuples)]


def cel_errors(obj: dict[str, Any], schema: dict[str, Any]) -> list[FieldError]:
    """x-kubernetes-validations of the `has(self.a) || has(self.b)` form, from the root."""
    return _cel_walk(obj, schema, fe.NIL_PATH)


def _cel_walk(value: Any, s: dict[str, Any], where: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if isinstance(value, dict):
        for rule in s.get("x-kubernetes-validations", []):
            if not any(name in value for name in _HAS.findall(rule["rule"])):
                # ruleMessageOrDefault; the bad value is the schema type (sts.Type).
                detail = rule.get("message", "").strip() or f"failed rule: {rule['rule']}"
                errs.append(fe.invalid(where, s.get("type", ""), detail))
        for key in sorted(value):
            sub = _sub_schema(s, key)
            if sub is not None:
                child = key if where == fe.NIL_PATH else f"{where}.{key}"
                errs += _cel_walk(value[key], sub, child)
    elif isinstance(value, list) and isinstance(s.get("items"), dict):
        for i, item in enumerate(value):
            errs += _cel_walk(item, s["items"], f"{where}[{i}]")
    return errs
