"""API permissions: Django model permissions, with 'view' required for reading."""

from __future__ import annotations

from rest_framework import permissions

__all__ = ["ModelPermission"]


class ModelPermission(permissions.DjangoModelPermissions):
    """Reading needs the model's view permission; writing its add/change/delete permission.

    Roles (groups created by migration 0003) grant these; objects are always fetched through the
    viewset's queryset.
    """

    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": [],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }
