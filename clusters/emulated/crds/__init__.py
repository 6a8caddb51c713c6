"""CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy CRD schemas per Cilium release.

`<version>/<plural>.yaml` files are written by `extract.py` from upstream's CRDs; `schema.py`
loads them. See README.md for the sources and the differences between releases.
"""
