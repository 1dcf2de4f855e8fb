from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from hftplatform import status


class PlatformStatusApi(APIView):
    """The same snapshot the dashboard's live stream carries."""

    class OutputSerializer(serializers.Serializer):
        server_time = serializers.DateTimeField()
        worker = inline_serializer(
            "WorkerHeartbeat",
            {"at": serializers.DateTimeField(), "hostname": serializers.CharField()},
            allow_null=True,
        )
        beat = inline_serializer(
            "BeatLastRun", {"at": serializers.DateTimeField(), "task": serializers.CharField()}, allow_null=True
        )

    @extend_schema(responses=OutputSerializer, operation_id="platform_status")
    def get(self, request: Request) -> Response:
        return Response(self.OutputSerializer(status.status_snapshot()).data)
