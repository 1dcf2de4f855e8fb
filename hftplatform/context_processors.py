from typing import Any

from django.conf import settings
from django.http import HttpRequest


def platform(request: HttpRequest) -> dict[str, Any]:
    return {"PLATFORM_ENV": settings.DJANGO_ENV, "PLATFORM_NAME": "HFT Bot"}
