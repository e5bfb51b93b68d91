"""The Lightspeed X-Series sandbox: a fake store (:mod:`.store`) served over HTTP (:mod:`.server`)."""

from connectors.sandbox.lightspeed_x.server import DEFAULT_TOKEN, LightspeedXSandbox
from connectors.sandbox.lightspeed_x.store import Item, XSeriesStore, stamp
from connectors.sandbox.lightspeed_x.wire import dumps, loads

__all__ = ["DEFAULT_TOKEN", "Item", "LightspeedXSandbox", "XSeriesStore", "dumps", "loads", "stamp"]
