"""Generic API tests, NetBox style: a resource declares a few attributes and inherits its battery.

A test class for a resource sets:

* ``url`` - the list URL (``/api/v1/transactions/``); detail is ``url + "<pk>/"``;
* ``model`` and ``expected_fields`` (keys every representation has);
* ``make(env, count)`` - create ``count`` objects (``env`` is the ``api_env`` fixture);
* ``filter_cases(made)`` - ``(query params, expected pks)`` pairs for :class:`FilterTests`.

and mixes in what the resource allows:

* :class:`GetObjectTests`, :class:`ListObjectsTests`, :class:`FilterTests` - anonymous,
  no-permission and permitted reads, 404, cursor pages, every filter;
* :class:`ReadOnlyTests` - every write method answers 405 (even for a superuser);
* :class:`ActionTests` - a POST action: anonymous, no permission, permitted (with its audit row),
  and the 409 for an object in the wrong state;
* :class:`CreateObjectTests`, :class:`UpdateObjectTests`, :class:`DeleteObjectTests` - writes,
  each checking the audit row the service wrote.

Every error must carry the standard body ``{"error": {"code", "message", "details"}}``.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from django.db.models import Model
from django.test import Client

from integrator.models import AuditEvent

__all__ = [
    "ActionTests",
    "CreateObjectTests",
    "DeleteObjectTests",
    "FilterTests",
    "GetObjectTests",
    "ListObjectsTests",
    "ReadOnlyTests",
    "UpdateObjectTests",
    "assert_error",
    "login_as",
]


def assert_error(response: Any, status: int | tuple[int, ...], code: str | tuple[str, ...]) -> dict[str, Any]:
    """The response is an error with the standard body and one of the codes."""
    statuses = status if isinstance(status, tuple) else (status,)
    codes = code if isinstance(code, tuple) else (code,)
    assert response.status_code in statuses, (response.status_code, response.content[:500])
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert error["code"] in codes, error
    assert isinstance(error["message"], str) and error["message"], error
    assert isinstance(error["details"], dict), error
    return error


def login_as(client: Client, user: Any) -> Client:
    """Log ``user`` in; a role that needs a second factor (manager, integration admin) gets a
    session verified with a confirmed authenticator, as after entering a code."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from integrator.security.roles import requires_mfa

    client.force_login(user)
    if requires_mfa(user):
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or TOTPDevice.objects.create(
            user=user, name="test phone", confirmed=True
        )
        session = client.session
        session["otp_device_id"] = device.persistent_id
        session.save()
    return client


def _pk(obj: Model) -> str:
    return str(obj.pk)


class _Resource:
    """Attributes every resource test declares."""

    url: ClassVar[str]
    model: ClassVar[type[Model]]
    expected_fields: ClassVar[tuple[str, ...]] = ("id",)
    view_role: ClassVar[str] = "auditor"

    def make(self, env: Any, count: int) -> list[Model]:
        """Create ``count`` objects of the resource."""
        raise NotImplementedError

    def detail_url(self, obj: Model) -> str:
        """The object's URL."""
        return f"{self.url}{obj.pk}/"

    def missing_url(self) -> str:
        """A detail URL that matches no object."""
        pk_field = self.model._meta.pk
        missing = str(uuid.uuid4()) if pk_field.get_internal_type() == "UUIDField" else "999999999"
        return f"{self.url}{missing}/"

    @staticmethod
    def ids(data: dict[str, Any]) -> list[str]:
        """Primary keys of a page of results, as text."""
        return [str(row["id"]) for row in data["results"]]


class GetObjectTests(_Resource):
    """Detail: anonymous refused, no permission refused, permitted, not found."""

    def test_get_object_anonymous(self, client: Client, api_env: Any) -> None:
        obj = self.make(api_env, 1)[0]
        assert_error(client.get(self.detail_url(obj)), (401, 403), "not_authenticated")

    def test_get_object_without_permission(self, client: Client, api_env: Any, nobody: Any) -> None:
        obj = self.make(api_env, 1)[0]
        client.force_login(nobody)
        assert_error(client.get(self.detail_url(obj)), 403, "permission_denied")

    def test_get_object(self, client: Client, api_env: Any, users: Any) -> None:
        obj = self.make(api_env, 1)[0]
        client.force_login(users[self.view_role])
        response = client.get(self.detail_url(obj))
        assert response.status_code == 200, response.content[:500]
        data = response.json()
        assert str(data["id"]) == _pk(obj)
        assert set(self.expected_fields) <= set(data), set(self.expected_fields) - set(data)

    def test_get_missing_object(self, client: Client, api_env: Any, users: Any) -> None:
        client.force_login(users[self.view_role])
        assert_error(client.get(self.missing_url()), 404, "not_found")


class ListObjectsTests(_Resource):
    """List: anonymous refused, no permission refused, permitted, cursor pages without overlap."""

    def test_list_anonymous(self, client: Client, api_env: Any) -> None:
        self.make(api_env, 1)
        assert_error(client.get(self.url), (401, 403), "not_authenticated")

    def test_list_without_permission(self, client: Client, api_env: Any, nobody: Any) -> None:
        self.make(api_env, 1)
        client.force_login(nobody)
        assert_error(client.get(self.url), 403, "permission_denied")

    def test_list_objects(self, client: Client, api_env: Any, users: Any) -> None:
        made = self.make(api_env, 3)
        client.force_login(users[self.view_role])
        response = client.get(self.url, {"page_size": 500})
        assert response.status_code == 200, response.content[:500]
        data = response.json()
        assert {"next", "previous", "results"} <= set(data)
        assert {_pk(o) for o in made} <= set(self.ids(data))
        for row in data["results"]:
            assert set(self.expected_fields) <= set(row)

    def test_list_cursor_pages_do_not_overlap(self, client: Client, api_env: Any, users: Any) -> None:
        self.make(api_env, 5)
        client.force_login(users[self.view_role])
        every = self.ids(client.get(self.url, {"page_size": 500}).json())
        first = client.get(self.url, {"page_size": 2}).json()
        assert len(first["results"]) == 2 and first["next"] and "cursor=" in first["next"]
        seen, page = self.ids(first), first
        while page["next"]:
            page = client.get(page["next"]).json()
            seen += self.ids(page)
        assert seen == every and len(set(seen)) == len(seen)


class FilterTests(_Resource):
    """Every declared filter returns exactly the expected objects (the screen uses the same one)."""

    def filter_cases(self, made: list[Model]) -> list[tuple[dict[str, Any], set[str]]]:
        """``(params, expected pks)``; expected pks are compared within ``made``."""
        raise NotImplementedError

    def test_filters(self, client: Client, api_env: Any, users: Any) -> None:
        made = self.make(api_env, 4)
        mine = {_pk(o) for o in made}
        client.force_login(users[self.view_role])
        cases = self.filter_cases(made)
        assert cases, "declare at least one filter case"
        for params, expected in cases:
            response = client.get(self.url, {**params, "page_size": 500})
            assert response.status_code == 200, (params, response.content[:500])
            got = set(self.ids(response.json())) & mine
            assert got == expected, (params, got, expected)

    def test_bad_filter_value_is_a_validation_error(self, client: Client, api_env: Any, users: Any) -> None:
        params = getattr(self, "invalid_filter", None)
        if params is None:
            return
        client.force_login(users[self.view_role])
        error = assert_error(client.get(self.url, params), 400, "invalid")
        assert set(params) & set(error["details"]), error


class ReadOnlyTests(_Resource):
    """A read-only resource refuses every write method, even to a superuser."""

    def test_writes_are_not_allowed(self, client: Client, api_env: Any, superuser: Any) -> None:
        obj = self.make(api_env, 1)[0]
        client.force_login(superuser)
        assert_error(client.post(self.url, {}, content_type="application/json"), 405, "method_not_allowed")
        for method in ("put", "patch", "delete"):
            response = getattr(client, method)(self.detail_url(obj), {}, content_type="application/json")
            assert_error(response, 405, "method_not_allowed")
        assert self.model.objects.filter(pk=obj.pk).exists()


class ActionTests(_Resource):
    """A POST action on one object: who may run it, what it writes to the audit trail, and the
    409 for an object whose state does not allow it."""

    action: ClassVar[str]
    action_role: ClassVar[str] = "finance_clerk"
    audit_action: ClassVar[str]

    def make_actionable(self, env: Any) -> Model:
        """An object the action applies to."""
        raise NotImplementedError

    def make_not_actionable(self, env: Any) -> Model:
        """An object whose state refuses the action."""
        raise NotImplementedError

    def action_body(self, obj: Model) -> dict[str, Any]:
        """The request body (none by default)."""
        return {}

    def action_url(self, obj: Model) -> str:
        """``<detail>/<action>/``."""
        return f"{self.detail_url(obj)}{self.action}/"

    def test_action_anonymous(self, client: Client, api_env: Any) -> None:
        obj = self.make_actionable(api_env)
        response = client.post(self.action_url(obj), self.action_body(obj), content_type="application/json")
        assert_error(response, (401, 403), "not_authenticated")

    def test_action_without_permission(self, client: Client, api_env: Any, users: Any) -> None:
        obj = self.make_actionable(api_env)
        client.force_login(users["auditor"])
        response = client.post(self.action_url(obj), self.action_body(obj), content_type="application/json")
        assert_error(response, 403, "permission_denied")
        assert not AuditEvent.objects.filter(action=self.audit_action, object_id=_pk(obj)).exists()

    def test_action_permitted_writes_its_audit_row(self, client: Client, api_env: Any, users: Any) -> None:
        obj = self.make_actionable(api_env)
        user = users[self.action_role]
        login_as(client, user)
        response = client.post(self.action_url(obj), self.action_body(obj), content_type="application/json")
        assert response.status_code == 200, response.content[:500]
        assert str(response.json()["id"]) == _pk(obj)
        row = AuditEvent.objects.filter(action=self.audit_action, object_id=_pk(obj)).latest("id")
        assert row.actor_id == user.pk and row.before is not None and row.after is not None

    def test_action_in_the_wrong_state_is_a_conflict(self, client: Client, api_env: Any, users: Any) -> None:
        obj = self.make_not_actionable(api_env)
        login_as(client, users[self.action_role])
        response = client.post(self.action_url(obj), self.action_body(obj), content_type="application/json")
        assert_error(response, 409, "conflict")


class CreateObjectTests(_Resource):
    """POST to the list creates an object through its service, which writes an audit row."""

    create_role: ClassVar[str]
    create_audit_action: ClassVar[str]

    def create_data(self, env: Any) -> dict[str, Any]:
        """A valid body."""
        raise NotImplementedError

    def test_create_without_permission(self, client: Client, api_env: Any, users: Any) -> None:
        client.force_login(users["auditor"])
        response = client.post(self.url, self.create_data(api_env), content_type="application/json")
        assert_error(response, 403, "permission_denied")

    def test_create_object(self, client: Client, api_env: Any, users: Any) -> None:
        login_as(client, users[self.create_role])
        response = client.post(self.url, self.create_data(api_env), content_type="application/json")
        assert response.status_code == 201, response.content[:500]
        pk = str(response.json()["id"])
        assert self.model.objects.filter(pk=pk).exists()
        assert AuditEvent.objects.filter(action=self.create_audit_action, object_id=pk).exists()

    def test_create_invalid(self, client: Client, api_env: Any, users: Any) -> None:
        login_as(client, users[self.create_role])
        assert_error(client.post(self.url, {}, content_type="application/json"), 400, "invalid")


class UpdateObjectTests(_Resource):
    """PATCH changes an object through its service, with an audit row holding before and after."""

    update_role: ClassVar[str]
    update_audit_action: ClassVar[str]

    def update_data(self, obj: Model) -> dict[str, Any]:
        """A valid partial update."""
        raise NotImplementedError

    def test_update_without_permission(self, client: Client, api_env: Any, users: Any) -> None:
        obj = self.make(api_env, 1)[0]
        client.force_login(users["auditor"])
        response = client.patch(self.detail_url(obj), self.update_data(obj), content_type="application/json")
        assert_error(response, 403, "permission_denied")

    def test_update_object(self, client: Client, api_env: Any, users: Any) -> None:
        obj = self.make(api_env, 1)[0]
        login_as(client, users[self.update_role])
        data = self.update_data(obj)
        response = client.patch(self.detail_url(obj), data, content_type="application/json")
        assert response.status_code == 200, response.content[:500]
        for key, value in data.items():
            assert response.json()[key] == value
        row = AuditEvent.objects.filter(action=self.update_audit_action, object_id=_pk(obj)).latest("id")
        assert row.before is not None and row.after is not None


class DeleteObjectTests(_Resource):
    """DELETE removes an object through its service, with an audit row."""

    delete_role: ClassVar[str]
    delete_audit_action: ClassVar[str]

    def test_delete_without_permission(self, client: Client, api_env: Any, users: Any) -> None:
        obj = self.make(api_env, 1)[0]
        client.force_login(users["auditor"])
        assert_error(client.delete(self.detail_url(obj)), 403, "permission_denied")
        assert self.model.objects.filter(pk=obj.pk).exists()

    def test_delete_object(self, client: Client, api_env: Any, users: Any) -> None:
        obj = self.make(api_env, 1)[0]
        login_as(client, users[self.delete_role])
        assert client.delete(self.detail_url(obj)).status_code == 204
        assert not self.model.objects.filter(pk=obj.pk).exists()
        assert AuditEvent.objects.filter(action=self.delete_audit_action, object_id=_pk(obj)).exists()
