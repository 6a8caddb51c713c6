"""prober: runs batches of HTTP, gRPC, DNS and TCP probes and names each outcome."""
