"""What every pipeline graph shares.

The propose -> check -> route node, the runtime, the pipeline spec and ``run_pipeline``,
the registry.
"""
