"""Screens of the security area: API tokens, two-factor authentication, the audit trail."""
