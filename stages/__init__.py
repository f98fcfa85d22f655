"""primps.stages: the `primps` command line and one module per pipeline stage."""
