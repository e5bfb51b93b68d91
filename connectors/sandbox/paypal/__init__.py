"""The PayPal sandbox (see :mod:`.server`), its certificate authority (:mod:`.pki`), its balance
(:mod:`.ledger`) and the builders that keep them consistent (:mod:`.factories`)."""

from .factories import capture_object
from .ledger import BalanceBook, Record
from .pki import SIGNING_NAME, TestPKI, default_pki, make_pki, rogue_pki
from .server import PayPalSandbox

__all__ = [
    "SIGNING_NAME",
    "BalanceBook",
    "PayPalSandbox",
    "Record",
    "TestPKI",
    "capture_object",
    "default_pki",
    "make_pki",
    "rogue_pki",
]
