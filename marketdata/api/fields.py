"""Serializer fields the market-data API shares."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from hftplatform.core.utc import utc_ms_parse


class UtcTimeField(serializers.CharField):
    """A date or ISO 8601 datetime, read as UTC unless it carries an offset, as integer milliseconds UTC."""

    def to_internal_value(self, data: Any) -> int:  # type: ignore[override]
        text = super().to_internal_value(data)
        try:
            return utc_ms_parse(text)
        except ValueError:
            raise serializers.ValidationError(
                f"Not a date or ISO 8601 datetime: {text!r} (e.g. 2019-10-11 or 2019-10-11T12:30:00Z)."
            ) from None
