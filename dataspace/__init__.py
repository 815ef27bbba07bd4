"""Scène Commune: a data-space federation node for the French performing-arts sector."""

from dataspace.celery import app as celery_app

__all__ = ["celery_app"]
