"""Long work in progress: back-fills, imports, re-posting. Pages poll a Job row with htmx.

A page that starts or shows long work includes ``integrator/_job_progress.html`` for its Job; the
fragment asks ``/jobs/<id>/progress/`` every second while the job runs, and the answer for a
finished job carries no trigger, so polling stops by itself (htmx also stops on status 286).
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from integrator.filters import JobFilterSet
from integrator.models import Job
from integrator.tables import JobTable
from integrator.views.lists import ObjectListView

__all__ = ["JobListView", "job_detail", "job_progress", "running_jobs"]

RUNNING_SHOWN = 5


class JobListView(ObjectListView):
    """Every job, newest first."""

    permission_required = "integrator.view_job"
    queryset = Job.objects.all()
    filterset_class = JobFilterSet
    table_class = JobTable
    template_name = "integrator/job_list.html"
    title = "Jobs"
    export_name = "jobs"
    filter_bar = ("q", "status")


@login_required
@permission_required("integrator.view_job", raise_exception=True)
def job_detail(request: HttpRequest, pk: str) -> HttpResponse:
    """One job with its live progress bar."""
    job = get_object_or_404(Job, pk=pk)
    return render(request, "integrator/job_detail.html", {"job": job})


@login_required
@permission_required("integrator.view_job", raise_exception=True)
def job_progress(request: HttpRequest, pk: str) -> HttpResponse:
    """The progress fragment of one job (polled while it runs)."""
    job = get_object_or_404(Job, pk=pk)
    # The same job can show twice (its page and the running strip): each copy keeps its own id.
    prefix = "running-job" if request.GET.get("prefix") == "running-job" else "job"
    return render(request, "integrator/_job_progress.html", {"job": job, "prefix": prefix})


@login_required
def running_jobs(request: HttpRequest) -> HttpResponse:
    """The strip of running jobs shown at the top of every page (polled every few seconds)."""
    jobs = list(Job.objects.filter(status="running").order_by("-started_at")[:RUNNING_SHOWN])
    if not request.user.has_perm("integrator.view_job"):
        jobs = []
    return render(request, "integrator/_running_jobs.html", {"jobs": jobs})
