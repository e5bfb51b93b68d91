"""URLs for the benchmarks: the product's URLs plus a bare view as the same-stack baseline."""

from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def bare(request: HttpRequest) -> HttpResponse:
    """Read the body and answer 200: the framework's own cost of a POST."""
    request.read()
    return HttpResponse(status=200)


urlpatterns = [path("bench/bare/", bare), path("", include("integrator.urls"))]
