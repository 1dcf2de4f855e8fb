"""``ExactNumericField``: PostgreSQL ``NUMERIC`` without precision or scale, for numbers that must come back exactly.

A venue's decimal text keeps its scale in such a column (``'0.01000000'`` stays ``'0.01000000'``). The fee engine
carries shares at 18 places, prices and fee values at 50, management fee values at up to 68 and
the factor ``K(dt)`` at 100 significant digits. A ``numeric(p, s)`` column would round any of them silently to its
scale; an unconstrained column stores exactly the ``Decimal`` it is given and gives it back, so the database holds
the engine's numbers bit for bit.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper


class ExactNumericField(models.Field):  # type: ignore[type-arg]
    description = "Exact decimal (PostgreSQL NUMERIC without precision or scale)"

    def db_type(self, connection: BaseDatabaseWrapper) -> str:
        return "numeric"

    def get_internal_type(self) -> str:
        # Lets aggregates (Sum) and F() arithmetic come back as Decimal.
        return "DecimalField"

    def to_python(self, value: Any) -> Decimal | None:
        if value is None or isinstance(value, Decimal):
            return value
        if isinstance(value, float):
            raise ValidationError("floats are not exact: pass a Decimal, an int or decimal text")
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValidationError(f"{value!r} is not a decimal number") from None
        if not number.is_finite():
            raise ValidationError(f"{value!r} is not a finite decimal number")
        return number

    def get_prep_value(self, value: Any) -> Decimal | None:
        return self.to_python(super().get_prep_value(value))

    def from_db_value(self, value: Any, expression: Any, connection: BaseDatabaseWrapper) -> Decimal | None:
        return self.to_python(value)

    def formfield(self, **kwargs: Any) -> forms.Field | None:
        return super().formfield(**{"form_class": forms.DecimalField, **kwargs})
