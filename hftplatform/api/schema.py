"""OpenAPI pieces every app's API shares: the common error body."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    """The common error body (see hftplatform.api.errors)."""

    class Meta:
        ref_name = "Error"

    class ErrorDetailSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ErrorDetail"

        code = serializers.CharField()
        message = serializers.CharField()
        fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))

    error = ErrorDetailSerializer()


def error_response(description: str) -> OpenApiResponse:
    """An OpenAPI response in the common error format; ``description`` lists the codes it may carry."""
    return OpenApiResponse(ErrorSerializer, description=description)
