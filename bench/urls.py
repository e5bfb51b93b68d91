"""URLs for the benchmarks: the product's URLs plus a bare view as the same-stack baseline."""

import uuid

from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def bare(request: HttpRequest) -> HttpResponse:
    """Read the body and answer 200: the framework's own cost of a POST."""
    request.read()
    return HttpResponse(status=200)


@csrf_exempt
def insert(request: HttpRequest, channel_slug: str) -> HttpResponse:
    """Insert the raw body as an inbox row (no verification, no queue) and answer 202: what a
    webhook costs at the least, in the same server and database."""
    from integrator.models import Channel, InboundEvent

    channel = Channel.objects.get(slug=channel_slug)
    InboundEvent.objects.create(channel=channel, dedupe_key=f"bare-{uuid.uuid4()}", event_type="bench",
                                body=request.read().decode(), status="ignored")  # fmt: skip
    return HttpResponse(status=202)


urlpatterns = [
    path("bench/bare/", bare),
    path("bench/insert/<slug:channel_slug>/", insert),
    path("", include("integrator.urls")),
]
