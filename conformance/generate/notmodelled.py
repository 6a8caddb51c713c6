"""Which parts of the policies lint calls `not-modelled`: they get no cell, only a reason.

Reads lint's structural findings (`conformance/model/lint_structural.py`) once; a rule, a
toPorts item or a whole policy is blocked when a finding lies inside it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from conformance.model.lint_findings import Finding
from conformance.model.lint_structural import structural_findings
from conformance.model.loader import Document
from conformance.model.policy import CCNP, CNP, KNP

NOT_MODELLED = "not-modelled"
_LIST_ITEM = re.compile(r"^items\[\d+\]\.")
_SPEC = re.compile(r"spec|specs\[\d+\]")
_RULE_LISTS = ("ingress", "egress")  # a finding under these is a rule's, not the policy's


class Blocker:
    def __init__(self, docs: Sequence[Document], version: tuple[int, int]) -> None:
        self._by_doc: dict[tuple[str, int], list[Finding]] = {}
        for doc in docs:
            kind = doc.data.get("kind") if isinstance(doc.data, dict) else None
            if kind not in (CNP, CCNP, KNP):
                continue
            for f in structural_findings(doc, version):
                if f.rule == NOT_MODELLED:
                    self._by_doc.setdefault((f.file, f.document), []).append(f)

    def reason(self, file: str, document: int, path: str) -> str | None:
        """Lint's words when a not-modelled finding lies inside `path`. For a policy's spec
        path ("spec", "specs[1]") only findings outside its rules count."""
        for f in self._by_doc.get((file, document), ()):
            where = _LIST_ITEM.sub("", f.path)
            if where != path and not where.startswith((path + ".", path + "[")):
                continue
            if _SPEC.fullmatch(path) and where[len(path) + 1:].startswith(_RULE_LISTS):
                continue  # a rule's finding does not block the whole policy
            return f"lint not-modelled at {f.path}: {f.message}"
        return None
