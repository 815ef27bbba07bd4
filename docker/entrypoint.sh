#!/bin/sh
# Entrypoint of the Scène Commune image. First argument: what this container runs.
#   web     migrate, node_init (creates the node key once), optional demo seed, then gunicorn
#   worker  Celery worker          beat   Celery beat (one per node, never more)
#   manage  python manage.py ...   anything else is executed as given
# Environment: everything dataspace/settings.py reads (see docs/operations.md), plus
#   SEED_DEMO_PROFILE   structure-a | structure-b | registry | ministry: seed FICTITIOUS demo data (idempotent)
#   GUNICORN_WORKERS    web processes (default 3)     CELERY_CONCURRENCY   worker processes (default 2)
set -eu

role="${1:-web}"
if [ "$#" -gt 0 ]; then shift; fi

collect_static_if_hidden() {
    static_root="${NODE_DATA_DIR:-/var/lib/scene-commune}/static"
    if [ -z "$(ls -A "$static_root" 2>/dev/null)" ]; then
        python manage.py collectstatic --noinput --verbosity 0
    fi
}

case "$role" in
    web)
        python manage.py migrate --noinput
        python manage.py node_init
        if [ -n "${SEED_DEMO_PROFILE:-}" ]; then
            python manage.py seed_demo --profile "$SEED_DEMO_PROFILE"
        fi
        collect_static_if_hidden
        exec gunicorn dataspace.wsgi:application \
            --bind 0.0.0.0:8000 \
            --workers "${GUNICORN_WORKERS:-3}" \
            --timeout 60 \
            --forwarded-allow-ips "${FORWARDED_ALLOW_IPS:-127.0.0.1}" \
            --access-logfile - \
            "$@"
        ;;
    worker)
        exec celery -A dataspace worker --loglevel "${CELERY_LOG_LEVEL:-info}" \
            --concurrency "${CELERY_CONCURRENCY:-2}" "$@"
        ;;
    beat)
        exec celery -A dataspace beat --loglevel "${CELERY_LOG_LEVEL:-info}" \
            --schedule "${NODE_DATA_DIR:-/var/lib/scene-commune}/celerybeat-schedule" "$@"
        ;;
    manage)
        exec python manage.py "$@"
        ;;
    *)
        exec "$role" "$@"
        ;;
esac
