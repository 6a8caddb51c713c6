"""Generated modules for api.AccountService; `python -m workloads.proto.generate` remakes them."""
