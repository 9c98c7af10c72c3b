"""Pipeline graphs (LangGraph) built from the shared propose -> check -> route node pattern."""
