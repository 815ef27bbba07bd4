"""Starts a real Celery worker process against the test database when REDIS_URL is set."""
