"""Recompute every transaction's content hash with the hash that leaves out empty fields.

The hash decides whether a redelivered document is a new revision; computed the old way, the next
delivery of an unchanged document would look changed once fields with empty defaults were added to
the canonical shape. Reversing is a no-op: the old hashes cannot be told apart from the new ones by
anything but a redelivery.
"""

from django.db import migrations


def recompute(apps, schema_editor):
    from integrator.canonical import document_from_dict
    from integrator.services.transactions import content_hash

    Transaction = apps.get_model("integrator", "Transaction")
    for pk, document in Transaction.objects.values_list("pk", "document").iterator(chunk_size=500):
        try:
            digest = content_hash(document_from_dict(document))
        except (KeyError, TypeError, ValueError):
            continue  # a document this code cannot read keeps its hash
        Transaction.objects.filter(pk=pk).update(content_hash=digest)


class Migration(migrations.Migration):
    dependencies = [("integrator", "0006_till_dimensions_and_cash_counts")]

    operations = [migrations.RunPython(recompute, migrations.RunPython.noop)]
