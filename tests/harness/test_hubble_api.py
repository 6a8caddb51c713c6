"""The project's Hubble Relay API: committed generated modules, wire names, and the jsonpb
lines its messages print (byte for byte what `hubble observe -o jsonpb` prints)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from google.protobuf import json_format

from conformance.harness import hubble
from conformance.harness.hubble_api import flow_pb2, jsonpb, observer_pb2, rpc
from conformance.harness.hubble_api.generate import API_DIR, GENERATED, generate

RELAY_FLOWS = Path(__file__).parent / "data" / "hubble" / "relay-flows.jsonl"


def recorded_lines() -> list[str]:
    return RELAY_FLOWS.read_text().splitlines()


def test_regenerating_gives_identical_files(tmp_path: Path) -> None:
    written = generate(tmp_path)
    assert sorted(p.name for p in written) == sorted(GENERATED)
    for name in GENERATED:
        assert (tmp_path / name).read_bytes() == (API_DIR / name).read_bytes(), (
            f"hubble_api/{name} is stale: run `python -m conformance.harness.hubble_api."
            "generate`")


def test_method_path_is_observer_get_flows() -> None:
    service = observer_pb2.DESCRIPTOR.services_by_name["Observer"]
    assert service.full_name == rpc.SERVICE == "observer.Observer"
    method = service.methods_by_name["GetFlows"]
    assert rpc.GET_FLOWS == "/observer.Observer/GetFlows"
    assert method.server_streaming and not method.client_streaming


def test_upstream_field_numbers() -> None:
    # Spot checks against cilium v1.19.4 api/v1/flow/flow.proto and observer.proto.
    flow = flow_pb2.Flow.DESCRIPTOR.fields_by_name
    assert {n: flow[n].number for n in ("time", "uuid", "verdict", "IP", "l4", "source",
                                        "Type", "l7", "drop_reason_desc", "is_reply",
                                        "Summary")} == {
        "time": 1, "uuid": 34, "verdict": 2, "IP": 5, "l4": 6, "source": 8, "Type": 10,
        "l7": 15, "drop_reason_desc": 25, "is_reply": 26, "Summary": 100000}
    request = observer_pb2.GetFlowsRequest.DESCRIPTOR.fields_by_name
    assert {n: request[n].number for n in ("follow", "whitelist", "blacklist", "since")} == {
        "follow": 3, "blacklist": 5, "whitelist": 6, "since": 7}
    response = observer_pb2.GetFlowsResponse.DESCRIPTOR.fields_by_name
    assert (response["flow"].number, response["node_status"].number,
            response["node_name"].number, response["time"].number) == (1, 2, 1000, 1001)


@pytest.mark.parametrize("index", range(len(recorded_lines())))
def test_recorded_line_round_trips_byte_for_byte(index: int) -> None:
    line = recorded_lines()[index]
    assert jsonpb.to_line(jsonpb.from_dict(json.loads(line))) == line
    assert hubble.parse_line(line) is not None


def test_fields_print_in_declaration_order_not_number_order() -> None:
    response = observer_pb2.GetFlowsResponse(node_name="n")
    response.flow.uuid = "u"  # field 34, declared second
    response.flow.verdict = flow_pb2.DROPPED  # field 2
    response.flow.l7.dns.rcode = 5  # 6, declared after observation_source (5)
    response.flow.l7.dns.observation_source = "proxy"
    assert jsonpb.to_line(response) == (
        '{"flow":{"uuid":"u","verdict":"DROPPED","l7":{"dns":{"observation_source":"proxy",'
        '"rcode":5}}},"node_name":"n"}')


def test_html_characters_escaped_as_go_encoding_json_does() -> None:
    response = observer_pb2.GetFlowsResponse()
    response.flow.l7.http.url = "/a?b=1&c=<2>\u2028é"
    assert jsonpb.to_line(response) == (
        '{"flow":{"l7":{"http":{"url":"/a?b=1\\u0026c=\\u003c2\\u003e\\u2028é"}}}}')


def test_a_field_the_proto_lacks_is_an_error() -> None:
    obj = json.loads(recorded_lines()[0])
    obj["flow"]["not_a_hubble_field"] = 1
    with pytest.raises(json_format.ParseError, match="not_a_hubble_field"):
        jsonpb.from_dict(obj)
