"""YAML that would hang or crash the loader is refused with file, document and line; a path
with no policy documents is an error, not an empty (allow-everything) policy set."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.model import PolicyError, load_policies
from conformance.model.lint import lint_paths
from conformance.model.yaml_guard import MAX_DEPTH

GOOD = """apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: p, namespace: payments}
spec:
  endpointSelector: {matchLabels: {app: server}}
  ingress: [{fromEntities: [cluster]}]
"""


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """`levels` lines of `&aN [*aN-1 x width]`: width**levels nodes once expanded."""
    lines = ["  x0: &a0 [lol, ~]"]
    refs = ", ".join(["*a{}"] * width)
    lines += [f"  x{i}: &a{i} [{refs.format(*[i - 1] * width)}]" for i in range(1, levels + 1)]
    return GOOD + "\n".join(lines) + "\n"


def problems(tmp_path: Path, text: str, name: str = "p.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(PolicyError) as caught:
        load_policies([path])
    lint = lint_paths([path])
    assert [str(p) for p in lint.fatal] == [str(p) for p in caught.value.problems]
    return str(caught.value)


def test_alias_bomb_is_refused_at_its_line(tmp_path: Path) -> None:
    text = problems(tmp_path, "---\n" + GOOD + "---\n" + alias_bomb())
    assert text.startswith(f"{tmp_path / 'p.yaml'}: document 2: line 15: YAML anchor &a0")
    assert "anchors and aliases are not accepted" in text


def test_alias_without_anchor_and_merge_keys_are_refused(tmp_path: Path) -> None:
    assert "document 1: line 7: YAML alias *nowhere" in problems(tmp_path,
                                                                 GOOD + "  x: *nowhere\n")
    merge = GOOD.replace("metadata: {name: p, namespace: payments}",
                         "base: &m {namespace: payments}\nmetadata: {<<: *m, name: p}")
    assert "document 1: line 3: YAML anchor &m" in problems(tmp_path, merge)


def test_nesting_past_the_limit_is_refused(tmp_path: Path) -> None:
    deep = GOOD + "  x: " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "\n"
    assert f"document 1: line 7: nested more than {MAX_DEPTH} levels" in problems(tmp_path,
                                                                                   deep)
    shallow = tmp_path / "shallow.yaml"
    shallow.write_text(GOOD.replace("[cluster]", "[" * 10 + "cluster" + "]" * 10))
    with pytest.raises(PolicyError, match="is not an entity"):  # the schema's refusal only
        load_policies([shallow])


def test_endless_integer_is_refused_at_its_line(tmp_path: Path) -> None:
    text = GOOD.replace("[{fromEntities: [cluster]}]",
                        "[{toPorts: [{ports: [{port: '80', endPort: " + "9" * 5000 + "}]}]}]")
    assert "document 1: line 6: a number with 5000 characters" in problems(tmp_path, text)


@pytest.mark.parametrize("content", ["", "# only a comment\n", "---\n---\n", "~\n",
                                     "kind: List\napiVersion: v1\nitems: []\n"])
def test_a_file_with_no_documents_is_an_error(tmp_path: Path, content: str) -> None:
    text = problems(tmp_path, content)
    assert text == f"{tmp_path / 'p.yaml'}: no policy documents here (an empty policy set " \
                   "would allow everything)"


def test_a_directory_with_no_documents_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("")
    (tmp_path / "b.yml").write_text("# nothing\n")
    with pytest.raises(PolicyError, match=f"^{tmp_path}: no policy documents here"):
        load_policies([tmp_path])
    (tmp_path / "c.yaml").write_text(GOOD)
    assert len(load_policies([tmp_path])) == 1  # empty files beside real ones are fine
