"""Lightspeed Retail (R-Series) as a sales source: polled, since it has no public sale webhook.

==============================================  ================================================
Lightspeed R-Series (API V3)                    canonical documents
==============================================  ================================================
``Sale.json`` (``timeStamp`` after the last     a :class:`Sale` (sold lines) and/or a
pull, with ``SaleLines``, ``SalePayments``,     :class:`Refund` (returned lines, linked through
``TaxCategory``)                                ``parentSaleLineID`` to the original sale);
                                                voided -> a voided sale; open -> nothing
``RegisterCount.json`` (closed counts)          a :class:`CashCount` (cash counted against the
                                                till's calculated cash: over / short)
``RegisterWithdraw.json``                       a :class:`CashCount` float change
==============================================  ================================================

Each record is deduplicated on its id and ``timeStamp`` (a sale changed later is a new revision of
the same document), so the scheduled pull every 15 minutes, and any number of manual back-fills,
book each sale once. Requests stay inside the account's leaky bucket (see ``api``).

Channel configuration read here:

* ``settings["account_id"]`` - the Lightspeed account (``accountID``);
* ``credentials``: ``client_id``, ``client_secret``, ``refresh_token`` (and the ``access_token``
  with its ``expires_at``, kept up to date by the refresh, saved through the channel);
* ``settings["token_url"]`` - overrides Lightspeed's token endpoint (tests).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import quote

from connectors.auth import OAuth2Client, OAuth2Provider
from connectors.base import (
    AuthExpired,
    ConnectionCheck,
    ConnectorError,
    MalformedPayload,
    ProgressCallback,
    PulledRecord,
    SalesSource,
    SetupField,
    SignatureInvalid,
    SourceConfig,
    WebhookEnvelope,
    WebhookRequest,
)
from connectors.sources.lightspeed_r.api import DEFAULT_BASE_URL, LightspeedNotFound, LightspeedRAPI
from connectors.sources.lightspeed_r.sales import (
    documents_from_sale,
    register_count_document,
    register_withdraw_document,
)
from integrator.canonical import CanonicalDocument

__all__ = ["PROVIDER", "SALE_RELATIONS", "LightspeedRSource"]

PROVIDER = OAuth2Provider(
    name="lightspeed_r",
    authorize_url="https://cloud.lightspeedapp.com/auth/oauth/authorize",
    token_url="https://cloud.lightspeedapp.com/auth/oauth/token",
    pkce=False,
    default_scopes=("employee:all",),
)
#: Everything a sale needs in one call (nested relations cost less than separate reads).
SALE_RELATIONS = ["SaleLines", "SaleLines.Item", "SalePayments", "SalePayments.PaymentType", "TaxCategory"]
COUNT_RELATIONS = ["RegisterCountAmounts", "RegisterCountAmounts.PaymentType"]


class LightspeedRSource(SalesSource):
    """Lightspeed Retail R-Series: sales, register counts and withdrawals, polled."""

    platform = "lightspeed_r"
    display_name = "Lightspeed Retail (R-Series)"
    capabilities = frozenset({"pull"})
    #: No sale webhooks exist: the scheduled pull is how sales arrive.
    scheduled_pull_minutes: ClassVar[int | None] = 15
    pull_overlap: ClassVar[timedelta] = timedelta(minutes=10)
    setup_fields = (
        SetupField("account_id", "Lightspeed account ID", required=True,
                   help="The number in your Lightspeed Retail back office URL (accountID)."),
        SetupField("client_id", "OAuth client ID", store="credentials", required=True),
        SetupField("client_secret", "OAuth client secret", kind="secret", store="credentials", required=True),
        SetupField("refresh_token", "Refresh token", kind="secret", store="credentials", required=True,
                   help="From connecting the integrator to Lightspeed; it is replaced automatically "
                        "each time the access token is renewed."),
    )  # fmt: skip

    def __init__(
        self,
        config: SourceConfig,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(config)
        self._sleep = sleep
        self._clock = clock
        self._api: LightspeedRAPI | None = None
        self._parents: dict[str, str] = {}

    @property
    def account_id(self) -> str:
        """The channel's Lightspeed account."""
        return str(self.config.settings.get("account_id") or "")

    @property
    def api(self) -> LightspeedRAPI:
        """The channel's authenticated client (built on first use)."""
        if self._api is None:
            creds = self.config.credentials
            if not self.account_id:
                raise AuthExpired(
                    "lightspeed_r: the channel has no account ID; set it in the channel's settings"
                )
            if not (creds.get("refresh_token") or creds.get("access_token")):
                raise AuthExpired("lightspeed_r: the channel has no tokens; connect it to Lightspeed again")
            oauth = OAuth2Client(
                PROVIDER,
                credentials=creds,
                save_credentials=self.config.save_credentials,
                lock_key=f"oauth:lightspeed_r:{self.config.channel_slug}",
                token_url=str(self.config.settings.get("token_url") or ""),
            )
            self._api = LightspeedRAPI(
                oauth=oauth,
                account_id=self.account_id,
                base_url=self.config.base_url or DEFAULT_BASE_URL,
                connection_key=self.config.channel_slug,
                sleep=self._sleep,
                clock=self._clock,
            )
        return self._api

    # -- no webhooks -------------------------------------------------------------------------

    def verify_webhook(self, request: WebhookRequest) -> None:
        """Lightspeed R-Series sends no sale webhooks: anything posted to the hook is refused."""
        raise SignatureInvalid("lightspeed_r: this platform sends no webhooks; sales are pulled")

    def identify_webhook(self, request: WebhookRequest) -> WebhookEnvelope:
        """Never reached (``verify_webhook`` refuses every delivery)."""
        raise MalformedPayload("lightspeed_r: this platform sends no webhooks")

    # -- parsing -----------------------------------------------------------------------------

    def parse_event(self, event_type: str, payload: Mapping[str, Any]) -> list[CanonicalDocument]:
        """A pulled sale, register count or register withdrawal."""
        cur = self.config.currency
        payload = _as_dict(payload, "pulled record")
        if event_type == "sale":
            return documents_from_sale(
                _as_dict(payload.get("sale"), "sale"), currency=cur, parent_sale=self._parent_sale
            )
        location = str(payload.get("shop_id") or "")
        if event_type == "register_count":
            doc = register_count_document(
                _as_dict(payload.get("register_count"), "register count"), currency=cur, location=location
            )
            return [doc] if doc is not None else []
        if event_type == "register_withdraw":
            wd = register_withdraw_document(
                _as_dict(payload.get("register_withdraw"), "register withdraw"),
                currency=cur,
                location=location,
            )
            return [wd] if wd is not None else []
        return []

    def _parent_sale(self, sale_line_id: str) -> str:
        """The sale a returned line's original line belongs to (one read, cached)."""
        if sale_line_id not in self._parents:
            try:
                path = f"SaleLine/{quote(sale_line_id, safe='')}.json"
            except UnicodeEncodeError as exc:  # a lone surrogate: no URL can name it
                raise MalformedPayload(f"lightspeed_r: sale line id {sale_line_id!r} is not text") from exc
            try:
                found = self.api.get(path)
            except LightspeedNotFound:
                self._parents[sale_line_id] = ""
            else:
                line = found.get("SaleLine")
                self._parents[sale_line_id] = (
                    str(line.get("saleID") or "") if isinstance(line, Mapping) else ""
                )
        return self._parents[sale_line_id]

    # -- pulling -----------------------------------------------------------------------------

    def pull(self, since: datetime, progress: ProgressCallback | None = None) -> Iterator[PulledRecord]:
        """Sales changed since ``since``, then closed register counts and withdrawals."""
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        after = ">," + since.astimezone(UTC).isoformat(timespec="seconds")
        counter = _Progress(progress, self.api)
        shops = self._register_shops()
        sales = {"timeStamp": after, "sort": "timeStamp", "load_relations": json.dumps(SALE_RELATIONS)}
        for page in self.api.pages("Sale.json", sales, "Sale"):
            for sale in page:
                sale = _as_dict(sale, "sale")
                key = f"sale:{sale.get('saleID')}:{sale.get('timeStamp')}"
                yield PulledRecord(dedupe_key=key, event_type="sale", payload={"sale": sale})
            counter.add(len(page), "sales")
        counts = {"closeTime": after, "load_relations": json.dumps(COUNT_RELATIONS)}
        for page in self.api.pages("RegisterCount.json", counts, "RegisterCount"):
            for count in page:
                count = _as_dict(count, "register count")
                shop = shops.get(str(count.get("registerID") or ""), "")
                yield PulledRecord(
                    dedupe_key=f"register_count:{count.get('registerCountID')}:{count.get('closeTime')}",
                    event_type="register_count",
                    payload={"register_count": count, "shop_id": shop},
                )
            counter.add(len(page), "register counts")
        withdraws = {"createTime": after, "load_relations": json.dumps(["PaymentType"])}
        for page in self.api.pages("RegisterWithdraw.json", withdraws, "RegisterWithdraw"):
            for wd in page:
                wd = _as_dict(wd, "register withdraw")
                yield PulledRecord(
                    dedupe_key=f"register_withdraw:{wd.get('registerWithdrawID')}",
                    event_type="register_withdraw",
                    payload={
                        "register_withdraw": wd,
                        "shop_id": shops.get(str(wd.get("registerID") or ""), ""),
                    },
                )
            counter.add(len(page), "register withdrawals")

    def _register_shops(self) -> dict[str, str]:
        shops: dict[str, str] = {}
        for page in self.api.pages("Register.json", {}, "Register"):
            for reg in page:
                if isinstance(reg, Mapping):
                    shops[str(reg.get("registerID") or "")] = str(reg.get("shopID") or "")
        return shops

    # -- setting up --------------------------------------------------------------------------

    def test_connection(self) -> ConnectionCheck:
        """Read the account: its name says the tokens and the account ID belong together."""
        try:
            found = self.api.get(self.api.http.url(f"/API/V3/Account/{quote(self.account_id, safe='')}.json"))
        except ConnectorError as exc:
            return ConnectionCheck(False, f"Lightspeed refused: {exc.vendor_message or exc.message}")
        account = found.get("Account")
        name = (
            str(account.get("name") or self.account_id) if isinstance(account, Mapping) else self.account_id
        )
        return ConnectionCheck(True, f"Connected to {name}", {"account": name})


class _Progress:
    """Counts pulled records and says how long the bucket made us wait."""

    def __init__(self, callback: ProgressCallback | None, api: LightspeedRAPI) -> None:
        self.callback, self.api, self.done = callback, api, 0

    def add(self, count: int, what: str) -> None:
        self.done += count
        if self.callback is not None:
            waited = self.api.bucket.waited
            extra = f"; waited {waited:.0f} s for Lightspeed's rate limit" if waited >= 1 else ""
            self.callback(self.done, None, f"lightspeed_r: {self.done} records pulled ({what}){extra}")


def _as_dict(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise MalformedPayload(f"lightspeed_r: {what} is not an object")
    return value
