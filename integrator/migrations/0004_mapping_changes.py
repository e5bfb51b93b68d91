"""Maker-checker mapping changes and re-postings; permissions granted to the roles.

finance_clerk drafts and submits changes; finance_manager also approves or rejects the changes of
others and executes re-postings; auditor and integration_admin read them.
"""

import django.db.models.deletion
import uuid
from django.conf import settings
from django.db import migrations, models


MODELS = ["mappingchangerequest", "mappingchangeitem", "repostrequest", "repostresult"]
DRAFTING = [
    "add_mappingchangerequest",
    "change_mappingchangerequest",
    "submit_mappingchangerequest",
    "add_mappingchangeitem",
    "change_mappingchangeitem",
    "delete_mappingchangeitem",
]
GRANTS = {
    "finance_clerk": DRAFTING,
    "finance_manager": [*DRAFTING, "approve_mappingchangerequest", "execute_repostrequest"],
    "auditor": [],
    "integration_admin": [],
}


def grant(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after migrate; the groups need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ours = Permission.objects.filter(content_type__app_label="integrator")
    for name, codenames in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=name)
        views = [f"view_{m}" for m in MODELS]
        group.permissions.add(*ours.filter(codename__in=[*views, *codenames]))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    perms = Permission.objects.filter(content_type__app_label="integrator", content_type__model__in=MODELS)
    for group in Group.objects.filter(name__in=list(GRANTS)):
        group.permissions.remove(*perms)


class Migration(migrations.Migration):
    dependencies = [
        ("integrator", "0003_roles"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="MappingChangeRequest",
            fields=[
                (
                    "id",
                    models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False),
                ),
                ("title", models.CharField(max_length=200)),
                (
                    "reason",
                    models.TextField(
                        blank=True, help_text="Why the change is needed (shown to the reviewer)."
                    ),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("draft", "Draft"),
                            ("submitted", "Submitted for approval"),
                            ("approved", "Approved"),
                            ("rejected", "Rejected"),
                            ("withdrawn", "Withdrawn by its author"),
                        ],
                        default="draft",
                        max_length=10,
                    ),
                ),
                ("effective_from", models.DateField(help_text="First business day the new rules apply to.")),
                ("diff", models.JSONField(blank=True, default=list)),
                ("review_comment", models.TextField(blank=True)),
                ("submitted_at", models.DateTimeField(blank=True, null=True)),
                ("decided_at", models.DateTimeField(blank=True, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "author",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="mapping_changes_authored",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "base_version",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="integrator.mappingversion",
                    ),
                ),
                (
                    "mapping_set",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="change_requests",
                        to="integrator.mappingset",
                    ),
                ),
                (
                    "reviewer",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="mapping_changes_reviewed",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "version",
                    models.ForeignKey(
                        blank=True,
                        help_text="The version created when the change was approved.",
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="change_requests",
                        to="integrator.mappingversion",
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at"],
                "permissions": [
                    ("submit_mappingchangerequest", "Can submit a mapping change for approval"),
                    ("approve_mappingchangerequest", "Can approve or reject mapping changes of others"),
                ],
            },
        ),
        migrations.CreateModel(
            name="RepostRequest",
            fields=[
                (
                    "id",
                    models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False),
                ),
                (
                    "since",
                    models.DateField(
                        help_text="First business day re-posted (the version's effective date)."
                    ),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("pending", "Waiting to be executed"),
                            ("done", "Executed"),
                            ("cancelled", "Cancelled"),
                        ],
                        default="pending",
                        max_length=10,
                    ),
                ),
                ("preview", models.JSONField(blank=True, default=dict)),
                ("executed_at", models.DateTimeField(blank=True, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                (
                    "change",
                    models.OneToOneField(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="repost",
                        to="integrator.mappingchangerequest",
                    ),
                ),
                (
                    "executed_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "mapping_set",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="repost_requests",
                        to="integrator.mappingset",
                    ),
                ),
                (
                    "requested_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "version",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="integrator.mappingversion",
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at"],
                "permissions": [("execute_repostrequest", "Can execute an approved re-posting")],
            },
        ),
        migrations.CreateModel(
            name="RepostResult",
            fields=[
                (
                    "id",
                    models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False),
                ),
                (
                    "outcome",
                    models.CharField(
                        choices=[
                            ("reposted", "Reversed and posted again"),
                            ("unchanged", "Journal unchanged under the new rules"),
                            ("closed_period", "In a closed period: left as it was"),
                            ("needs_mapping", "The new rules do not cover it"),
                            ("skipped", "Changed since the preview: left to the pipeline"),
                            ("failed", "Failed"),
                        ],
                        max_length=14,
                    ),
                ),
                ("message", models.TextField(blank=True)),
                (
                    "delta",
                    models.JSONField(
                        blank=True, default=list, help_text="Net change per account: new minus old."
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "new_entry",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="integrator.journalentry",
                    ),
                ),
                (
                    "original_entry",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="integrator.journalentry",
                    ),
                ),
                (
                    "repost",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="results",
                        to="integrator.repostrequest",
                    ),
                ),
                (
                    "reversal_entry",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="integrator.journalentry",
                    ),
                ),
                (
                    "transaction",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="integrator.transaction",
                    ),
                ),
            ],
            options={
                "ordering": ["repost", "created_at"],
            },
        ),
        migrations.CreateModel(
            name="MappingChangeItem",
            fields=[
                (
                    "id",
                    models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False),
                ),
                (
                    "action",
                    models.CharField(
                        choices=[("add", "Add rule"), ("edit", "Change rule"), ("remove", "Remove rule")],
                        max_length=6,
                    ),
                ),
                ("kind", models.CharField(max_length=12)),
                ("match_field", models.CharField(default="default", max_length=10)),
                ("match_value", models.CharField(blank=True, max_length=120)),
                ("item_ref", models.CharField(blank=True, max_length=100)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "account",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="integrator.ledgeraccount",
                    ),
                ),
                (
                    "tax_code",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="integrator.taxcode",
                    ),
                ),
                (
                    "change",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="items",
                        to="integrator.mappingchangerequest",
                    ),
                ),
            ],
            options={
                "ordering": ["change", "kind", "match_field", "match_value"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("change", "kind", "match_field", "match_value"), name="uniq_change_item_rule"
                    )
                ],
            },
        ),
        migrations.RunPython(grant, revoke),
    ]
