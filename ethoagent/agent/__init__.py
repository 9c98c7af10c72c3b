"""Everything that talks to a model: clients (online, offline), cache, trace, chat."""
