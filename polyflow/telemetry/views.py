"""`/metrics` (Prometheus) and `/readyz` (readiness); `/healthz`, liveness, is polyflow.views'."""

from __future__ import annotations

from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe


@never_cache
@require_safe
def metrics(request):
    """Prometheus's text format (OpenMetrics when asked): this process's counters and
    histograms, or every process's in multiprocess mode, and the database's gauges.

    Unauthenticated, as Prometheus scrapes usually are: it gives counts by pipeline
    name, no data. Keep it off the public side of an ingress (docs/observability.md).
    """
    from . import instruments
    from .exposition import render

    # A process that serves metrics counts from its first scrape on, at the latest.
    instruments.enable()
    body, content_type = render(accept=request.headers.get("Accept", ""))
    return HttpResponse(body, content_type=content_type)


@never_cache
@require_safe
def readyz(request):
    """Readiness: 200 when the database answers and a scheduler process ticked within
    three TICK_INTERVALs, else 503; the body says which check failed."""
    from .heartbeat import readiness

    state = readiness()
    return JsonResponse(state.body(), status=200 if state.ready else 503)
