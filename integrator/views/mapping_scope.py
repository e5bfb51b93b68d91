"""Which channels a mapping change covers, and drafting a change from a held transaction.

* On a draft, its author ticks the other channels of the same ledger the change applies to as
  well: one change, one approval, one new version per channel
  (:func:`~integrator.services.mapping_changes.set_targets`).
* From a transaction held for want of a mapping, "Draft the mapping" opens a new change already
  filled in: the rule that is missing, every channel holding transactions that miss the same
  value, and an effective date early enough to release them all. The clerk then picks the
  account. Every write goes through the services, which enforce maker-checker.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from integrator.choices import RuleKind
from integrator.models import MappingChangeRequest, MappingSet, Transaction
from integrator.services import mapping_changes as svc
from integrator.widgets import IsoDateInput

__all__ = ["change_channels", "draft_from_held", "fix_suggestions", "other_sets"]

ADD = "integrator.add_mappingchangerequest"


def other_sets(mapping_set: MappingSet) -> list[MappingSet]:
    """The other mapping sets of the same ledger (channels a change could cover as well)."""
    return list(
        MappingSet.objects.filter(connection_id=mapping_set.connection_id)
        .exclude(pk=mapping_set.pk)
        .select_related("channel")
        .order_by("channel__name")
    )


def fix_suggestions(txn: Transaction, user: Any) -> list[dict[str, Any]]:
    """For a held transaction: each rule that would map what it misses, with the link that opens a
    prefilled draft change (empty when the user may not draft changes)."""
    can_draft = user.has_perm(ADD)
    out = []
    for rule in svc.suggested_rules(txn):
        query = urlencode(
            {"transaction": str(txn.pk), "kind": rule.kind, "match_field": rule.match_field,
             "match_value": rule.match_value}
        )  # fmt: skip
        out.append({"rule": rule, "url": f"{reverse('mappings-fix')}?{query}" if can_draft else ""})
    return out


@login_required
@require_POST
def change_channels(request: HttpRequest, pk: str) -> HttpResponseBase:
    """Set the other channels a draft covers (the ticked mapping sets of the same ledger)."""
    change = get_object_or_404(MappingChangeRequest.objects.select_related("mapping_set"), pk=pk)
    chosen = list(
        MappingSet.objects.filter(pk__in=request.POST.getlist("mapping_set")).select_related("channel")
    )
    try:
        targets = svc.set_targets(change, mapping_sets=chosen, actor=request.user)
    except PermissionDenied as exc:
        messages.error(request, str(exc) or "You may not do that.")
        raise
    except svc.ItemInvalid as exc:
        messages.error(request, "; ".join(m for msgs in exc.errors.values() for m in msgs))
    except svc.MappingChangeError as exc:
        messages.error(request, str(exc))
    else:
        names = ", ".join(sorted(t.mapping_set.channel.name for t in targets))
        messages.success(
            request,
            f"The change covers {names} as well." if names else "The change covers its own channel only.",
        )
    return redirect("mappings-change", pk=pk)


class FixForm(forms.Form):
    """A new change drafted from a held transaction: title, reason, date and channels."""

    title = forms.CharField(max_length=200)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    effective_from = forms.DateField(widget=IsoDateInput())
    mapping_sets = forms.ModelMultipleChoiceField(
        queryset=MappingSet.objects.none(), widget=forms.CheckboxSelectMultiple, required=False,
        label="Apply to these channels as well",
    )  # fmt: skip

    def __init__(self, *args: Any, others: list[MappingSet], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["mapping_sets"]
        field.queryset = MappingSet.objects.filter(pk__in=[ms.pk for ms in others]).select_related("channel")  # type: ignore[attr-defined]
        field.label_from_instance = lambda ms: ms.channel.name  # type: ignore[attr-defined]


@login_required
@permission_required(ADD, raise_exception=True)
def draft_from_held(request: HttpRequest) -> HttpResponse | HttpResponseBase:
    """A new change for the rule a held transaction misses, prefilled; POST drafts it and opens
    it with the rule filled in, ready for the account."""
    try:
        txn_id = uuid.UUID(request.GET.get("transaction", ""))
    except ValueError as exc:
        raise Http404("No such transaction.") from exc
    txn = get_object_or_404(Transaction.objects.select_related("channel__ledger_connection"), pk=txn_id)
    kind, match_field = request.GET.get("kind", ""), request.GET.get("match_field", "default")
    match_value = request.GET.get("match_value", "")
    wanted = next(
        (
            r
            for r in svc.suggested_rules(txn)
            if (r.kind, r.match_field, r.match_value) == (kind, match_field, match_value)
        ),
        None,
    )
    connection = txn.channel.ledger_connection
    mapping_set = MappingSet.objects.filter(channel=txn.channel, connection=connection).first()
    if wanted is None or mapping_set is None or kind not in RuleKind.values:
        messages.error(request, f"{txn} does not wait for that rule (any more): nothing to draft.")
        return redirect("transaction-detail", pk=txn.pk)
    waiting = svc.waiting_for(wanted.reason, mapping_set.connection_id)
    others = other_sets(mapping_set)
    held_here = next((h for h in waiting if h.mapping_set.pk == mapping_set.pk), None)
    earliest = min([h.earliest for h in waiting] or [txn.business_date])
    count = sum(h.count for h in waiting) or 1
    form = FixForm(
        request.POST or None,
        others=others,
        initial={
            "title": f"Map the {wanted.label}",
            "reason": f"{count} transaction{'s' if count != 1 else ''} held since {earliest:%d %b %Y}: "
            f"{wanted.reason}.",
            "effective_from": earliest,
            "mapping_sets": [h.mapping_set.pk for h in waiting if h.mapping_set.pk != mapping_set.pk],
        },
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            change = svc.draft_change(
                mapping_set, actor=request.user, title=data["title"], reason=data["reason"],
                effective_from=data["effective_from"], also=list(data["mapping_sets"]),
            )  # fmt: skip
        except svc.ItemInvalid as exc:
            for name, msgs in exc.errors.items():
                for m in msgs:
                    form.add_error(name if name in form.fields else None, m)
        else:
            messages.success(
                request,
                "Draft started with the rule filled in: choose the account, save the item, then submit it.",
            )
            query = urlencode({"kind": kind, "match_field": match_field, "match_value": match_value})
            return redirect(f"{reverse('mappings-change', args=[change.pk])}?{query}#item-form")
    return render(
        request,
        "integrator/mappings/fix.html",
        {"txn": txn, "rule": wanted, "set": mapping_set, "form": form, "waiting": waiting,
         "held_here": held_here, "others": others},
        status=400 if form.errors else 200,
    )  # fmt: skip
