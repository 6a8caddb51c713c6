"""Regular expressions with RE2 semantics, as Cilium and Envoy run them.

Everything a policy author writes as a regex (HTTP `path`/`method`/`host`) and every regex
the model derives from policy text (DNS matchPattern, CRD field patterns) is compiled with
RE2 (the `google-re2` binding): matching takes time linear in the input, so no rule can make
`explain` or `lint` backtrack for minutes, and a pattern is accepted exactly when RE2
accepts it.

Upstream:
- Agent: cilium `pkg/policy/api/http.go` PortRuleHTTP.Sanitize compiles `path` and `method`
  with Go's `regexp` (RE2 syntax) and rejects the policy when that fails; `host` is not
  compiled there (only `format: idn-hostname` in the CRD).
- Proxy: cilium `pkg/envoy/server.go` (`xds_server.go` in later releases) getHTTPRule turns
  path/method/host into Envoy header matchers (`:path`, `:method`, `:authority`) with
  `safe_regex` and an empty GoogleRE2 engine config; Envoy matches them whole
  (RE2::FullMatch).
- Envoy `source/common/common/regex.cc` CompiledGoogleReMatcher: a pattern RE2 rejects is a
  config error, and without `max_program_size` in the matcher a program larger than the
  runtime key `re2.max_program_size.error_level` (default 100) is rejected too. Cilium's
  cilium-envoy bootstrap (`install/kubernetes/cilium/files/cilium-envoy/configmap/
  bootstrap-config.json`, layeredRuntime) does not set that key, so 100 applies.
Go's `regexp` and RE2 accept the same syntax except for rarities (RE2 takes `\\C`); the model
uses RE2's answer for both.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Protocol, cast

import re2  # type: ignore[import-untyped]  # google-re2 ships no type information

ENVOY_MAX_PROGRAM_SIZE = 100  # Envoy's default `re2.max_program_size.error_level`


class RegexError(ValueError):
    """A pattern RE2 does not accept; the message is RE2's reason."""


class Match(Protocol):
    def group(self, index: int = 0) -> str: ...


class Regex(Protocol):
    """The part of a compiled RE2 pattern the model uses."""

    @property
    def pattern(self) -> str: ...

    @property
    def programsize(self) -> int: ...

    def fullmatch(self, text: str) -> Match | None: ...

    def search(self, text: str) -> Match | None: ...


def _options(case_insensitive: bool) -> Any:
    options = re2.Options()
    options.log_errors = False  # RE2 would print every rejected pattern on stderr
    options.case_sensitive = not case_insensitive
    return options


_OPTIONS = {False: _options(False), True: _options(True)}


def compile_re2(pattern: str, *, case_insensitive: bool = False) -> Regex:
    """Compile `pattern` with RE2's default options (Envoy's `re2::RE2::Quiet`).

    Raises RegexError with RE2's reason ("invalid escape sequence: \\1", "invalid perl
    operator: (?=", "invalid repetition size: {1001}", ...).
    """
    return _compiled(pattern, case_insensitive)


# Policies repeat the same few patterns; a compiled RE2 is immutable, so one is shared (as
# Python's `re` keeps its own cache of compiled patterns).
@lru_cache(maxsize=4096)
def _compiled(pattern: str, case_insensitive: bool) -> Regex:
    try:
        return cast(Regex, re2.compile(pattern, _OPTIONS[case_insensitive]))
    except re2.error as exc:
        raise RegexError(_reason(exc)) from None


def _reason(exc: Exception) -> str:
    raw = exc.args[0] if exc.args else str(exc)
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return text or "RE2 cannot compile it"


def is_re2(value: object) -> bool:
    """True for a pattern compiled by compile_re2 (tests check the model never backtracks)."""
    return isinstance(value, re2._Regexp)


def escape(text: str) -> str:
    """`text` as an RE2 pattern that matches exactly it."""
    return cast(str, re2.escape(text))
