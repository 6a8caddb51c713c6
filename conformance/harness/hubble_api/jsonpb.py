"""GetFlowsResponse <-> the line `hubble observe -o jsonpb` prints.

Upstream (cilium v1.19.4): the CLI's printer writes each response with Go's
`json.NewEncoder(w).Encode(res)` (hubble/pkg/printer/printer.go, WriteProtoFlow, case
JSONPBOutput), and the response's MarshalJSON is protojson with UseProtoNames
(api/v1/observer/observer.pb.json.go). So a line is protojson - proto field names, enums
as names, 64-bit integers as strings, zero fields omitted, Timestamps in RFC 3339 with
0/3/6/9 fractional digits - then compacted by encoding/json, which also escapes `<`, `>`,
`&`, U+2028 and U+2029 (encoding/json appendCompact with escapeHTML). protojson writes
fields in declaration order (google.golang.org/protobuf/encoding/protojson encode.go,
order.IndexNameFieldOrder), while Python's json_format writes them in field-number
order, so the keys are put back in declaration order here.
"""

from __future__ import annotations

import json
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message

from conformance.harness.hubble_api import observer_pb2

# encoding/json's HTML-safe escapes; these characters only occur inside JSON strings.
_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
               "\u2028": "\\u2028", "\u2029": "\\u2029"}
_GO_ESCAPE_TABLE = str.maketrans(_GO_ESCAPES)


def to_line(response: Message) -> str:
    """The jsonpb line (no trailing newline) for one GetFlowsResponse."""
    obj = json_format.MessageToDict(response, preserving_proto_field_name=True)
    text = json.dumps(_in_declaration_order(obj, response.DESCRIPTOR), ensure_ascii=False,
                      separators=(",", ":"))
    return text.translate(_GO_ESCAPE_TABLE)


def _in_declaration_order(obj: dict[str, Any], descriptor: Descriptor) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in descriptor.fields:
        if field.name not in obj:
            continue
        value = obj[field.name]
        if field.message_type is not None:  # well-known types became scalars: kept as is
            if isinstance(value, dict):
                value = _in_declaration_order(value, field.message_type)
            elif isinstance(value, list):
                value = [_in_declaration_order(v, field.message_type)
                         if isinstance(v, dict) else v for v in value]
        out[field.name] = value
    return out


def from_dict(obj: dict[str, Any]) -> Any:
    """A GetFlowsResponse from a jsonpb-shaped dict. A key the messages lack raises
    json_format.ParseError, so a field the suite reads but the .proto omits is caught."""
    response = observer_pb2.GetFlowsResponse()
    json_format.ParseDict(obj, response)
    return response
