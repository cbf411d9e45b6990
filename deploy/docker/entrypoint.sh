#!/bin/sh
# The entry point of every Cloud Platform image (installed as /usr/local/bin/cp-entrypoint).
#
#   cp-entrypoint serve [module [args...]]
#       migrate the service's database to head, then exec `python -m <module>`. The image's
#       default CMD: what docker compose runs, where nothing else migrates.
#   cp-entrypoint run [module [args...]]
#       exec `python -m <module>` without migrating: for Kubernetes, where an initContainer
#       migrates, and for a service's further processes (outbox relay, consumers, workers),
#       which start once the service's first process has migrated.
#   cp-entrypoint migrate
#       migrate the service's database to head and exit (the Kubernetes initContainer).
#   cp-entrypoint <anything else>
#       exec'd as given, e.g. `python -m cpshared.kafka_admin ensure`.
#
# The image's Dockerfile sets CLOUDPLATFORM_SERVICE (the service, for the migrations) and
# CLOUDPLATFORM_MODULE (the module `serve` and `run` start when none is given). The database
# is $CP_DATABASE_URL, as for every process of the service: each process refuses to start on
# a database that is not at head, which is why `serve` migrates first.
set -eu

die() {
    echo "cp-entrypoint: $*" >&2
    exit 64
}

migrate() {
    [ -n "${CLOUDPLATFORM_SERVICE:-}" ] || die "CLOUDPLATFORM_SERVICE is not set: the image names no service"
    python -m cpshared.migrations upgrade "$CLOUDPLATFORM_SERVICE"
}

start() {
    if [ $# -eq 0 ]; then
        [ -n "${CLOUDPLATFORM_MODULE:-}" ] || die "no module given and CLOUDPLATFORM_MODULE is not set"
        set -- "$CLOUDPLATFORM_MODULE"
    fi
    exec python -m "$@"
}

case "${1:-}" in
    serve)
        shift
        migrate
        start "$@"
        ;;
    run)
        shift
        start "$@"
        ;;
    migrate)
        [ $# -eq 1 ] || die "usage: cp-entrypoint migrate"
        migrate
        ;;
    "")
        die "usage: cp-entrypoint serve|run [module [args...]] | migrate | <command> [args...]"
        ;;
    *)
        exec "$@"
        ;;
esac
