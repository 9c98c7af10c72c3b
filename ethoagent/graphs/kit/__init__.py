"""What every pipeline graph shares: the propose -> check -> route node, the runtime, the
pipeline spec and ``run_pipeline``, the registry."""
