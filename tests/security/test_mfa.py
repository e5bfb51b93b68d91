"""Second factor: required for finance managers and integration admins before any change; TOTP
enrolment with a QR code, backup codes shown once, verification, throttled wrong codes."""

from __future__ import annotations

import re
from typing import Any

from django.test import Client
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from integrator.models import AuditEvent, Posting, Transaction
from tests.security.conftest import api_message, totp_now, verified_client


def _logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_privileged_roles_cannot_change_anything_before_verifying(users: Any, booked: Transaction) -> None:
    posting = Posting.objects.get()
    before = AuditEvent.objects.count()
    for role in ("finance_manager", "integration_admin"):
        client = _logged_in(users[role])
        screen = client.post(
            f"/postings/{posting.pk}/replay/", HTTP_REFERER=f"http://testserver/postings/{posting.pk}/"
        )
        assert screen.status_code == 302
        assert screen["Location"] == f"/security/mfa/enrol/?next=%2Fpostings%2F{posting.pk}%2F"
        api = client.post(f"/api/v1/postings/{posting.pk}/retry/")
        assert api.status_code == 403 and api.json()["error"]["code"] == "mfa_required", api_message(api)
        assert client.get("/postings/").status_code == 200, "reading is allowed"
    assert AuditEvent.objects.count() == before


def test_other_roles_do_not_need_a_second_factor(users: Any, booked: Transaction) -> None:
    client = _logged_in(users["finance_clerk"])
    response = client.post(f"/api/v1/postings/{Posting.objects.get().pk}/retry/")
    assert response.status_code == 409, "got through to the view (a posted posting cannot be replayed)"


def test_enrolment_shows_a_qr_code_then_backup_codes_once(users: Any) -> None:
    manager = users["finance_manager"]
    client = _logged_in(manager)
    page = client.get("/security/mfa/enrol/")
    html = page.content.decode()
    assert (
        page.status_code == 200 and 'src="data:image/svg+xml' in html and "no-store" in page["Cache-Control"]
    )
    device = TOTPDevice.objects.get(user=manager, confirmed=False)
    assert re.search(r"<code>[A-Z2-7]{32}</code>", html), "the key for typing in by hand"
    wrong = client.post(
        "/security/mfa/enrol/", {"code": "000000" if totp_now(device) != "000000" else "111111"}
    )
    assert wrong.status_code == 400 and not TOTPDevice.objects.filter(confirmed=True).exists()
    done = client.post("/security/mfa/enrol/", {"code": totp_now(device)})
    assert done.status_code == 200
    codes = done.context["codes"]
    assert len(codes) == 10 and all(c in done.content.decode() for c in codes)
    device.refresh_from_db()
    assert device.confirmed
    assert client.get("/security/mfa/").context["verified"] is True
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"mfa.totp_confirmed", "mfa.backup_codes_generated"} <= actions
    trail = str(list(AuditEvent.objects.values("before", "after")))
    assert device.key not in trail and not any(c in trail for c in codes)


def test_a_confirmed_device_verifies_the_session_and_unlocks_changes(users: Any, booked: Transaction) -> None:
    admin = users["integration_admin"]
    device = TOTPDevice.objects.create(user=admin, name="phone", confirmed=True)
    client = _logged_in(admin)
    posting = Posting.objects.get()
    blocked = client.post(f"/postings/{posting.pk}/replay/")
    assert blocked["Location"].startswith("/security/mfa/verify/")
    verified = client.post(
        "/security/mfa/verify/?next=/postings/", {"code": totp_now(device), "next": "/postings/"}
    )
    assert verified.status_code == 302 and verified["Location"] == "/postings/"
    response = client.post(f"/api/v1/postings/{posting.pk}/retry/")
    assert response.status_code == 409, "through the gate now (nothing to replay)"


def test_verification_refuses_an_offsite_next(users: Any) -> None:
    device = TOTPDevice.objects.create(user=users["auditor"], name="phone", confirmed=True)
    client = _logged_in(users["auditor"])
    response = client.post(
        "/security/mfa/verify/", {"code": totp_now(device), "next": "https://evil.example/"}
    )
    assert response["Location"] == "/"


def test_the_right_code_straight_after_a_wrong_one_is_accepted(users: Any) -> None:
    device = TOTPDevice.objects.create(user=users["finance_manager"], name="phone", confirmed=True)
    client = _logged_in(users["finance_manager"])
    right = totp_now(device)
    wrong = "123456" if right != "123456" else "654321"
    typo = client.post("/security/mfa/verify/", {"code": wrong})
    assert typo.status_code == 400 and "That code did not match" in typo.content.decode()
    done = client.post("/security/mfa/verify/", {"code": right, "next": "/postings/"})
    assert done.status_code == 302 and done["Location"] == "/postings/"
    assert client.get("/security/mfa/").context["verified"] is True


def test_a_run_of_wrong_codes_makes_the_device_wait_and_says_so(users: Any) -> None:
    from integrator.security.mfa import FREE_ATTEMPTS

    device = TOTPDevice.objects.create(user=users["finance_manager"], name="phone", confirmed=True)
    client = _logged_in(users["finance_manager"])
    right = totp_now(device)
    wrong = "123456" if right != "123456" else "654321"
    for _ in range(FREE_ATTEMPTS + 1):
        refused = client.post("/security/mfa/verify/", {"code": wrong})
        assert refused.status_code == 400 and "That code did not match" in refused.content.decode()
    device.refresh_from_db()
    assert device.throttling_failure_count == FREE_ATTEMPTS + 1
    waiting = client.post("/security/mfa/verify/", {"code": right})
    html = waiting.content.decode()
    assert waiting.status_code == 400 and "did not match" not in html
    assert re.search(r"Too many wrong codes in a row: wait [1-8] seconds?, then", html)
    assert "This code was not checked" in html
    assert client.get("/security/mfa/").context["verified"] is False
    device.refresh_from_db()
    assert device.throttling_failure_count == FREE_ATTEMPTS + 1, "a code that was not checked is no miss"


def test_a_backup_code_works_once(users: Any) -> None:
    manager = users["finance_manager"]
    TOTPDevice.objects.create(user=manager, name="phone", confirmed=True)
    from integrator.security.mfa import regenerate_backup_codes

    code = regenerate_backup_codes(manager, actor=manager)[0]
    first = _logged_in(manager)
    assert first.post("/security/mfa/verify/", {"code": code}).status_code == 302
    second = _logged_in(manager)
    assert second.post("/security/mfa/verify/", {"code": code}).status_code == 400
    assert StaticToken.objects.filter(device__user=manager).count() == 9


def test_a_stolen_password_cannot_enrol_a_new_device(users: Any) -> None:
    admin = users["integration_admin"]
    TOTPDevice.objects.create(user=admin, name="the real phone", confirmed=True)
    client = _logged_in(admin)
    response = client.get("/security/mfa/enrol/")
    assert response.status_code == 302 and response["Location"] == "/security/mfa/verify/"
    assert client.post("/security/mfa/enrol/", {"code": "123456"}).status_code == 302
    assert TOTPDevice.objects.filter(user=admin).count() == 1


def test_new_backup_codes_need_a_verified_session(users: Any) -> None:
    clerk = users["finance_clerk"]
    TOTPDevice.objects.create(user=clerk, name="phone", confirmed=True)
    assert _logged_in(clerk).post("/security/mfa/backup-codes/")["Location"] == "/security/mfa/verify/"
    response = verified_client(clerk).post("/security/mfa/backup-codes/")
    assert response.status_code == 200 and len(response.context["codes"]) == 10


def test_the_first_page_after_login_says_to_verify(users: Any) -> None:
    client = _logged_in(users["finance_manager"])
    html = client.get("/", follow=True).content.decode()
    assert "two-factor authentication" in html
