#!/bin/bash
# Creates one database and one user per Cloud Platform service: cp_<svc>, reachable from any
# host of the compose network, with rights on its own database only. The password of each
# comes from CP_<SVC>_DB_PASSWORD (docker-compose.yml passes them to the mariadb container).
#
# The official mariadb image runs this once, on its first start with an empty data volume,
# from /docker-entrypoint-initdb.d: it executes the file, or sources it when the file is not
# executable. The body runs in a subshell so that sourcing leaves the entrypoint's shell as
# it was. To change a password later, change the user in MariaDB or drop the volume.
(
    set -euo pipefail

    services=(identity compute network storage billing monitoring support audit gateway)

    # A value inside a single-quoted SQL string literal: backslash, then quote, escaped.
    sql_literal() {
        local value=${1//\\/\\\\}
        printf '%s' "${value//\'/\\\'}"
    }

    password_variable() {
        printf 'CP_%s_DB_PASSWORD' "${1^^}"
    }

    for service in "${services[@]}"; do
        variable=$(password_variable "$service")
        if [ -z "${!variable:-}" ]; then
            echo "mariadb-init: $variable is not set: no password for cp_$service" >&2
            exit 1
        fi
    done

    for service in "${services[@]}"; do
        variable=$(password_variable "$service")
        password=$(sql_literal "${!variable}")
        echo "CREATE DATABASE IF NOT EXISTS \`cp_$service\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"
        echo "CREATE USER IF NOT EXISTS 'cp_$service'@'%' IDENTIFIED BY '$password';"
        # In GRANT, `_` in a database name is a wildcard: escaped, the grant names one database.
        echo "GRANT ALL PRIVILEGES ON \`cp\\_$service\`.* TO 'cp_$service'@'%';"
    done | MYSQL_PWD="${MARIADB_ROOT_PASSWORD:-}" mariadb --protocol=socket --user=root --host=localhost \
        --socket="${SOCKET:-/run/mysqld/mysqld.sock}"

    echo "mariadb-init: created ${#services[@]} databases and users: ${services[*]/#/cp_}"
)
