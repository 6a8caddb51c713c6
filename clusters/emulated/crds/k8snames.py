"""Name checks worded as apimachinery words them.

Follows k8s.io/apimachinery/pkg/util/validation/validation.go (Kubernetes 1.34 wording):
`IsDNS1123Subdomain`, `IsDNS1123Label`, `MaxLenError`, `RegexError`; and the name and
namespace part of pkg/api/validation/objectmeta.go `ValidateObjectMetaAccessor`.
"""

from __future__ import annotations

import re
from typing import Any

from clusters.emulated.crds import fielderr as fe
from clusters.emulated.crds.fielderr import FieldError

LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
SUBDOMAIN_FMT = LABEL_FMT + "(\\." + LABEL_FMT + ")*"
LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
             "or '-', and must start and end with an alphanumeric character")  # fmt: skip
SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                 "characters, '-' or '.', and must start and end with an alphanumeric "
                 "character")  # fmt: skip
LABEL_MAX, SUBDOMAIN_MAX = 63, 253
_LABEL = re.compile(f"^{LABEL_FMT}$")
_SUBDOMAIN = re.compile(f"^{SUBDOMAIN_FMT}$")


def max_len_error(length: int) -> str:
    return f"must be no more than {length} characters"


def regex_error(msg: str, fmt: str, *examples: str) -> str:
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{e}'" for e in examples)
    return f"{msg} (e.g. {shown}, regex used for validation is '{fmt}')"


def dns1123_subdomain(value: str) -> list[str]:
    errs = [max_len_error(SUBDOMAIN_MAX)] if len(value) > SUBDOMAIN_MAX else []
    if not _SUBDOMAIN.match(value):
        errs.append(regex_error(SUBDOMAIN_MSG, SUBDOMAIN_FMT, "example.com"))
    return errs


def dns1123_label(value: str) -> list[str]:
    """ValidateNamespaceName is IsDNS1123Label."""
    errs = [max_len_error(LABEL_MAX)] if len(value) > LABEL_MAX else []
    if not _LABEL.match(value):
        if _SUBDOMAIN.match(value):
            errs.append("must not contain dots")  # a valid subdomain: only the dots are wrong
        else:
            errs.append(regex_error(LABEL_MSG, LABEL_FMT, "my-name", "123-abc"))
    return errs


def object_meta_errors(meta: Any, namespaced: bool) -> list[FieldError]:
    """Name (NameIsDNSSubdomain) and namespace checks of ValidateObjectMetaAccessor.

    A name from generateName must be filled in by the caller first, as the registry's
    BeforeCreate does before it validates.
    """
    meta = meta if isinstance(meta, dict) else {}
    name, namespace = str(meta.get("name") or ""), str(meta.get("namespace") or "")
    errs = []
    if not name:
        errs.append(fe.required("metadata.name", "name or generateName is required"))
    else:
        errs += [fe.invalid("metadata.name", name, msg) for msg in dns1123_subdomain(name)]
    if namespaced and not namespace:
        errs.append(fe.required("metadata.namespace"))
    elif namespaced:
        errs += [fe.invalid("metadata.namespace", namespace, m) for m in dns1123_label(namespace)]
    elif namespace:
        errs.append(fe.forbidden("metadata.namespace", "not allowed on this type"))
    return errs
