"""Fixtures of the API and screen tests: a ledger with a mapped channel, and users by role."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from integrator.models import Channel, LedgerConnection
from tests.conftest import make_channel


@dataclass
class ApiEnv:
    """What a resource's factory needs: the ledger, a mapped GBP channel, and a way to post events."""

    ledger: LedgerConnection
    channel: Channel
    post: Any


@pytest.fixture
def api_env(ledger: LedgerConnection, post_event: Any) -> ApiEnv:
    """A built-in ledger with its chart and a mapped channel ``till``."""
    return ApiEnv(ledger=ledger, channel=make_channel(ledger), post=post_event)


@pytest.fixture
def nobody(db: Any) -> Any:
    """A logged-in user with no role: may read nothing."""
    return get_user_model().objects.create_user(username="nobody", password="pw-nobody")


@pytest.fixture
def superuser(db: Any) -> Any:
    """A user holding every permission (not a Django superuser, whose writes would first need a
    second factor): write methods that do not exist still answer 405."""
    user = get_user_model().objects.create_user(username="everything", password="pw-everything")
    user.user_permissions.set(Permission.objects.all())
    return user
