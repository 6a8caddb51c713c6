"""Name checks worded as apimachinery words them.

Follows k8s.io/apimachinery/pkg/util/validation/validation.go (Kubernetes 1.34 wording):
`IsDNS1123Subdomain`, `IsDNS1123Label`, `MaxLenError`, `RegexError`.
"""

from __future__ import annotations

import re

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
