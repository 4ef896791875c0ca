from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe


@never_cache
@require_safe
def healthz(request):
    """Liveness probe: answers while the process can serve requests.

    It deliberately touches neither the database nor the broker, so a
    load balancer or kubelet does not restart web processes for an outage of
    something they cannot fix.
    """
    return JsonResponse({"status": "ok"})
