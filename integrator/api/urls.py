"""REST API routes under /api/v1/."""

from rest_framework.routers import DefaultRouter

from integrator.api import views

router = DefaultRouter()
router.register("channels", views.ChannelViewSet)
router.register("ledger-connections", views.LedgerConnectionViewSet)
router.register("accounts", views.LedgerAccountViewSet)
router.register("tax-codes", views.TaxCodeViewSet)
router.register("transactions", views.TransactionViewSet)
router.register("journal-entries", views.JournalEntryViewSet)
router.register("postings", views.PostingViewSet)
router.register("audit-events", views.AuditEventViewSet)

urlpatterns = router.urls
