"""Mapping screens: sets and their rules (with search), change requests (editor with inline
validation, diff, impact preview), the approval queue, version history, held transactions grouped
by what is missing, chart of accounts import / export, and re-posting preview and results.

Every write calls a service; the services enforce maker-checker, so a button shown by mistake
still cannot let an author approve their own change.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, F, Q
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.views.decorators.http import require_POST

from connectors.base import ConnectorError
from integrator.choices import RuleKind
from integrator.models import (
    Channel,
    LedgerAccount,
    LedgerConnection,
    MappingChangeRequest,
    MappingSet,
    MappingVersion,
    RepostRequest,
    TaxCode,
)
from integrator.models.mapping_changes import ChangeAction, ChangeStatus
from integrator.services import chart, reposting
from integrator.services import mapping_changes as svc
from integrator.views import mapping_scope
from integrator.widgets import IsoDateInput

__all__ = ["urlpatterns"]

VIEW = "integrator.view_mappingset"


# -- forms ---------------------------------------------------------------------------------------


class ChangeForm(forms.Form):
    """Title, reason and effective date of a change."""

    title = forms.CharField(max_length=200)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    effective_from = forms.DateField(widget=IsoDateInput())


class ItemForm(forms.Form):
    """One rule to add, change or remove; accounts and tax codes of the set's ledger only."""

    action = forms.ChoiceField(choices=[("", "Add or change"), *ChangeAction.choices], required=False)
    kind = forms.ChoiceField(choices=RuleKind.choices)
    match_field = forms.ChoiceField(
        choices=[
            ("default", "Default"),
            ("sku", "SKU"),
            ("category", "Category"),
            ("tax", "Tax rate title"),
            ("method", "Payment method / gateway"),
        ]
    )
    match_value = forms.CharField(max_length=120, required=False)
    account = forms.ModelChoiceField(queryset=LedgerAccount.objects.none(), required=False)
    tax_code = forms.ModelChoiceField(queryset=TaxCode.objects.none(), required=False)
    item_ref = forms.CharField(max_length=100, required=False)

    def __init__(self, *args: Any, connection: LedgerConnection, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["account"].queryset = LedgerAccount.objects.filter(connection=connection, active=True)  # type: ignore[attr-defined]
        self.fields["tax_code"].queryset = TaxCode.objects.filter(connection=connection, active=True)  # type: ignore[attr-defined]


class FileForm(forms.Form):
    """An uploaded CSV or XLSX file (or, on confirmation, its content carried over)."""

    file = forms.FileField(required=False)
    content = forms.CharField(widget=forms.HiddenInput, required=False)
    filename = forms.CharField(widget=forms.HiddenInput, required=False)
    what = forms.ChoiceField(choices=[("accounts", "Accounts"), ("tax_codes", "Tax codes")], required=False)
    confirm = forms.BooleanField(required=False)

    def payload(self) -> tuple[bytes, str, str]:
        """(content, format, filename) from the upload or the carried-over content."""
        upload = self.cleaned_data.get("file")
        if upload is not None:
            content, name = upload.read(), upload.name
        else:
            try:
                content = base64.b64decode(self.cleaned_data.get("content") or "", validate=True)
            except (binascii.Error, ValueError):
                content = b""
            name = self.cleaned_data.get("filename") or ""
        if not content:
            raise chart.ChartFileError("choose a CSV or XLSX file")
        fmt = name.rsplit(".", 1)[-1].lower() if "." in name else "csv"
        return content, fmt, name


# -- helpers -------------------------------------------------------------------------------------


def _guard(request: HttpRequest, call: Callable[[], Any], *, success: str) -> tuple[bool, int]:
    """Run a service call; turn its refusals into messages. Returns (ok, http status)."""
    try:
        call()
    except PermissionDenied as exc:
        messages.error(request, str(exc) or "You may not do that.")
        return False, 403
    except svc.ItemInvalid as exc:
        messages.error(request, "; ".join(m for msgs in exc.errors.values() for m in msgs))
        return False, 400
    except (svc.MappingChangeError, reposting.RepostError, chart.ChartFileError) as exc:
        messages.error(request, str(exc))
        return False, 409
    messages.success(request, success)
    return True, 200


def _rules(version: MappingVersion | None, q: str) -> Any:
    if version is None:
        return []
    rules = version.rules.select_related("account", "tax_code").order_by("kind", "match_field", "match_value")
    if q:
        rules = rules.filter(
            Q(kind__icontains=q)
            | Q(match_value__icontains=q)
            | Q(account__code__icontains=q)
            | Q(account__name__icontains=q)
            | Q(item_ref__icontains=q)
        )
    return rules


# -- mapping sets, rules, history ----------------------------------------------------------------


@login_required
@permission_required(VIEW, raise_exception=True)
def mapping_index(request: HttpRequest) -> HttpResponse:
    """Every mapping set with its current version, open changes and held transactions."""
    sets = MappingSet.objects.select_related("channel", "connection").annotate(
        open_changes=Count(
            "change_requests",
            filter=Q(change_requests__status__in=[ChangeStatus.DRAFT, ChangeStatus.SUBMITTED]),
        )
    )
    rows = [{"set": s, "version": svc.current_version(s)} for s in sets]
    return render(
        request,
        "integrator/mappings/index.html",
        {
            "rows": rows,
            "held": svc.held_groups()[:5],
            "waiting": MappingChangeRequest.objects.filter(status=ChangeStatus.SUBMITTED).count(),
            "connections": LedgerConnection.objects.all(),
            "unmapped": Channel.objects.filter(ledger_connection__isnull=False)
            .exclude(mapping_sets__connection=F("ledger_connection"))
            .select_related("ledger_connection"),
        },
    )


@login_required
@require_POST
def mapping_set_create(request: HttpRequest) -> HttpResponseBase:
    """Start mappings for a channel that has a ledger but no mapping set yet."""
    channel = get_object_or_404(
        Channel.objects.select_related("ledger_connection"), pk=request.POST.get("channel")
    )
    if channel.ledger_connection is None or not request.user.has_perm("integrator.add_mappingchangerequest"):
        raise PermissionDenied
    mapping_set = svc.mapping_set_for(channel, channel.ledger_connection, actor=request.user)
    return redirect("mappings-set", pk=mapping_set.pk)


@login_required
@permission_required(VIEW, raise_exception=True)
def mapping_set_detail(request: HttpRequest, pk: str) -> HttpResponse:
    """The rules in force, searchable (htmx swaps the rows), open changes, and a new-change form."""
    mapping_set = get_object_or_404(MappingSet.objects.select_related("channel", "connection"), pk=pk)
    version = svc.current_version(mapping_set)
    q = request.GET.get("q", "").strip()
    context = {"set": mapping_set, "version": version, "rules": _rules(version, q), "q": q}
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "integrator/mappings/_rule_rows.html", context)
    context.update(
        changes=mapping_set.change_requests.filter(
            status__in=[ChangeStatus.DRAFT, ChangeStatus.SUBMITTED]
        ).select_related("author"),
        form=ChangeForm(initial={"effective_from": svc.business_today(mapping_set)}),
        reposts=mapping_set.repost_requests.filter(status="pending"),
    )
    return render(request, "integrator/mappings/set_detail.html", context)


@login_required
@permission_required(VIEW, raise_exception=True)
def version_history(request: HttpRequest, pk: str) -> HttpResponse:
    """Every version: who drafted and approved it, when, why; and changes that were turned down."""
    mapping_set = get_object_or_404(MappingSet.objects.select_related("channel", "connection"), pk=pk)
    versions = mapping_set.versions.select_related("created_by", "approved_by").prefetch_related(
        "change_requests__reviewer"
    )
    declined = mapping_set.change_requests.filter(
        status__in=[ChangeStatus.REJECTED, ChangeStatus.WITHDRAWN]
    ).select_related("author", "reviewer")
    return render(
        request,
        "integrator/mappings/history.html",
        {"set": mapping_set, "versions": versions, "declined": declined},
    )


@login_required
@permission_required(VIEW, raise_exception=True)
def version_export(request: HttpRequest, pk: str, fmt: str) -> HttpResponse:
    """A version's rules as CSV or XLSX (re-importable into a draft change)."""
    version = get_object_or_404(MappingVersion, pk=pk)
    if fmt not in chart.FORMATS:
        return HttpResponse(status=404)
    response = HttpResponse(chart.export_rules(version, fmt=fmt), content_type=chart.CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="mapping-v{version.number}.{fmt}"'
    return response


# -- change requests -----------------------------------------------------------------------------


@login_required
@require_POST
def change_create(request: HttpRequest, pk: str) -> HttpResponseBase:
    """Start a draft change on a mapping set."""
    mapping_set = get_object_or_404(MappingSet, pk=pk)
    form = ChangeForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the change a title and an effective date.")
        return redirect("mappings-set", pk=pk)
    made: dict[str, MappingChangeRequest] = {}

    def draft() -> None:
        made["change"] = svc.draft_change(mapping_set, actor=request.user, **form.cleaned_data)

    ok, status = _guard(request, draft, success="Draft started: add the rules to change, then submit it.")
    if not ok:
        if status == 403:
            raise PermissionDenied
        return redirect("mappings-set", pk=pk)
    return redirect("mappings-change", pk=made["change"].pk)


def _change_context(request: HttpRequest, change: MappingChangeRequest, **extra: Any) -> dict[str, Any]:
    user = request.user
    mapping_set = change.mapping_set
    is_author = change.author_id == user.pk
    q = request.GET.get("q", "").strip()
    initial = {
        k: request.GET[k] for k in ("kind", "match_field", "match_value", "action") if k in request.GET
    }
    return {
        "change": change,
        "set": mapping_set,
        "items": change.items.select_related("account", "tax_code"),
        "diff": svc.change_diff(change) if change.status == ChangeStatus.DRAFT else change.diff,
        "conflicts": svc.conflicting_changes(change) if change.is_open else [],
        "is_author": is_author,
        "can_edit": is_author and change.status == ChangeStatus.DRAFT,
        "can_decide": change.status == ChangeStatus.SUBMITTED
        and not is_author
        and user.has_perm(svc.APPROVE_PERMISSION),
        "past": change.effective_from < svc.business_today(mapping_set),
        "item_form": extra.pop("item_form", None)
        or ItemForm(initial=initial, connection=mapping_set.connection),
        "edit_form": ChangeForm(
            initial={"title": change.title, "reason": change.reason, "effective_from": change.effective_from}
        ),
        "rules": _rules(svc.current_version(mapping_set), q),
        "q": q,
        "repost": RepostRequest.objects.filter(change=change).first(),
        "target_rows": [
            {
                "target": t,
                "diff": svc.change_diff(change, svc.rules_of(t.mapping_set), upsert=True)
                if change.status == ChangeStatus.DRAFT
                else t.diff,
            }
            for t in change.targets.select_related("mapping_set__channel", "version", "repost").order_by(
                "mapping_set__channel__name"
            )
        ],
        "other_sets": mapping_scope.other_sets(mapping_set)
        if is_author and change.status == ChangeStatus.DRAFT
        else [],
        **extra,
    }


@login_required
@permission_required("integrator.view_mappingchangerequest", raise_exception=True)
def change_detail(request: HttpRequest, pk: str) -> HttpResponse:
    """A change: its items (editable while a draft, by its author), diff, conflicts, decision."""
    change = get_object_or_404(
        MappingChangeRequest.objects.select_related(
            "mapping_set__channel", "mapping_set__connection", "author", "reviewer", "version"
        ),
        pk=pk,
    )
    if request.htmx and request.GET.get("q") is not None:  # type: ignore[attr-defined]
        return render(request, "integrator/mappings/_rule_rows.html", _change_context(request, change))
    return render(request, "integrator/mappings/change_detail.html", _change_context(request, change))


@login_required
@require_POST
def change_edit(request: HttpRequest, pk: str) -> HttpResponseBase:
    """Edit a draft's title, reason and effective date."""
    change = get_object_or_404(MappingChangeRequest, pk=pk)
    form = ChangeForm(request.POST)
    if form.is_valid():
        _guard(
            request,
            lambda: svc.update_change(change, actor=request.user, **form.cleaned_data),
            success="Saved.",
        )
    else:
        messages.error(request, "Give the change a title and an effective date.")
    return redirect("mappings-change", pk=pk)


def _item_kwargs(form: ItemForm) -> dict[str, Any]:
    data = form.cleaned_data
    return {
        "action": data["action"] or None,
        "kind": data["kind"],
        "match_field": data["match_field"],
        "match_value": data["match_value"],
        "account": data["account"],
        "tax_code": data["tax_code"],
        "item_ref": data["item_ref"],
    }


@login_required
@require_POST
def item_validate(request: HttpRequest, pk: str) -> HttpResponse:
    """Inline validation (htmx): the errors and warnings the item would get, without saving."""
    change = get_object_or_404(MappingChangeRequest.objects.select_related("mapping_set__connection"), pk=pk)
    form = ItemForm(request.POST, connection=change.mapping_set.connection)
    check = svc.ItemCheck()
    if form.is_valid():
        check = svc.check_item(change, **_item_kwargs(form))
    else:
        for name, errs in form.errors.items():
            for e in errs:
                check.add(name, str(e))
    return render(request, "integrator/mappings/_item_check.html", {"check": check})


@login_required
@require_POST
def item_save(request: HttpRequest, pk: str) -> HttpResponseBase:
    """Add or replace an item of a draft (re-shows the form with its errors when refused)."""
    change = get_object_or_404(MappingChangeRequest.objects.select_related("mapping_set__connection"), pk=pk)
    form = ItemForm(request.POST, connection=change.mapping_set.connection)
    if not form.is_valid():
        return render(
            request,
            "integrator/mappings/change_detail.html",
            _change_context(request, change, item_form=form),
            status=400,
        )
    try:
        svc.set_item(change, actor=request.user, **_item_kwargs(form))
    except svc.ItemInvalid as exc:
        for name, msgs in exc.errors.items():
            for m in msgs:
                form.add_error(name if name in form.fields else None, m)
        return render(
            request,
            "integrator/mappings/change_detail.html",
            _change_context(request, change, item_form=form),
            status=400,
        )
    except (PermissionDenied, svc.MappingChangeError) as exc:
        messages.error(request, str(exc))
        status = 403 if isinstance(exc, PermissionDenied) else 409
        return render(
            request, "integrator/mappings/change_detail.html", _change_context(request, change), status=status
        )
    messages.success(request, "Item saved.")
    return redirect("mappings-change", pk=pk)


@login_required
@require_POST
def item_delete(request: HttpRequest, pk: str, item_id: str) -> HttpResponseBase:
    """Remove an item from a draft."""
    change = get_object_or_404(MappingChangeRequest, pk=pk)
    item = get_object_or_404(change.items, pk=item_id)
    _guard(request, lambda: svc.remove_item(change, item, actor=request.user), success="Item removed.")
    return redirect("mappings-change", pk=pk)


@login_required
@permission_required("integrator.view_mappingchangerequest", raise_exception=True)
def change_impact(request: HttpRequest, pk: str) -> HttpResponse:
    """The impact preview (loaded by htmx into the change page, or on its own)."""
    change = get_object_or_404(MappingChangeRequest.objects.select_related("mapping_set__channel"), pk=pk)
    preview = svc.impact_preview(change)
    template = "integrator/mappings/_impact.html" if request.htmx else "integrator/mappings/impact.html"  # type: ignore[attr-defined]
    return render(request, template, {"change": change, "preview": preview})


@login_required
@require_POST
def change_decide(request: HttpRequest, pk: str, verb: str) -> HttpResponseBase:
    """submit / approve / reject / withdraw. A refusal re-shows the change with the reason and a
    403 (not allowed) or 409 (wrong state) status."""
    change = get_object_or_404(MappingChangeRequest, pk=pk)
    comment = request.POST.get("comment", "")
    calls: dict[str, tuple[Callable[[], Any], str]] = {
        "submit": (lambda: svc.submit_change(change, actor=request.user), "Submitted for approval."),
        "approve": (
            lambda: svc.approve_change(
                change,
                actor=request.user,
                comment=comment,
                confirm_reposting=request.POST.get("confirm_reposting") == "on",
            ),
            "Approved: the new version is in force from its effective date.",
        ),
        "reject": (lambda: svc.reject_change(change, actor=request.user, comment=comment), "Rejected."),
        "withdraw": (lambda: svc.withdraw_change(change, actor=request.user), "Withdrawn."),
    }
    if verb not in calls:
        return HttpResponse(status=404)
    call, success = calls[verb]
    ok, status = _guard(request, call, success=success)
    if not ok:
        change.refresh_from_db()
        return render(
            request, "integrator/mappings/change_detail.html", _change_context(request, change), status=status
        )
    change.refresh_from_db()
    repost = RepostRequest.objects.filter(change=change).first()
    if verb == "approve" and repost is not None:
        return redirect("mappings-repost", pk=repost.pk)
    return redirect("mappings-change", pk=pk)


@login_required
def change_import(request: HttpRequest, pk: str) -> HttpResponse:
    """Import rules from CSV / XLSX into a draft: a dry-run preview with row errors, then confirm."""
    change = get_object_or_404(MappingChangeRequest.objects.select_related("mapping_set__connection"), pk=pk)
    return _import_screen(
        request,
        FileForm(request.POST or None, request.FILES or None),
        lambda content, fmt, dry: chart.import_rules_into_change(
            change, content=content, fmt=fmt, dry_run=dry, actor=request.user
        ),
        {"change": change, "set": change.mapping_set, "title": f"Import rules into “{change.title}”"},
    )


def _import_screen(
    request: HttpRequest,
    form: FileForm,
    run: Callable[[bytes, str, bool], chart.ImportReport],
    context: dict[str, Any],
) -> HttpResponse:
    """Shared by the chart and rules imports: preview (dry run), then confirm with the same file."""
    report = None
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            content, fmt, name = form.payload()
            dry = not form.cleaned_data.get("confirm")
            report = run(content, fmt, dry)
            context.update(carry=base64.b64encode(content).decode(), filename=name)
            if report.imported:
                messages.success(request, f"Imported {report.new} new and {report.updated} changed rows.")
            status = 200 if report.ok else 400
        except chart.ChartFileError as exc:
            messages.error(request, str(exc))
            status = 400
        except PermissionDenied as exc:
            messages.error(request, str(exc))
            status = 403
    return render(
        request, "integrator/mappings/import.html", {"form": form, "report": report, **context}, status=status
    )


# -- approval queue and held transactions -------------------------------------------------------


@login_required
@permission_required("integrator.view_mappingchangerequest", raise_exception=True)
def approval_queue(request: HttpRequest) -> HttpResponse:
    """Submitted changes waiting for a decision, oldest first, with their diffs and conflicts."""
    waiting = (
        MappingChangeRequest.objects.filter(status=ChangeStatus.SUBMITTED)
        .select_related("author", "mapping_set__channel", "mapping_set__connection")
        .prefetch_related("targets__mapping_set__channel")
        .order_by("submitted_at")
    )
    can_approve = request.user.has_perm(svc.APPROVE_PERMISSION)
    rows = [
        {
            "change": c,
            "conflicts": svc.conflicting_changes(c),
            "mine": c.author_id == request.user.pk,
            "past": c.effective_from < svc.business_today(c.mapping_set),
        }
        for c in waiting
    ]
    return render(request, "integrator/mappings/approvals.html", {"rows": rows, "can_approve": can_approve})


@login_required
@permission_required("integrator.view_transaction", raise_exception=True)
def held_transactions(request: HttpRequest) -> HttpResponse:
    """Transactions held for want of a mapping, grouped by the missing value."""
    channel = request.GET.get("channel") or None
    sets = MappingSet.objects.select_related("channel")
    return render(
        request,
        "integrator/mappings/held.html",
        {"groups": svc.held_groups(channel_id=channel), "sets": sets},
    )


# -- chart of accounts ---------------------------------------------------------------------------


@login_required
@permission_required("integrator.view_ledgeraccount", raise_exception=True)
def chart_detail(request: HttpRequest, pk: str) -> HttpResponse:
    """A ledger's accounts and tax codes, with refresh from the ledger, import and export."""
    connection = get_object_or_404(LedgerConnection, pk=pk)
    form = FileForm(request.POST or None, request.FILES or None)
    what = request.POST.get("what") or "accounts"
    context = {
        "connection": connection,
        "what": what,
        "title": f"Chart of accounts: {connection.name}",
        "accounts": connection.accounts.all(),
        "tax_codes": connection.tax_codes.all(),
    }
    return _import_screen(
        request,
        form,
        lambda content, fmt, dry: chart.import_chart(
            connection, content=content, fmt=fmt, what=what, dry_run=dry, actor=request.user
        ),
        context,
    )


@login_required
@require_POST
def chart_refresh(request: HttpRequest, pk: str) -> HttpResponseBase:
    """Fetch accounts, tax codes and items from the ledger."""
    connection = get_object_or_404(LedgerConnection, pk=pk)
    try:
        out = chart.refresh_chart(connection, actor=request.user)
    except PermissionDenied as exc:
        messages.error(request, str(exc))
    except (ConnectorError, NotImplementedError) as exc:
        messages.error(request, f"The ledger did not answer: {exc}")
    else:
        messages.success(
            request,
            f"{len(out.created)} added, {len(out.updated)} updated, "
            f"{len(out.deactivated)} deactivated, {len(out.items)} items.",
        )
    return redirect("mappings-chart", pk=pk)


@login_required
@permission_required("integrator.view_ledgeraccount", raise_exception=True)
def chart_export(request: HttpRequest, pk: str, what: str, fmt: str) -> HttpResponse:
    """Accounts or tax codes as CSV or XLSX."""
    connection = get_object_or_404(LedgerConnection, pk=pk)
    if what not in ("accounts", "tax_codes") or fmt not in chart.FORMATS:
        return HttpResponse(status=404)
    response = HttpResponse(
        chart.export_chart(connection, what=what, fmt=fmt), content_type=chart.CONTENT_TYPES[fmt]
    )
    response["Content-Disposition"] = f'attachment; filename="{what}.{fmt}"'
    return response


# -- re-posting ----------------------------------------------------------------------------------


@login_required
@permission_required("integrator.view_repostrequest", raise_exception=True)
def repost_detail(request: HttpRequest, pk: str) -> HttpResponse:
    """The preview of a re-posting (before) or its per-document results (after)."""
    repost = get_object_or_404(
        RepostRequest.objects.select_related("version", "change", "mapping_set__channel"), pk=pk
    )
    results = repost.results.select_related("transaction", "original_entry", "reversal_entry", "new_entry")
    return render(
        request,
        "integrator/mappings/repost.html",
        {
            "repost": repost,
            "results": results,
            "can_execute": request.user.has_perm(reposting.EXECUTE_PERMISSION),
        },
    )


@login_required
@require_POST
def repost_action(request: HttpRequest, pk: str, verb: str) -> HttpResponseBase:
    """Execute or cancel a pending re-posting."""
    repost = get_object_or_404(RepostRequest, pk=pk)
    if verb == "execute":
        _ok, status = _guard(
            request,
            lambda: reposting.execute_repost(repost, actor=request.user),
            success="Re-posted: see each document's result below.",
        )
    elif verb == "cancel":
        _ok, status = _guard(
            request,
            lambda: reposting.cancel_repost(
                repost, actor=request.user, comment=request.POST.get("comment", "")
            ),
            success="Cancelled.",
        )
    else:
        return HttpResponse(status=404)
    if status == 403:
        raise PermissionDenied
    return redirect("mappings-repost", pk=pk)


urlpatterns = [
    path("", mapping_index, name="mappings"),
    path("sets/new/", mapping_set_create, name="mappings-set-new"),
    path("held/", held_transactions, name="mappings-held"),
    path("fix/", mapping_scope.draft_from_held, name="mappings-fix"),
    path("approvals/", approval_queue, name="mappings-approvals"),
    path("sets/<uuid:pk>/", mapping_set_detail, name="mappings-set"),
    path("sets/<uuid:pk>/history/", version_history, name="mappings-history"),
    path("sets/<uuid:pk>/changes/new/", change_create, name="mappings-change-new"),
    path("versions/<uuid:pk>/export.<str:fmt>", version_export, name="mappings-version-export"),
    path("changes/<uuid:pk>/", change_detail, name="mappings-change"),
    path("changes/<uuid:pk>/edit/", change_edit, name="mappings-change-edit"),
    path("changes/<uuid:pk>/items/", item_save, name="mappings-item-save"),
    path("changes/<uuid:pk>/items/validate/", item_validate, name="mappings-item-validate"),
    path("changes/<uuid:pk>/items/<uuid:item_id>/delete/", item_delete, name="mappings-item-delete"),
    path("changes/<uuid:pk>/impact/", change_impact, name="mappings-change-impact"),
    path("changes/<uuid:pk>/import/", change_import, name="mappings-change-import"),
    path("changes/<uuid:pk>/channels/", mapping_scope.change_channels, name="mappings-change-channels"),
    path("changes/<uuid:pk>/<str:verb>/", change_decide, name="mappings-change-decide"),
    path("chart/<uuid:pk>/", chart_detail, name="mappings-chart"),
    path("chart/<uuid:pk>/refresh/", chart_refresh, name="mappings-chart-refresh"),
    path("chart/<uuid:pk>/export/<str:what>.<str:fmt>", chart_export, name="mappings-chart-export"),
    path("reposts/<uuid:pk>/", repost_detail, name="mappings-repost"),
    path("reposts/<uuid:pk>/<str:verb>/", repost_action, name="mappings-repost-action"),
]
