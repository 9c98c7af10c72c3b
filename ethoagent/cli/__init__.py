"""Command-line front end: one module per command group, registered in ``app``.

Thin: parse options, run a pipeline, print. Library code never imports this package."""
