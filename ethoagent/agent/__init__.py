"""Everything that talks to a model: clients (online, offline), embeddings, cache, trace."""
