"""Admission of Cilium policy objects as the real API server admits them, per Cilium release.

Pure functions over plain dicts (a decoded YAML/JSON document); nothing here does I/O but
read the committed CRD data under clusters/emulated/crds/. The same data serves the
emulated API server (the running release) and a pre-upgrade check (a target release).

What a create/update/apply of a CiliumNetworkPolicy or CiliumClusterwideNetworkPolicy
goes through (apiextensions-apiserver, Kubernetes 1.34):

1. decoding: unknown fields are pruned (structural schema); with fieldValidation `Warn`,
   the server default when the request names none (apiserver pkg/endpoints/handlers/rest.go
   `fieldValidation`), each one becomes a `Warning: unknown field "spec.x"` header;
   `Strict` turns them into a 400, `Ignore` drops them silently
   (pkg/apiserver/customresource_handler.go `schemaCoercingDecoder.Decode`). kubectl sends
   `Strict` by default (kubectl pkg/cmd/util/helpers.go `GetValidationDirective`, flag
   default "strict"); the kubernetes Python client sends nothing, so it gets `Warn`.
   Server-side apply is different: the applied patch is first converted to a typed object
   (apimachinery pkg/util/managedfields/internal/structuredmerge.go `Apply`), and an
   undeclared field fails there with a plain error, which the server answers as a 500
   whatever fieldValidation says (kubernetes issues 122480 and 139253, open in 2026).
   That conversion also refuses wrongly typed scalars ("expected string, got ...") with
   the same 500; this module does not emulate that wording: a wrong type here is the 422
   a create gets.
2. nulls of non-nullable fields are dropped and schema defaults applied;
3. `status` is dropped on create (the CRDs have a status subresource:
   pkg/registry/customresource/strategy.go `PrepareForCreate`);
4. validation (strategy.go `Validate`): metadata (apimachinery pkg/api/validation
   objectmeta.go `ValidateObjectMetaAccessor`), the OpenAPI schema, list-type set/map
   uniqueness, then the CEL rules unless an earlier error blocks them (`hasBlockingErr`).
   Any error is a 422 `Invalid` Status (apimachinery pkg/api/errors `NewInvalid`).

For a server-side apply: `apply_unknown_fields` then `status_apply_failed`; else `validate`
then `status_invalid`. For a create/update: `decode`, then per `field_validation`
`unknown_field_warnings` or `status_strict_decoding`; then `validate`/`status_invalid`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clusters.emulated.crds import fielderr as fe
from clusters.emulated.crds import openapi, structural
from clusters.emulated.crds.fielderr import FieldError
from clusters.emulated.crds.k8snames import object_meta_errors
from clusters.emulated.crds.schema import Crd, UnknownKind, UnknownVersion, crd_for, crds
from clusters.emulated.netpol_validation import API_VERSION as NETPOL_API_VERSION
from clusters.emulated.netpol_validation import KIND as NETPOL_KIND
from clusters.emulated.netpol_validation import validate_network_policy
from conformance.vocabulary.catalogue import Catalogue, load_catalogue

__all__ = [
    "FIELD_VALIDATION_DEFAULT",
    "Cause",
    "Decoded",
    "UnknownKind",
    "UnknownVersion",
    "apply_unknown_fields",
    "decode",
    "field_validation",
    "kinds",
    "status_apply_failed",
    "status_invalid",
    "status_strict_decoding",
    "unknown_field_warnings",
    "validate",
    "versions",
]

FIELD_VALIDATION_DEFAULT = "Warn"
FIELD_VALIDATIONS = ("Ignore", "Warn", "Strict")
# ObjectMeta's JSON fields (apimachinery pkg/apis/meta/v1/types.go ObjectMeta).
OBJECT_META_FIELDS = frozenset(
    {"name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
     "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
     "annotations", "ownerReferences", "finalizers", "managedFields"}
)  # fmt: skip
# hasBlockingErr (strategy.go): these make the CEL rules be skipped.
BLOCKING = frozenset({"FieldValueNotSupported", "FieldValueRequired", "FieldValueTooLong",
                      "FieldValueTooMany", "FieldValueTypeInvalid"})  # fmt: skip
BLOCKED_CEL = ("some validation rules were not checked because the object was invalid; "
               "correct the existing errors to complete validation")  # fmt: skip


@dataclass(frozen=True)
class Cause:
    """One `details.causes[]` entry of a 422 Status (metav1.StatusCause)."""

    reason: str  # the field.ErrorType, e.g. FieldValueInvalid
    field: str  # e.g. spec.egress[0].toPorts[0].ports[0].port, or "<nil>"
    message: str  # ErrorBody: e.g. `Unsupported value: "FOO": supported values: ...`

    def error(self) -> str:
        """`field: message`, one item of the Status message's list."""
        return f"{self.field}: {self.message}"

    def to_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.message, "field": self.field}


@dataclass(frozen=True)
class Decoded:
    """The object the server keeps after decoding, and the unknown fields it dropped."""

    object: dict[str, Any]
    unknown_fields: list[str]


def versions(catalogue: Catalogue | None = None) -> list[str]:
    """The Cilium releases the emulated cluster runs, oldest first: the catalogue's
    (conformance/vocabulary/cilium.yaml). Each needs its CRD data under crds/<release>/
    (tests/vocabulary checks that; crds() names what is missing)."""
    return (catalogue or load_catalogue()).versions()


def default_version(catalogue: Catalogue | None = None) -> str:
    """The release the emulated cluster runs unless told otherwise: the catalogue's default."""
    return (catalogue or load_catalogue()).default


def kinds(version: str) -> list[str]:
    """The policy kinds the release's data validates (UnknownVersion if none)."""
    return sorted(crds(version))


def _crd(doc: dict[str, Any], version: str) -> Crd:
    if not isinstance(doc, dict):
        raise TypeError(f"a policy document must be a mapping, got {type(doc).__name__}")
    return crd_for(version, str(doc.get("kind", "")))


def decode(doc: dict[str, Any], version: str) -> Decoded:
    """What decoding keeps of `doc` (steps 1-2), as a new dict."""
    crd = _crd(doc, version)
    pruned, unknown = structural.prune(doc, crd.schema)
    meta = pruned.get("metadata")
    if isinstance(meta, dict):
        # Inferred, not read upstream: ObjectMeta decoding drops keys it does not know.
        extra = sorted(k for k in meta if k not in OBJECT_META_FIELDS)
        pruned["metadata"] = {k: v for k, v in meta.items() if k not in extra}
        unknown = sorted(unknown + [f"metadata.{k}" for k in extra])
    return Decoded(structural.drop_nulls_and_default(pruned, crd.schema), unknown)


def validate(doc: dict[str, Any], version: str) -> list[Cause]:
    """The causes a create of `doc` is refused with under Cilium `version` ([] = admitted).

    Raises UnknownVersion for a release without data and UnknownKind for a kind its data
    does not have. A networking.k8s.io/v1 NetworkPolicy gets the built-in checks of
    netpol_validation (the same for every release).
    """
    if isinstance(doc, dict) and (doc.get("apiVersion"), doc.get("kind")) == (
        NETPOL_API_VERSION,
        NETPOL_KIND,
    ):
        crds(version)  # an unknown release is refused for every kind
        return [_cause(e) for e in validate_network_policy(doc)]
    crd = _crd(doc, version)
    obj = decode(doc, version).object
    if "status" in crd.subresources:
        obj.pop("status", None)
    type_meta = _type_meta_errors(obj, crd)
    if type_meta:  # customResourceValidator.Validate returns these alone
        return [_cause(e) for e in type_meta]
    errs = object_meta_errors(obj.get("metadata"), crd.namespaced)
    errs += openapi.validate(obj, crd.schema)
    errs += structural.list_type_errors(obj, crd.schema)
    if _has_cel(crd.schema):
        if any(e.type in BLOCKING for e in errs):
            errs.append(fe.invalid(fe.NIL_PATH, None, BLOCKED_CEL))
        else:
            errs += structural.cel_errors(obj, crd.schema)
    return [_cause(e) for e in errs]


def _cause(err: FieldError) -> Cause:
    return Cause(err.type, err.field, err.body())


def _has_cel(schema: dict[str, Any]) -> bool:
    if "x-kubernetes-validations" in schema:
        return True
    subs = list(schema.get("properties", {}).values())
    subs += [schema.get(k) for k in ("items", "additionalProperties")]
    return any(_has_cel(s) for s in subs if isinstance(s, dict))


def _type_meta_errors(obj: dict[str, Any], crd: Crd) -> list[FieldError]:
    """customResourceValidator.ValidateTypeMeta (apiextensions registry/customresource)."""
    errs = []
    if obj.get("kind") != crd.kind:
        errs.append(fe.invalid("kind", obj.get("kind", ""), f"must be {crd.kind}"))
    if obj.get("apiVersion") != crd.api_version:
        api_version = obj.get("apiVersion", "")
        errs.append(fe.invalid("apiVersion", api_version, f"must be {crd.api_version}"))
    return errs


def status_invalid(doc: dict[str, Any], causes: list[Cause]) -> dict[str, Any]:
    """The 422 Status body NewInvalid writes for `causes` (from validate)."""
    kind = str(doc.get("kind", ""))
    group = str(doc.get("apiVersion", "")).rpartition("/")[0]
    name = str((doc.get("metadata") or {}).get("name") or "")
    qualified = f"{kind}.{group}" if group else kind  # schema.GroupKind String
    message = fe.aggregate_texts([c.error() for c in causes])
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f"{qualified} {fe.go_quote(name)} is invalid: {message}",
        "reason": "Invalid",
        "details": {
            "name": name,
            "group": group,
            "kind": kind,
            "causes": [c.to_dict() for c in causes],
        },
        "code": 422,
    }


def field_validation(directive: str | None) -> str:
    """The fieldValidation the server applies; ValueError names the allowed values."""
    if not directive:
        return FIELD_VALIDATION_DEFAULT
    if directive not in FIELD_VALIDATIONS:
        raise ValueError(
            f"fieldValidation {directive!r}: must be one of {', '.join(FIELD_VALIDATIONS)}"
        )
    return directive


def unknown_field_warnings(unknown_fields: list[str]) -> list[str]:
    """The `Warning` header texts of a Warn-mode create/update."""
    return [f"unknown field {fe.go_quote(path)}" for path in unknown_fields]


def status_strict_decoding(doc: dict[str, Any], unknown_fields: list[str]) -> dict[str, Any]:
    """The 400 of a Strict-mode create/update with unknown fields.

    runtime.NewStrictDecodingError joined by the handler's transformDecodeError
    (apiserver pkg/endpoints/handlers/rest.go) as "<Kind> in version ... cannot be handled".
    """
    kind = str(doc.get("kind", ""))
    version = str(doc.get("apiVersion", "")).rpartition("/")[2]
    detail = ", ".join(unknown_field_warnings(unknown_fields))
    message = (f"{kind} in version {fe.go_quote(version)} cannot be handled as a {kind}: "
               f"strict decoding error: {detail}")  # fmt: skip
    return _status(message, "BadRequest", 400)


def apply_unknown_fields(doc: dict[str, Any], version: str) -> list[str]:
    """Undeclared fields of an applied patch, as structured-merge-diff names them."""
    return ["." + path for path in decode(doc, version).unknown_fields]


def status_apply_failed(doc: dict[str, Any], unknown_paths: list[str]) -> dict[str, Any]:
    """The 500 a server-side apply with undeclared fields gets (no reason, no details).

    structuredmerge.go wraps the typed-conversion error as "failed to create typed patch
    object (<ns>/<name>; <group/version>, Kind=<Kind>)"; structured-merge-diff typed/
    validate.go `ValidationErrors.Error` lists several under "errors:".
    """
    meta = doc.get("metadata") or {}
    who = f"{meta.get('namespace') or ''}/{meta.get('name') or ''}"  # objectGVKNN
    gvk = f"{doc.get('apiVersion', '')}, Kind={doc.get('kind', '')}"
    lines = [f"{p}: field not declared in schema" for p in unknown_paths]
    detail = lines[0] if len(lines) == 1 else "\n".join(["errors:"] + ["  " + x for x in lines])
    return _status(f"failed to create typed patch object ({who}; {gvk}): {detail}", None, 500)


def _status(message: str, reason: str | None, code: int) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                            "status": "Failure", "message": message}  # fmt: skip
    if reason:
        body["reason"] = reason
    body["code"] = code
    return body
