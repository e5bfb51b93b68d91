"""Routes of the security area, under /security/ (namespace ``security``)."""

from django.urls import path

from integrator.security.views import audit, mfa, tokens

app_name = "security"

urlpatterns = [
    path("mfa/", mfa.mfa_status, name="mfa"),
    path("mfa/enrol/", mfa.mfa_enrol, name="mfa-enrol"),
    path("mfa/verify/", mfa.mfa_verify, name="mfa-verify"),
    path("mfa/backup-codes/", mfa.mfa_backup_codes, name="mfa-backup-codes"),
    path("tokens/", tokens.token_list, name="tokens"),
    path("tokens/new/", tokens.token_create, name="token-create"),
    path("tokens/<uuid:pk>/revoke/", tokens.token_revoke, name="token-revoke"),
    path("audit/", audit.audit_list, name="audit"),
    path("audit/export.csv", audit.audit_export, name="audit-export"),
]
