"""Give the journal and the built-in books written before multi-currency their functional amounts.

An entry in its connection's functional currency keeps its amounts at rate 1. An entry in another
currency has no rate to convert it with: it keeps zero functional amounts and an empty rate
source, which the trial balance reports as "no rate" until it is re-posted.
"""

from django.db import migrations
from django.db.models import F, OuterRef, Subquery


def fill(apps, schema_editor):
    JournalEntry = apps.get_model("integrator", "JournalEntry")
    JournalLine = apps.get_model("integrator", "JournalLine")
    BookEntry = apps.get_model("integrator", "BookEntry")
    BookLine = apps.get_model("integrator", "BookLine")
    LedgerConnection = apps.get_model("integrator", "LedgerConnection")
    functional = LedgerConnection.objects.filter(pk=OuterRef("connection_id")).values("functional_currency")[
        :1
    ]
    JournalEntry.objects.update(functional_currency=Subquery(functional))
    BookEntry.objects.update(functional_currency=Subquery(functional))
    same = JournalEntry.objects.filter(currency=F("functional_currency"))
    same.update(exchange_rate=1, rate_source="identity")
    JournalLine.objects.filter(entry__in=same).update(
        functional_debit=F("debit"), functional_credit=F("credit"), rate=1
    )
    same_books = BookEntry.objects.filter(currency=F("functional_currency"))
    same_books.update(exchange_rate=1)
    BookLine.objects.filter(entry__in=same_books).update(
        functional_debit=F("debit"), functional_credit=F("credit")
    )


class Migration(migrations.Migration):
    dependencies = [("integrator", "0009_multi_currency")]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
