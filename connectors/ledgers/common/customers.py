"""Who a document is for, in the ledger: the source's customer, or the walk-in customer.

A customer is found or created in the ledger by the source's customer identity (its own customer
id, else the e-mail, else the name); an anonymous till sale goes to the connection's walk-in
customer. The identity ``key`` is what the ledger connector stores with the ledger's id (the
connection's :class:`~connectors.base.RefStore`), so each customer is looked up once.
"""

from __future__ import annotations

from dataclasses import dataclass

from integrator.canonical import Party

__all__ = ["WALK_IN_KEY", "CustomerIdentity", "customer_identity"]

WALK_IN_KEY = "walk-in"


@dataclass(frozen=True)
class CustomerIdentity:
    """A customer as the ledger should know it."""

    key: str
    name: str
    email: str = ""
    company: str = ""
    tax_number: str = ""
    source_id: str = ""

    @property
    def walk_in(self) -> bool:
        """True for the connection's anonymous customer."""
        return self.key == WALK_IN_KEY


def customer_identity(party: Party | None, *, walk_in_name: str = "Walk-in customer") -> CustomerIdentity:
    """The ledger identity of a source's customer (the walk-in customer when there is none)."""
    if party is None or not (party.external_id or party.email or party.name or party.company):
        return CustomerIdentity(key=WALK_IN_KEY, name=walk_in_name)
    if party.external_id:
        key = f"id:{party.external_id}"
    elif party.email:
        key = f"email:{party.email.strip().lower()}"
    else:
        key = f"name:{(party.company or party.name).strip().lower()}"
    name = party.company or party.name or party.email or party.external_id
    return CustomerIdentity(
        key=key,
        name=name.strip()[:100],
        email=party.email,
        company=party.company,
        tax_number=party.tax_number,
        source_id=party.external_id,
    )
