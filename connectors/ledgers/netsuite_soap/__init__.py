"""NetSuite through SuiteTalk SOAP, registered as ``netsuite_soap`` (the registry needs a module named
after the platform); the target lives in :mod:`connectors.ledgers.netsuite.soap`."""

from connectors.ledgers.netsuite.soap import NetSuiteSoapTarget

__all__ = ["NetSuiteSoapTarget"]
