"""Lint policies for the mistakes that make them fail silently (or get them rejected).

Structural checks (lint_structural) read the raw YAML, so they still work on documents the
API server would refuse; cross-policy checks (lint_model) ask the model itself, e.g. "does
a DNS lookup of this toFQDNs name from the selected pods pass the DNS proxy?".
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from conformance.model.errors import Problem
from conformance.model.lint_findings import RULES, Finding, LintResult, Severity
from conformance.model.lint_model import model_findings
from conformance.model.lint_structural import structural_findings
from conformance.model.loader import Document, load_documents, parse_document
from conformance.model.options import DEFAULT_OPTIONS, AgentOptions
from conformance.model.policy import CCNP, CNP, KNP, Policy
from conformance.model.policyset import PolicySet
from conformance.model.version import DEFAULT_VERSION, parse_version

__all__ = ["RULES", "Finding", "LintResult", "Severity", "lint_documents", "lint_paths"]


def lint_paths(paths: Sequence[str | Path], cilium_version: str = DEFAULT_VERSION,
               options: AgentOptions = DEFAULT_OPTIONS) -> LintResult:
    docs, problems = load_documents(paths)
    return lint_documents(docs, cilium_version, problems, options)


def lint_documents(docs: Sequence[Document], cilium_version: str = DEFAULT_VERSION,
                   fatal: Sequence[Problem] = (),
                   options: AgentOptions = DEFAULT_OPTIONS) -> LintResult:
    """`options`: the agent options assumed (conformance/model/options.py)."""
    version = parse_version(cilium_version)
    fatal_list = list(fatal)
    findings: list[Finding] = []
    policies: list[Policy] = []
    for doc in docs:
        kind = doc.data.get("kind") if isinstance(doc.data, dict) else None
        if kind not in (CNP, CCNP, KNP):
            fatal_list.extend(parse_document(doc)[1])
            continue
        own = list(structural_findings(doc, version))
        findings.extend(own)
        found, problems = parse_document(doc)
        policies.extend(found)
        # A structural error already explains a rejection at its path; warnings do not.
        claimed = {f.path for f in own if f.severity == "error"}
        for p in problems:
            if p.path not in claimed and not any(p.path.startswith(c + ".") for c in claimed):
                mixed = "toFQDNs" in p.message and "cannot be combined" in p.message
                rule = "fqdn-mixed-l3" if mixed else "rejected"
                findings.append(Finding(rule, p.file, p.document, p.path, p.message))
    policy_set = PolicySet(policies)
    findings.extend(_option_findings(policy_set, options))
    if not options.l7_proxy:
        policy_set = policy_set.without_l7()[0]
    findings.extend(model_findings(policy_set, cilium_version, options))
    return LintResult(tuple(sorted(findings, key=lambda f: (f.file, f.document, f.path))),
                      tuple(fatal_list))


def _option_findings(policies: PolicySet, options: AgentOptions) -> list[Finding]:
    """What the agent options alone do to these policies."""
    out: list[Finding] = []
    if options.enforcement == "never":
        seen = set()
        for p in policies:
            if (p.ref.file, p.ref.document) not in seen:
                seen.add((p.ref.file, p.ref.document))
                out.append(Finding("not-enforced", p.ref.file, p.ref.document, p.ref.spec_path,
                                   f"{p.ref} is never enforced: the agent runs with "
                                   "policy-enforcement-mode=never (repository.go "
                                   "computePolicyEnforcementAndRules)"))
    if not options.l7_proxy:
        for p in policies.without_l7()[1]:
            for rule in (*p.ingress, *p.egress):
                out.extend(Finding("rejected", p.ref.file, p.ref.document,
                                   f"{rule.path}.{pr.path}.rules",
                                   "L7 policy is not supported since L7 proxy is not enabled "
                                   "(enable-l7-proxy=false): the agent refuses the whole "
                                   "policy, so none of its rules apply")
                           for pr in rule.port_rules if pr.http is not None or pr.dns is not None)
    return out
