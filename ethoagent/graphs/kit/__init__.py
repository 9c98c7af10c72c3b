"""What every pipeline graph shares: the propose -> check -> route node, runtime, registry."""
