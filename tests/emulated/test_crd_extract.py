"""clusters.emulated.crds.extract on a small hand-written CRD, and the committed data's form."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from clusters.emulated.crds import extract
from clusters.emulated.crds.schema import DATA_DIR, versions

FIXTURE = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.io
  annotations: {controller-gen.kubebuilder.io/version: v0.0.0}
spec:
  group: example.io
  names: {kind: Widget, listKind: WidgetList, plural: widgets, singular: widget,
          shortNames: [wd], categories: [all]}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns: [{jsonPath: .spec.size, name: Size, type: string}]
    schema:
      openAPIV3Schema:
        description: A widget. Long upstream prose.
        title: Widget
        type: object
        required: [metadata]
        x-kubernetes-validations:
        - {rule: has(self.spec), message: spec must be provided}
        properties:
          metadata: {type: object}
          spec:
            description: The spec.
            type: object
            oneOf:
            - properties: {size: {}}
              required: [size]
            properties:
              description: {type: string, description: a field named description}
              size:
                description: How big.
                example: "10"
                type: string
                pattern: ^[0-9]+$
                maxLength: 4
                enum: ["1", "10"]
                default: "1"
              ports:
                type: array
                maxItems: 2
                x-kubernetes-list-type: set
                items: {type: integer, minimum: 1, maximum: 65535, format: int32}
              labels:
                type: object
                additionalProperties: {type: string, description: a label value}
"""
SOURCE = "https://github.com/example/widgets/tree/" + "a" * 40 + "/config/crds"


def run(tmp_path: Path, name: str, text: str, *extra: str) -> tuple[int, Path]:
    src = tmp_path / name
    src.write_text(text)
    out = tmp_path / f"out-{name}"
    code = extract.main([str(src), "--version", "9.8.7", "--source", SOURCE, *extra,
                         "--out", str(out)])  # fmt: skip
    return code, out


def keywords(schema: Any) -> set[str]:
    """Schema keywords used anywhere (property names are not keywords)."""
    found = set(schema)
    for sub in schema.get("properties", {}).values():
        found |= keywords(sub)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            found |= keywords(schema[key])
    for key in ("oneOf", "anyOf", "allOf"):
        for sub in schema.get(key, []):
            found |= keywords(sub)
    return found


def test_extract_keeps_structure_and_drops_prose(tmp_path: Path) -> None:
    code, out = run(tmp_path, "widgets.yaml", FIXTURE, "--ref", "v9.8 branch")
    assert code == 0
    text = (out / "widgets.yaml").read_text()
    assert text.startswith(extract.HEADER)
    assert "prose" not in text and "How big" not in text and "a label value" not in text
    data = yaml.safe_load(text)
    assert data["cilium_version"] == "9.8.7"
    assert data["source"] == {"repo": "example/widgets", "commit": "a" * 40,
                              "path": "config/crds/widgets.yaml", "ref": "v9.8 branch"}  # fmt: skip
    assert data["names"] == {"kind": "Widget", "listKind": "WidgetList", "plural": "widgets",
                             "singular": "widget"}  # fmt: skip
    (ver,) = data["versions"]
    assert (ver["name"], ver["served"], ver["storage"], ver["subresources"]) == (
        "v1",
        True,
        True,
        ["status"],
    )
    schema = ver["schema"]
    assert "description" not in keywords(schema) and "title" not in keywords(schema)
    spec = schema["properties"]["spec"]
    assert spec["properties"]["description"] == {"type": "string"}  # a field, not prose
    assert spec["properties"]["size"] == {"type": "string", "pattern": "^[0-9]+$", "maxLength": 4,
                                          "enum": ["1", "10"], "default": "1"}  # fmt: skip
    ports = spec["properties"]["ports"]
    assert ports["items"] == {"type": "integer", "minimum": 1, "maximum": 65535, "format": "int32"}
    assert spec["oneOf"] == [{"properties": {"size": {}}, "required": ["size"]}]
    assert schema["x-kubernetes-validations"] == [
        {"message": "spec must be provided", "rule": "has(self.spec)"}
    ]


def test_extract_is_deterministic(tmp_path: Path) -> None:
    _, first = run(tmp_path, "a.yaml", FIXTURE)
    # The same CRD with keys in another order must give the same bytes.
    reordered = yaml.safe_dump(yaml.safe_load(FIXTURE), sort_keys=True)
    _, second = run(tmp_path, "b.yaml", reordered)
    one = (first / "widgets.yaml").read_text()
    two = (second / "widgets.yaml").read_text().replace("/b.yaml", "/a.yaml")
    assert one == two
    lines = [ln for ln in one.splitlines() if re.match(r"^[a-z_]+:", ln)]
    assert lines == sorted(lines)  # top-level keys sorted


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (FIXTURE.replace("maxLength: 4", "maxLenght: 4"),
         "openAPIV3Schema.properties.spec.properties.size: unknown schema keyword 'maxLenght'"),
        ("kind: ConfigMap\n", "not a CustomResourceDefinition (kind 'ConfigMap')"),
        ("a: [\n", "is not valid YAML"),
    ],
)  # fmt: skip
def test_bad_input_is_one_message_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    code, out = run(tmp_path, "bad.yaml", text)
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("extract: ") and message in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize("version", versions())
def test_committed_data_has_the_extractor_header(version: str) -> None:
    files = sorted((DATA_DIR / version).glob("*.yaml"))
    assert [f.name for f in files] == ["ciliumclusterwidenetworkpolicies.yaml",
                                       "ciliumnetworkpolicies.yaml"]  # fmt: skip
    for path in files:
        text = path.read_text()
        assert text.startswith(extract.HEADER), path
        data = yaml.safe_load(text)
        assert data["cilium_version"] == version
        source = data["source"]
        assert re.fullmatch(r"[0-9a-f]{40}", source["commit"])
        assert source["path"] == f"pkg/k8s/apis/cilium.io/client/crds/v2/{path.name}"
        assert source["repo"] and source["ref"]
        assert data["group"] == "cilium.io" and data["names"]["plural"] == path.stem
        for ver in data["versions"]:
            assert "description" not in keywords(ver["schema"])
