"""The HFT Bot project package (not ``platform``: that name shadows the standard library module)."""

from hftplatform.celery import app as celery_app

__all__ = ["celery_app"]
