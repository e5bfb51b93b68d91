"""Security: API tokens, two-factor authentication, session limits, the audit-trail screen.

The app label is ``security``. Roles themselves are groups (``integrator/migrations/0003_roles.py``);
this app adds what guards them: scoped API tokens (:mod:`.models`, :mod:`.tokens`,
:mod:`.authentication`), MFA for privileged roles (:mod:`.mfa`, :mod:`.middleware`), login
throttling (:mod:`.backends`), and the retention and key-rotation services used by the commands.
See docs/security.md for the whole model.
"""
