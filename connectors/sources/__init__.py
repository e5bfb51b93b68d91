"""Sales source connectors, one module per platform, loaded by slug (see ``connectors.base``)."""
