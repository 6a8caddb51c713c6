"""The project's shared vocabulary, at the bottom of the import layering: the Cilium release
catalogue (cilium.yaml, catalogue.py), cluster feature names, the probe workloads' names and
ports, and DNS constants. It imports nothing of the project (tests/test_import_contract.py),
so the model, the harness, clusters and the emulated cluster can all import it.
"""
