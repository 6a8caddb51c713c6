"""The committed CRD data: which Cilium releases have it, and one CRD of one release.

Loading refuses schema features the emulation does not implement (see `unsupported`), so a
new upstream CRD that needs more of the API server's behaviour fails loudly here instead
of being validated wrongly.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DATA_DIR = Path(__file__).resolve().parent
VERSION_DIR = re.compile(r"^\d+\.\d+\.\d+$")
# Formats kept by StripUnsupportedFormatsPostProcessorForVersion (apiextensions-apiserver
# pkg/apiserver/validation/formats.go) after go-openapi's normalisation (dashes dropped);
# every other format is stripped before validation and has no effect.
CHECKED_FORMATS = frozenset({"cidr", "datetime"})
KNOWN_FORMATS = frozenset(
    {"bsonobjectid", "uri", "email", "hostname", "ipv4", "ipv6", "cidr", "mac", "uuid",
     "uuid3", "uuid4", "uuid5", "isbn", "isbn10", "isbn13", "creditcard", "ssn", "hexcolor",
     "rgbcolor", "byte", "password", "date", "duration", "datetime"}
)  # fmt: skip
# Keywords the data may carry but the emulation does not evaluate.
NOT_EMULATED = ("multipleOf", "uniqueItems", "minProperties", "maxProperties", "allOf",
                "not", "x-kubernetes-embedded-resource", "x-kubernetes-preserve-unknown-fields")
# libyaml's loader when PyYAML has it: the data is ~130 kB a file.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
CEL_HAS_ANY = re.compile(r"^has\(self\.\w+\)(\s*\|\|\s*has\(self\.\w+\))*$")


class UnknownVersion(ValueError):
    """No committed CRD data for that Cilium release."""


class UnknownKind(ValueError):
    """The release's data has no CRD of that kind."""


class SchemaNotEmulated(ValueError):
    """The committed data uses a schema feature the emulation does not implement."""


@dataclass(frozen=True)
class Crd:
    cilium_version: str
    group: str
    kind: str
    plural: str
    namespaced: bool
    api_version: str  # group/version of the served storage version
    subresources: tuple[str, ...]
    schema: dict[str, Any]
    source: dict[str, str]


def versions() -> list[str]:
    """Cilium releases with committed CRD data, oldest first."""
    found = [p.name for p in DATA_DIR.iterdir() if p.is_dir() and VERSION_DIR.match(p.name)]
    return sorted(found, key=lambda v: tuple(int(x) for x in v.split(".")))


@functools.cache
def crds(version: str) -> dict[str, Crd]:
    """Kind -> CRD for one release; UnknownVersion names the releases that exist."""
    if version not in versions():
        raise UnknownVersion(
            f"no CRD schemas for Cilium {version!r}: clusters/emulated/crds/ has "
            f"{', '.join(versions()) or 'none'} (add one with python -m "
            "clusters.emulated.crds.extract)"
        )
    out: dict[str, Crd] = {}
    for path in sorted((DATA_DIR / version).glob("*.yaml")):
        crd = _load(path)
        out[crd.kind] = crd
    return out


def crd_for(version: str, kind: str) -> Crd:
    known = crds(version)
    if kind not in known:
        raise UnknownKind(f"Cilium {version} data has no CRD of kind {kind!r}: {sorted(known)}")
    return known[kind]


def _load(path: Path) -> Crd:
    data = yaml.load(path.read_text(), Loader=_LOADER)
    served = [v for v in data["versions"] if v["served"] and v["storage"]]
    if len(served) != 1:
        raise SchemaNotEmulated(f"{path}: expected one served storage version")
    ver = served[0]
    where = f"{path.parent.name}/{path.name}"
    problems = unsupported(ver["schema"], "")
    if problems:
        raise SchemaNotEmulated(f"{where}: not emulated: {'; '.join(problems)}")
    return Crd(
        cilium_version=str(data["cilium_version"]),
        group=data["group"],
        kind=data["names"]["kind"],
        plural=data["names"]["plural"],
        namespaced=data["scope"] == "Namespaced",
        api_version=f"{data['group']}/{ver['name']}",
        subresources=tuple(ver["subresources"]),
        schema=ver["schema"],
        source=data["source"],
    )


def unsupported(schema: dict[str, Any], path: str) -> list[str]:
    """Schema features under `path` that validation here would get wrong."""
    out = [f"{path or '<root>'}: {key}" for key in NOT_EMULATED if key in schema]
    fmt = str(schema.get("format", "")).replace("-", "")
    if fmt in KNOWN_FORMATS and fmt not in CHECKED_FORMATS:
        out.append(f"{path}: format {fmt}")
    if schema.get("additionalProperties") is False:
        out.append(f"{path}: additionalProperties false")
    for rule in schema.get("x-kubernetes-validations", []):
        if not CEL_HAS_ANY.match(rule.get("rule", "")) or set(rule) - {"rule", "message"}:
            out.append(f"{path}: CEL rule {rule.get('rule')!r}")
    for key in ("oneOf", "anyOf"):
        if key in schema and not _tied_branches(schema[key]):
            out.append(f"{path}: {key} branches of mixed shapes")
    for name, sub in schema.get("properties", {}).items():
        out += unsupported(sub, f"{path}.{name}" if path else name)
    if isinstance(schema.get("items"), dict):
        out += unsupported(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        out += unsupported(schema["additionalProperties"], f"{path}{{}}")
    return out


def _tied_branches(branches: list[dict[str, Any]]) -> bool:
    """True when failing branches always tie on kube-openapi's MatchCount.

    schema_props.go keeps the errors of the failing branch with the highest MatchCount
    (first on a tie). Branches that only require one key each (`properties: {k: {}}`,
    `required: [k]`), or that only name a type, fail with equal counts, so "first failing
    branch" is exact for them; other shapes would need MatchCount emulated.
    """
    shapes = set()
    for b in branches:
        if set(b) == {"type"}:
            shapes.add("type")
        elif set(b) == {"properties", "required"} and len(b["required"]) == 1 and b[
            "properties"
        ] == {b["required"][0]: {}}:
            shapes.add("required")
        else:
            shapes.add("other")
    return len(shapes) == 1 and "other" not in shapes
