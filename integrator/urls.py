"""URL configuration: screens, webhooks, REST API, schema and docs.

Each area keeps its own routes in its own module and is included here, one line each.
"""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from integrator.views import dashboard, webhooks

urlpatterns = [
    # Core screens
    path("", dashboard.dashboard, name="dashboard"),
    path("login/", auth_views.LoginView.as_view(template_name="registration/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("transactions/", dashboard.transaction_list, name="transactions"),
    path("transactions/<uuid:pk>/", dashboard.transaction_detail, name="transaction-detail"),
    path("postings/", dashboard.posting_list, name="postings"),
    path("postings/<uuid:pk>/replay/", dashboard.posting_replay, name="posting-replay"),
    path("books/<uuid:pk>/trial-balance/", dashboard.trial_balance, name="trial-balance"),
    path("books/<uuid:pk>/export.<str:fmt>", dashboard.books_export, name="books-export"),
    # Webhooks: the only CSRF-exempt views (the vendor's signature is their authentication)
    path("hooks/<slug:channel_slug>/", webhooks.receive_webhook, name="webhook"),
    # REST API
    path("api/v1/", include("integrator.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("admin/", admin.site.urls),
    # Areas (one include each)
]
