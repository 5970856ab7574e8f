"""The HTTP API, the composition root, settings and the `sourcing` command line."""
