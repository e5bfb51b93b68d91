"""Routes of the reconciliation screens (included under /reconciliation/)."""

from django.urls import path

from reconciliation import views

app_name = "reconciliation"

urlpatterns = [
    path("", views.run_list, name="runs"),
    path("runs/<uuid:pk>/", views.run_detail, name="run-detail"),
    path("runs/<uuid:pk>/progress/", views.run_progress, name="run-progress"),
    path("exceptions/", views.exception_list, name="exceptions"),
    path("exceptions/<uuid:pk>/resolve/", views.exception_resolve, name="exception-resolve"),
    path("statements/", views.statement_list, name="statements"),
    path("statements/confirm/", views.statement_confirm, name="statement-confirm"),
    path("statements/sample.csv", views.sample_csv, name="sample-csv"),
    path("statements/<uuid:pk>/", views.statement_detail, name="statement-detail"),
]
