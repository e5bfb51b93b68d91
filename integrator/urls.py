"""URL configuration: screens, webhooks, REST API, schema and docs.

Each area keeps its own routes in its own module and is included here, one line each.
"""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from integrator.views import (
    alerts,
    books,
    connections,
    dashboard,
    jobs,
    postings,
    rates,
    recovery,
    search,
    sections,
    setup,
    transactions,
    webhooks,
)

urlpatterns = [
    # Core screens
    path("", dashboard.dashboard, name="dashboard"),
    path("login/", setup.LoginOrWelcomeView.as_view(), name="login"),
    path("welcome/", setup.welcome, name="welcome"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("search/", search.search, name="search"),
    path("transactions/", transactions.TransactionListView.as_view(), name="transactions"),
    path("transactions/<uuid:pk>/", transactions.transaction_detail, name="transaction-detail"),
    path("transactions/<uuid:pk>/retry/", transactions.transaction_retry, name="transaction-retry"),
    path("journal/", transactions.JournalEntryListView.as_view(), name="journal"),
    path("journal/<uuid:pk>/", transactions.journal_entry_detail, name="journal-detail"),
    path("inbox/", transactions.InboxView.as_view(), name="inbox"),
    path("inbox/reprocess/", recovery.inbox_reprocess, name="inbox-reprocess"),
    path("inbox/<uuid:pk>/reprocess/", recovery.inbox_reprocess_one, name="inbox-reprocess-one"),
    path("postings/", postings.PostingListView.as_view(), name="postings"),
    path("postings/<uuid:pk>/", postings.posting_detail, name="posting-detail"),
    path("postings/<uuid:pk>/replay/", postings.posting_replay, name="posting-replay"),
    path("postings/<uuid:pk>/move/", postings.posting_move, name="posting-move"),
    path("reports/", books.reports, name="reports"),
    path("rates/", rates.rates, name="rates"),
    path("rates/import/", rates.rate_import, name="rates-import"),
    path("rates/manual/", rates.rate_manual, name="rates-manual"),
    path("books/<uuid:pk>/trial-balance/", books.trial_balance, name="trial-balance"),
    path("books/<uuid:pk>/general-ledger/", books.general_ledger, name="general-ledger"),
    path("books/<uuid:pk>/profit-and-loss/", books.profit_and_loss, name="profit-and-loss"),
    path("books/<uuid:pk>/balance-sheet/", books.balance_sheet, name="balance-sheet"),
    path("books/<uuid:pk>/export.<str:fmt>", books.books_export, name="books-export"),
    path("connections/", connections.connections, name="connections"),
    path("connections/ledgers/<uuid:pk>/", connections.connection_detail, name="connection-detail"),
    path("jobs/", jobs.JobListView.as_view(), name="jobs"),
    path("jobs/running/", jobs.running_jobs, name="jobs-running"),
    path("jobs/<uuid:pk>/", jobs.job_detail, name="job-detail"),
    path("jobs/<uuid:pk>/progress/", jobs.job_progress, name="job-progress"),
    path("sections/<slug:slug>/", sections.section, name="section"),
    path("alerts/", alerts.alert_list, name="alerts"),
    path("settings/alerts/", alerts.alert_settings, name="alert-settings"),
    # Webhooks: the only CSRF-exempt views (the vendor's signature is their authentication)
    path("hooks/<slug:channel_slug>/", webhooks.receive_webhook, name="webhook"),
    # REST API
    # Namespaced: the router's names (transaction-detail, ...) must not shadow the screens' names.
    path("api/v1/", include(("integrator.api.urls", "api"), namespace="api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its script as a file: no inline script under the CSP.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("admin/", admin.site.urls),
    # Areas (one include each)
    path("security/", include("integrator.security.urls")),
    path("mappings/", include("integrator.views.mappings")),
    path("reconciliation/", include("reconciliation.urls")),
    path("connections/oauth/", include("integrator.views.oauth")),
    path("connections/tills/", include("integrator.views.z_reports")),
    path("setup/", include("integrator.views.setup")),
    path("close/", include("integrator.views.period_close")),
    path("inventory/", include("integrator.views.inventory")),
]
