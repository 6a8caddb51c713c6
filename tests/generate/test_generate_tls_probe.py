"""A TLS probe keeps its SNI through the `explain --probes` line the generator writes."""

from __future__ import annotations

import pytest

from conformance.generate.cells import describe_probe, probe_json
from conformance.model.probe import Probe

SRC = {"namespace": "payments", "labels": {"app": "payment-processor"}}
DST = {"namespace": "payments", "labels": {"app": "account-service"}}


@pytest.mark.parametrize(("sni", "shown"), [("a.example", "TLS SNI a.example :8443"),
                                            ("", "TLS SNI (none) :8443")])
def test_tls_probe_round_trips(sni: str, shown: str) -> None:
    probe = Probe.from_dict({"id": "t", "source": SRC, "destination": DST, "port": 8443,
                             "tls": {"sni": sni}})
    again = Probe.from_dict(probe_json(probe))
    assert again.tls == probe.tls
    assert describe_probe(again).endswith(shown)
