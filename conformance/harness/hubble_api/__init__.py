"""Hubble Relay's gRPC API (observer.Observer/GetFlows), the subset the suite uses.

The .proto files are the project's own, wire-compatible with cilium v1.19.4; the
`*_pb2.py` modules are generated from them (`python -m
conformance.harness.hubble_api.generate`) and committed; `rpc.py` writes out the one
streaming method for both the client and the emulated relay.
"""
