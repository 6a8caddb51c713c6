"""Compiled matchers for ports, CIDRs, DNS names and HTTP requests (compiled once, at load)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from conformance.model.probe import HttpRequest
from conformance.model.regex import Regex, compile_re2, escape

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# The destination's container ports by name: (name, port, protocol) items.
NamedPorts = tuple[tuple[str, int, str], ...]


def resolve_named_port(name: str, protocol: str, named: NamedPorts) -> int | None:
    """The number a port name stands for at the destination, as upstream's
    `NamedPortMap.GetNamedPort` (pkg/policy/types): an unknown name, a name declared for
    another protocol, or port 0 resolve to nothing, so the rule allows nothing there.
    Names are case-sensitive IANA_SVC_NAMEs (the API server lower-cases nothing)."""
    for n, number, proto in named:
        if n == name and proto == protocol and number:
            return number
    return None


@dataclass(frozen=True)
class PortMatch:
    """One `ports[]` item: port 0 = every port; protocol ANY = TCP, UDP and SCTP."""

    port: int
    end_port: int
    protocol: str
    name: str | None = None  # a named port, resolved through the destination's ports

    def covers(self, port: int, protocol: str, named: NamedPorts = ()) -> bool:
        if self.protocol == "ANY" and protocol in ("ICMP", "ICMPv6"):
            # ANY is TCP, UDP and SCTP; ICMP needs `icmps` (docs security/policy/layer4.rst:
            # with an L4 policy, ICMP is blocked unless a rule allows it)
            return False
        if self.protocol != "ANY" and self.protocol != protocol:
            return False
        if self.name is not None:
            return resolve_named_port(self.name, protocol, named) == port
        return self.port == 0 or self.port <= port <= max(self.port, self.end_port)

    def describe(self) -> str:
        if self.protocol in ("ICMP", "ICMPv6"):
            return f"type {self.port}/{self.protocol}"
        if self.name is not None:
            where = self.name
        elif self.port == 0:
            where = "any port"
        elif self.end_port > self.port:
            where = f"{self.port}-{self.end_port}"
        else:
            where = str(self.port)
        return f"{where}/{self.protocol}"


@dataclass(frozen=True)
class CidrMatch:
    network: IPNetwork
    excepts: tuple[IPNetwork, ...] = ()
    text: str = ""

    @property
    def everything(self) -> bool:
        return self.network.prefixlen == 0 and not self.excepts

    def covers(self, ip: str | None) -> bool:
        """World peers only; `0.0.0.0/0` also covers a world peer whose address is unknown."""
        if ip is None:
            return self.everything
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        if addr.version != self.network.version or addr not in self.network:
            return False
        return not any(addr in ex for ex in self.excepts if ex.version == addr.version)


def cidr_match(cidr: str, excepts: list[str] | None = None) -> CidrMatch:
    nets = tuple(ipaddress.ip_network(e, strict=False) for e in excepts or [])
    return CidrMatch(ipaddress.ip_network(cidr, strict=False), nets, cidr)


_LABEL_CHARS = "[-a-z0-9_]"


# A serverNames pattern Envoy accepts (SniPattern::isValid): dot-separated labels, each `*`,
# `**`, or DNS characters with single `*`s before, between or after them; no empty label,
# no trailing dot.
_SNI_LABEL = r"(?:\*\*?|\*?[-a-zA-Z0-9_]+(?:\*[-a-zA-Z0-9_]+)*\*?)"
_SNI_VALID: list[Regex] = []


def envoy_accepts_sni_pattern(text: str) -> bool:
    """Would cilium/proxy's SniPattern (`cilium/network_policy.h` isValid) take `text`? One
    it refuses makes Envoy reject the whole network policy update."""
    if not _SNI_VALID:
        _SNI_VALID.append(compile_re2(rf"{_SNI_LABEL}(?:\.{_SNI_LABEL})*"))
    return _SNI_VALID[0].fullmatch(text) is not None


@dataclass(frozen=True)
class SniMatch:
    """A `toPorts[].serverNames` entry, matched against a TLS ClientHello's SNI by Envoy.

    Follows cilium/proxy `cilium/network_policy.h` SniPattern (constructor in
    `cilium/network_policy.cc`) as the cilium-envoy builds the catalogue pins for 1.18-1.20
    have it (all built after its backports: v1.34 3bfe1431, v1.35 482e31cd, v1.36/v1.37
    54eda585, Feb-Mar 2026). Earlier builds (e.g. Cilium 1.18.3's cilium-envoy
    v1.34.10-1761014632) had an older matcher (commit f38edd1f: exact names, `*.` exactly one
    label, `**.` any suffix, no validity check), which the model does not follow:
    case-insensitive; no `*` is an exact name; `*` alone is any DNS name; otherwise `**`
    is one or more whole labels and `*` any run of `[-a-z0-9_]` inside one label. Which
    patterns the API server accepts differs per version (the CRD pattern, see
    clusters/emulated/crds/README.md); matching does not.
    """

    text: str
    _rx: list[Regex] = field(default_factory=list, compare=False, repr=False)

    def regex(self) -> Regex:
        if not self._rx:
            self._rx.append(compile_re2(self._translate()))
        return self._rx[0]

    def _translate(self) -> str:
        text = self.text.lower()
        if text == "*":
            return rf"{_LABEL_CHARS}+(?:\.{_LABEL_CHARS}+)*"
        out, i = [], 0
        while i < len(text):
            if text.startswith("**", i):
                out.append(rf"{_LABEL_CHARS}+(?:\.{_LABEL_CHARS}+)*")
                i += 2
                continue
            out.append(f"{_LABEL_CHARS}*" if text[i] == "*" else escape(text[i]))
            i += 1
        return "".join(out)

    def matches(self, sni: str) -> bool:
        if not self.text:  # an empty pattern matches nothing
            return False
        if "*" not in self.text:
            return sni.lower() == self.text.lower()
        return self.regex().fullmatch(sni.lower()) is not None


@dataclass(frozen=True)
class NameMatch:
    """A `matchName`/`matchPattern` (toFQDNs and rules.dns). Case-insensitive, trailing dot
    implied. `*` matches within one label; `**.` one or more labels from Cilium 1.19.

    From 1.19 this follows cilium `pkg/fqdn/matchpattern/matchpattern.go` (isDNSWildcard: a
    pattern of only `*` matches every name; escapeRegexpCharacters: two or more leading `*`
    before a `.` match one or more whole labels, any other run of `*` is `[-a-zA-Z0-9_]*`);
    before 1.19 only `*` alone matches every name and each `*` stays within one label. The
    regex is compiled with RE2, as the agent compiles it with Go's `regexp`: many `*` cost
    linear time, not backtracking.
    """

    text: str
    is_pattern: bool
    _cache: dict[bool, Regex] = field(default_factory=dict, compare=False, repr=False)

    def regex(self, multi_label: bool) -> Regex:
        if (rx := self._cache.get(multi_label)) is None:
            rx = compile_re2(self._translate(multi_label))
            self._cache[multi_label] = rx
        return rx

    def _translate(self, multi_label: bool) -> str:
        text = self.text.lower().rstrip(".")
        if not self.is_pattern:
            return escape(text)
        stars = len(text) - len(text.lstrip("*"))
        if text == "*" or (multi_label and text and stars == len(text)):
            # ToAnchoredRegexp's match-all: one or more non-empty labels
            return rf"(?:{_LABEL_CHARS}+\.)*{_LABEL_CHARS}+"
        head = ""
        if multi_label and stars >= 2 and text[stars:stars + 1] == ".":
            head, text = rf"(?:{_LABEL_CHARS}+\.)+", text[stars + 1:]
        body = "".join(f"{_LABEL_CHARS}*" if ch == "*" else escape(ch) for ch in text)
        return head + body

    def matches(self, name: str, multi_label: bool) -> bool:
        return self.regex(multi_label).fullmatch(name.lower().rstrip(".")) is not None

    def describe(self) -> str:
        return f"{'matchPattern' if self.is_pattern else 'matchName'}: {self.text}"


@dataclass(frozen=True)
class HeaderCheck:
    name: str  # lower-case
    value: str | None  # None = presence only
    always: bool = False  # headerMatches with `mismatch`: logged, never denies


@dataclass(frozen=True)
class HttpMatch:
    """One `rules.http[]` entry: method/path/host are whole-string regexes, fields ANDed."""

    method: Regex | None  # RE2 (see conformance/model/regex.py)
    path: Regex | None
    host: Regex | None
    headers: tuple[HeaderCheck, ...]
    text: str

    def matches(self, req: HttpRequest, lower_headers: dict[str, str]) -> bool:
        if self.method is not None and self.method.fullmatch(req.method) is None:
            return False
        if self.path is not None and self.path.fullmatch(req.path) is None:
            return False
        if self.host is not None and self.host.fullmatch(req.host or "") is None:
            return False
        for h in self.headers:
            if h.always:
                continue
            got = lower_headers.get(h.name)
            if got is None or (h.value is not None and got != h.value):
                return False
        return True


def parse_header_string(text: str) -> HeaderCheck:
    """Cilium splits `headers` items at the first space: "Name: value" (colon dropped).

    Without a space the whole string is a header name that must be present.
    """
    name, sep, value = text.partition(" ")
    if not sep:
        return HeaderCheck(text.lower(), None)
    return HeaderCheck(name.rstrip(":").lower(), value)


def describe_http(rule: dict[str, object]) -> str:
    parts = [str(rule[k]) for k in ("method", "path") if rule.get(k)]
    if rule.get("host"):
        parts.append(f"host {rule['host']}")
    headers = rule.get("headers")
    if isinstance(headers, list) and headers:
        parts.append("headers " + "; ".join(str(h) for h in headers))
    matches = rule.get("headerMatches")
    if isinstance(matches, list) and matches:
        parts.append("headerMatches " + "; ".join(
            f"{m.get('name')}={m.get('value', '*')}" for m in matches if isinstance(m, dict)))
    return " ".join(parts) or "any request"
