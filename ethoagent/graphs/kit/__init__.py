"""What every pipeline graph shares: the propose -> check -> route node, the runtime, the registry."""
