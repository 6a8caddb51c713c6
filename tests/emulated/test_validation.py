"""clusters.emulated.validation: Cilium policy admission per release, worded as the API
server words it. Expected texts are written out by hand from the upstream formats named in
the module docstrings, never computed by the code under test."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from clusters.emulated import validation as v
from conformance.vocabulary.catalogue import CATALOGUE_FILE

REPO = Path(__file__).resolve().parents[2]
POLICY_FILES = sorted((REPO / "manifests" / "policies").rglob("*.yaml"))
CRD_KINDS = ("CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy")
POLICY_KINDS = (*CRD_KINDS, "NetworkPolicy")
PORT_PATTERN = (
    "^(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})"
    "|([a-zA-Z0-9]-?)*[a-zA-Z](-?[a-zA-Z0-9])*$"
)
PROTOCOLS = {
    "1.18.12": '"TCP", "UDP", "SCTP", "ANY"',
    "1.19.6": '"TCP", "UDP", "SCTP", "VRRP", "IGMP", "ANY"',
    "1.20.0": '"TCP", "UDP", "SCTP", "VRRP", "IGMP", "GRE", "IPIP", "IPV6", "ESP", "AH", "ANY"',
}
BLOCKED = (
    "<nil>",
    "FieldValueInvalid",
    "Invalid value: null: some validation rules were not checked because the object was "
    "invalid; correct the existing errors to complete validation",
)


def cnp(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": {"name": "p", "namespace": "payments"},
        "spec": {"endpointSelector": {"matchLabels": {"app": "x"}}, **spec},
    }


def egress_port(**port: Any) -> dict[str, Any]:
    return cnp(egress=[{"toPorts": [{"ports": [port]}]}])


def causes(doc: dict[str, Any], version: str) -> list[tuple[str, str, str]]:
    return [(c.field, c.reason, c.message) for c in v.validate(doc, version)]


def policy_docs() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in POLICY_FILES:
        for i, doc in enumerate(yaml.safe_load_all(path.read_text())):
            if doc and doc.get("kind") in POLICY_KINDS:
                out.append((f"{path.relative_to(REPO)}#{i}", doc))
    return out


def test_every_supported_release_has_data() -> None:
    releases = yaml.safe_load(CATALOGUE_FILE.read_text())
    assert v.versions() == sorted(
        releases["releases"], key=lambda s: [int(x) for x in s.split(".")]
    )
    for version in v.versions():
        assert v.kinds(version) == sorted(CRD_KINDS)


@pytest.mark.parametrize("version", v.versions())
@pytest.mark.parametrize(
    ("where", "doc"), policy_docs(), ids=lambda x: x if isinstance(x, str) else ""
)
def test_the_suite_policies_are_admitted(where: str, doc: dict[str, Any], version: str) -> None:
    assert v.validate(doc, version) == [], where
    if doc["kind"] in CRD_KINDS:
        assert v.decode(doc, version).unknown_fields == [], where


def test_policy_files_were_found() -> None:
    kinds = [doc["kind"] for _, doc in policy_docs()]
    assert len(kinds) >= 10 and set(kinds) == set(POLICY_KINDS)


def test_network_policy_built_in_checks() -> None:
    doc = yaml.safe_load((REPO / "manifests/policies/l3l4-gap/networkpolicy.yaml").read_text())
    rule = doc["spec"]["ingress"][0]
    rule["ports"] = [{"port": 0, "protocol": "ICMP"}, {"port": "http", "endPort": 90}]
    rule["from"] = [{}, {"podSelector": {}, "ipBlock": {"cidr": "10.0.0.0/8"}}]
    doc["spec"]["policyTypes"] = ["Ingress", "egress"]
    where = "spec.ingress[0]"
    assert causes(doc, "1.18.12") == [
        (f"{where}.ports[0].protocol", "FieldValueNotSupported",
         'Unsupported value: "ICMP": supported values: "TCP", "UDP", "SCTP"'),
        (f"{where}.ports[0].port", "FieldValueInvalid",
         "Invalid value: 0: must be between 1 and 65535, inclusive"),
        (f"{where}.ports[1].endPort", "FieldValueInvalid",
         "Invalid value: 90: may not be specified when `port` is non-numeric"),
        (f"{where}.from[0]", "FieldValueRequired", "Required value: must specify a peer"),
        (f"{where}.from[1]", "FieldValueForbidden",
         "Forbidden: may not specify both ipBlock and another peer"),
        ("spec.policyTypes[1]", "FieldValueNotSupported",
         'Unsupported value: "egress": supported values: "Ingress", "Egress"'),
    ]  # fmt: skip
    status = v.status_invalid(doc, v.validate(doc, "1.18.12"))
    assert status["message"].startswith(
        'NetworkPolicy.networking.k8s.io "account-service-l4" is invalid: [spec.ingress[0]'
    )
    assert status["details"]["group"] == "networking.k8s.io"


@pytest.mark.parametrize("version", sorted(PROTOCOLS))
def test_unsupported_protocol_lists_that_releases_enum(version: str) -> None:
    doc = egress_port(port="53", protocol="FOO")
    field = "spec.egress[0].toPorts[0].ports[0].protocol"
    message = f'Unsupported value: "FOO": supported values: {PROTOCOLS[version]}'
    expected = [(field, "FieldValueNotSupported", message)]
    if version == "1.20.0":
        expected.append(BLOCKED)  # NotSupported blocks the 1.20 CEL rule
    assert causes(doc, version) == expected


def test_protocols_added_later_are_refused_by_older_releases() -> None:
    vrrp, gre = egress_port(port="0", protocol="VRRP"), egress_port(port="0", protocol="GRE")
    assert v.validate(vrrp, "1.18.12") and not v.validate(vrrp, "1.19.6")
    assert v.validate(gre, "1.19.6") and not v.validate(gre, "1.20.0")


def test_port_pattern_failure_names_the_path_and_the_pattern() -> None:
    field = "spec.egress[0].toPorts[0].ports[0].port"
    assert causes(egress_port(port="-1"), "1.19.6") == [
        (
            field,
            "FieldValueInvalid",
            f"Invalid value: \"-1\": {field} in body should match '{PORT_PATTERN}'",
        )
    ]
    # The pattern's first branch is anchored only at the start, as upstream's is.
    assert causes(egress_port(port="99999"), "1.19.6") == []


def test_a_number_where_a_string_is_declared_is_a_type_error() -> None:
    field = "spec.egress[0].toPorts[0].ports[0].port"
    assert causes(egress_port(port=80), "1.18.12") == [
        (field, "FieldValueTypeInvalid",
         f'Invalid value: "integer": {field} in body must be of type string: "integer"')
    ]  # fmt: skip


def test_port_became_optional_in_1_19() -> None:
    doc = egress_port(protocol="TCP")
    field = "spec.egress[0].toPorts[0].ports[0].port"
    assert causes(doc, "1.18.12") == [(field, "FieldValueRequired", "Required value")]
    assert causes(doc, "1.19.6") == []


def test_one_of_with_two_alternatives_is_a_nil_path_cause() -> None:
    doc = cnp(egress=[{"toFQDNs": [{"matchName": "a.com", "matchPattern": "*.a.com"}]}])
    message = ('Invalid value: "": "spec.egress[0].toFQDNs[0]" must validate one and only one '
               "schema (oneOf). Found 2 valid alternatives")  # fmt: skip
    assert causes(doc, "1.19.6") == [("<nil>", "FieldValueInvalid", message)]


def test_one_of_with_none_adds_the_first_branch_errors() -> None:
    doc = cnp(egress=[{"toFQDNs": [{}]}])
    message = ('Invalid value: "": "spec.egress[0].toFQDNs[0]" must validate one and only one '
               "schema (oneOf). Found none valid")  # fmt: skip
    assert causes(doc, "1.19.6") == [
        ("<nil>", "FieldValueInvalid", message),
        ("spec.egress[0].toFQDNs[0].matchName", "FieldValueRequired", "Required value"),
    ]


def test_a_rule_without_any_direction_fails_the_any_of() -> None:
    doc = cnp()
    assert causes(doc, "1.18.12") == [
        ("<nil>", "FieldValueInvalid",
         'Invalid value: "": "spec" must validate at least one schema (anyOf)'),
        ("spec.ingress", "FieldValueRequired", "Required value"),
    ]  # fmt: skip


def test_kafka_rules_are_accepted_until_1_20_and_pruned_there() -> None:
    rules = {"kafka": [{"topic": "payments"}]}
    doc = cnp(egress=[{"toPorts": [{"ports": [{"port": "9092"}], "rules": rules}]}])
    assert causes(doc, "1.19.6") == []
    assert v.decode(doc, "1.19.6").unknown_fields == []
    assert v.decode(doc, "1.20.0").unknown_fields == ["spec.egress[0].toPorts[0].rules.kafka"]
    message = ('Invalid value: "": "spec.egress[0].toPorts[0].rules" must validate one and only '
               "one schema (oneOf). Found none valid")  # fmt: skip
    assert causes(doc, "1.20.0") == [
        ("<nil>", "FieldValueInvalid", message),
        ("spec.egress[0].toPorts[0].rules.http", "FieldValueRequired", "Required value"),
        BLOCKED,
    ]


def test_from_requires_is_capped_at_zero_items_from_1_19() -> None:
    doc = cnp(ingress=[{"fromRequires": [{"matchLabels": {"env": "prod"}}]}])
    assert causes(doc, "1.18.12") == []
    field = "spec.ingress[0].fromRequires"
    assert v.decode(doc, "1.19.6").unknown_fields == [f"{field}[0].matchLabels"]
    assert causes(doc, "1.19.6") == [
        (f"{field}[0]", "FieldValueTypeInvalid",
         f'Invalid value: "object": {field}[0] in body must be of type string: "object"'),
        (field, "FieldValueTooMany", "Too many: 1: must have at most 0 items"),
    ]  # fmt: skip


def test_server_name_wildcards_inside_a_label_only_from_1_20() -> None:
    doc = cnp(egress=[{"toPorts": [{"ports": [{"port": "443"}], "serverNames": ["sub*.a.io"]}]}])
    field = "spec.egress[0].toPorts[0].serverNames[0]"
    pattern = "^(\\*?\\*\\.)?([-a-zA-Z0-9_]+\\.?)+$"
    expected = f"Invalid value: \"sub*.a.io\": {field} in body should match '{pattern}'"
    assert causes(doc, "1.19.6") == [(field, "FieldValueInvalid", expected)]
    assert causes(doc, "1.20.0") == []


def test_server_names_are_a_set() -> None:
    names = ["a.io", "b.io", "a.io", "a.io"]
    doc = cnp(egress=[{"toPorts": [{"ports": [{"port": "443"}], "serverNames": names}]}])
    # listtype validateListSet: only the first repeat of a value is reported.
    assert causes(doc, "1.20.0") == [
        (
            "spec.egress[0].toPorts[0].serverNames[2]",
            "FieldValueDuplicate",
            'Duplicate value: "a.io"',
        )
    ]


def test_header_map_form_is_pruned_then_refused() -> None:
    http = [{"method": "POST", "headers": [{"X-Internal-Service": "payment-processor"}]}]
    doc = cnp(ingress=[{"toPorts": [{"ports": [{"port": "8080"}], "rules": {"http": http}}]}])
    field = "spec.ingress[0].toPorts[0].rules.http[0].headers[0]"
    assert v.decode(doc, "1.20.0").unknown_fields == [f"{field}.X-Internal-Service"]
    assert causes(doc, "1.20.0") == [
        (field, "FieldValueTypeInvalid",
         f'Invalid value: "object": {field} in body must be of type string: "object"'),
        BLOCKED,
    ]  # fmt: skip


def test_1_20_requires_spec_or_specs_by_cel() -> None:
    doc = {"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
           "metadata": {"name": "empty", "namespace": "payments"}}  # fmt: skip
    assert causes(doc, "1.19.6") == []
    assert causes(doc, "1.20.0") == [
        ("<nil>", "FieldValueInvalid", 'Invalid value: "object": spec or specs must be provided')
    ]


def test_metadata_name_and_namespace() -> None:
    doc = cnp(ingress=[{}])
    doc["metadata"] = {}
    assert causes(doc, "1.19.6") == [
        ("metadata.name", "FieldValueRequired", "Required value: name or generateName is required"),
        ("metadata.namespace", "FieldValueRequired", "Required value"),
    ]
    doc["metadata"] = {"name": "Bad_Name", "namespace": "a.b"}
    regex = "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
    assert causes(doc, "1.19.6") == [
        ("metadata.name", "FieldValueInvalid",
         'Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of lower case '
         "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric "
         f"character (e.g. 'example.com', regex used for validation is '{regex}')"),
        ("metadata.namespace", "FieldValueInvalid", 'Invalid value: "a.b": must not contain dots'),
    ]  # fmt: skip


def test_cluster_wide_policies_take_no_namespace() -> None:
    doc = cnp(ingress=[{}])
    doc["kind"] = "CiliumClusterwideNetworkPolicy"
    assert causes(doc, "1.20.0") == [
        ("metadata.namespace", "FieldValueForbidden", "Forbidden: not allowed on this type")
    ]
    del doc["metadata"]["namespace"]
    assert causes(doc, "1.20.0") == []


def test_wrong_api_version_is_reported_alone() -> None:
    doc = cnp()  # also misses a direction, which is not reported with a type-meta error
    doc["apiVersion"] = "cilium.io/v2alpha1"
    assert causes(doc, "1.20.0") == [
        (
            "apiVersion",
            "FieldValueInvalid",
            'Invalid value: "cilium.io/v2alpha1": must be cilium.io/v2',
        )
    ]


def test_status_body_of_one_cause() -> None:
    doc = egress_port(port="53", protocol="FOO")
    status = v.status_invalid(doc, v.validate(doc, "1.19.6"))
    body = f'Unsupported value: "FOO": supported values: {PROTOCOLS["1.19.6"]}'
    field = "spec.egress[0].toPorts[0].ports[0].protocol"
    assert status == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f'CiliumNetworkPolicy.cilium.io "p" is invalid: {field}: {body}',
        "reason": "Invalid",
        "details": {
            "name": "p",
            "group": "cilium.io",
            "kind": "CiliumNetworkPolicy",
            "causes": [{"reason": "FieldValueNotSupported", "message": body, "field": field}],
        },
        "code": 422,
    }


def test_status_message_brackets_several_causes_and_drops_repeats() -> None:
    doc = cnp(egress=[{"toPorts": [{"ports": [{"port": "-1"}, {"port": "-1"}]}]}])
    status = v.status_invalid(doc, v.validate(doc, "1.19.6"))
    one = "spec.egress[0].toPorts[0].ports[{}].port"
    texts = [f"{one.format(i)}: Invalid value: \"-1\": {one.format(i)} in body should match "
             f"'{PORT_PATTERN}'" for i in (0, 1)]  # fmt: skip
    assert (
        status["message"]
        == f'CiliumNetworkPolicy.cilium.io "p" is invalid: [{texts[0]}, {texts[1]}]'
    )
    assert len(status["details"]["causes"]) == 2
    twice = [v.Cause("FieldValueRequired", "spec.x", "Required value")] * 2
    assert v.status_invalid(doc, twice)["message"].endswith("is invalid: spec.x: Required value")
    assert len(v.status_invalid(doc, twice)["details"]["causes"]) == 2


def test_decode_drops_non_nullable_nulls_and_applies_defaults() -> None:
    icmp = {"icmps": [{"fields": [{"type": 8}]}]}
    doc = cnp(description=None, egress=[icmp])
    decoded = v.decode(doc, "1.20.0")
    assert "description" not in decoded.object["spec"]
    assert decoded.object["spec"]["egress"][0]["icmps"][0]["fields"][0] == {
        "type": 8,
        "family": "IPv4",
    }
    assert doc["spec"]["description"] is None  # the input is left alone
    assert causes(doc, "1.20.0") == []


def test_validate_does_not_change_its_input() -> None:
    doc = cnp(egress=[{"bogus": 1, "toPorts": [{"ports": [{"port": "-1"}]}]}], status={"x": 1})
    before = copy.deepcopy(doc)
    v.validate(doc, "1.20.0")
    v.decode(doc, "1.20.0")
    assert doc == before


def test_unknown_fields_per_field_validation_directive() -> None:
    doc = cnp(ingress=[{"fromEndpointz": [{}]}])
    doc["metadata"]["labelz"] = {"a": "b"}
    unknown = v.decode(doc, "1.20.0").unknown_fields
    assert unknown == ["metadata.labelz", "spec.ingress[0].fromEndpointz"]
    assert v.field_validation(None) == "Warn" and v.field_validation("") == "Warn"
    assert v.field_validation("Strict") == "Strict"
    with pytest.raises(
        ValueError, match="fieldValidation 'strict': must be one of Ignore, Warn, Strict"
    ):
        v.field_validation("strict")
    assert v.unknown_field_warnings(unknown) == [
        'unknown field "metadata.labelz"',
        'unknown field "spec.ingress[0].fromEndpointz"',
    ]
    assert v.status_strict_decoding(doc, unknown) == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'CiliumNetworkPolicy in version "v2" cannot be handled as a '
        'CiliumNetworkPolicy: strict decoding error: unknown field "metadata.labelz", '
        'unknown field "spec.ingress[0].fromEndpointz"',
        "reason": "BadRequest", "code": 400,
    }  # fmt: skip


def test_server_side_apply_with_an_undeclared_field_is_a_500() -> None:
    doc = cnp(ingress=[{"fromEndpointz": [{}]}])
    paths = v.apply_unknown_fields(doc, "1.20.0")
    assert paths == [".spec.ingress[0].fromEndpointz"]
    assert v.status_apply_failed(doc, paths) == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "failed to create typed patch object (payments/p; cilium.io/v2, "
        "Kind=CiliumNetworkPolicy): .spec.ingress[0].fromEndpointz: field not declared in schema",
        "code": 500,
    }  # fmt: skip
    two = v.status_apply_failed(doc, [".spec.a", ".spec.b"])["message"]
    assert two.endswith("): errors:\n  .spec.a: field not declared in schema\n"
                        "  .spec.b: field not declared in schema")  # fmt: skip


def test_unknown_release_and_kind_are_clear_errors() -> None:
    with pytest.raises(
        v.UnknownVersion,
        match=r"no CRD schemas for Cilium '1\.17\.0'.*1\.18\.12, 1\.19\.6, 1\.20\.0",
    ):
        v.validate(cnp(), "1.17.0")
    with pytest.raises(v.UnknownKind, match="no CRD of kind 'CiliumEnvoyConfig'"):
        v.validate({**cnp(), "kind": "CiliumEnvoyConfig"}, "1.20.0")
