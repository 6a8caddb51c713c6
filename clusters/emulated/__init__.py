"""The emulated Kubernetes + Cilium control plane (`--cluster=simulated`): an API server on
127.0.0.1 that the suite's real cluster client talks to. See README.md here: it lists, per
module, the upstream files each behaviour follows (e.g. `daemon/restapi/policy.go`,
`pkg/endpoint/policy.go`, `pkg/envoy/xds_server.go`, `apiserver/pkg/storage/etcd3/store.go`).
"""
