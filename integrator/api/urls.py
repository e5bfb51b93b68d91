"""REST API routes under /api/v1/ (namespace ``api``: ``reverse("api:transaction-list")``).

Each area adds its resources with one ``register(router)`` line below the core's.
"""

from rest_framework.routers import DefaultRouter

from integrator.api import recovery, setup, views
from integrator.api.inventory import register as register_inventory_routes
from integrator.api.mappings import register as register_mapping_routes
from integrator.api.rates import register as register_rate_routes
from integrator.api.z_reports import register as register_z_report_routes
from reconciliation.api import register as register_reconciliation_routes

router = DefaultRouter()
# No ".json" suffix routes: actions take no ``format`` argument, and the API is JSON only.
router.include_format_suffixes = False
router.register("platforms", setup.PlatformViewSet, basename="platform")
router.register("channels", setup.ChannelSetupViewSet)
router.register("ledger-connections", setup.LedgerSetupViewSet)
router.register("accounts", views.LedgerAccountViewSet)
router.register("tax-codes", views.TaxCodeViewSet)
router.register("transactions", views.TransactionViewSet)
router.register("journal-entries", views.JournalEntryViewSet)
router.register("postings", views.PostingViewSet)
router.register("inbound-events", recovery.InboundEventRecoveryViewSet)
router.register("jobs", views.JobViewSet)
router.register("audit-events", views.AuditEventViewSet)
router.register("reports", views.ReportViewSet, basename="report")
register_mapping_routes(router)
register_rate_routes(router)
register_inventory_routes(router)
register_z_report_routes(router)
register_reconciliation_routes(router)

urlpatterns = router.urls
