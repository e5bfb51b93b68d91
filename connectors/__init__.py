"""Connectors: one module per sales source (``sources/``) and accounting target (``ledgers/``)."""
