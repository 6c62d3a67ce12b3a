"""Partner Center operations, one module per API area; resources never print and never build CLI output."""
