# folio: start nginx and folio-fcgi on a loopback port for one site.
# Sourced (bash) by ./quickstart and tests/integration/lib.sh.
#
#   folio_local_setup RUN SITE PUBLIC PORT   writes RUN/nginx.conf
#   folio_local_start_fcgi                   starts folio-fcgi (background)
#   folio_local_start_nginx                  starts nginx (background)
#   folio_local_stop                         stops both, waits for them
#
# Needs: FOLIO_FCGI_BIN (the folio-fcgi program), FOLIO_NGINX_DIR (this
# directory), nginx on PATH or in /usr/sbin.

FOLIO_NGINX_DIR=${FOLIO_NGINX_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
folio_nginx_pid=
folio_fcgi_pid=

folio_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Waits up to $2 seconds (default 10) for a condition command $1.
folio_wait_for() {
    local cond=$1 limit=${2:-10} i=0
    while ! eval "$cond" >/dev/null 2>&1; do
        i=$((i + 1))
        [ "$i" -gt $((limit * 20)) ] && return 1
        sleep 0.05
    done
}

folio_local_setup() {
    FOLIO_RUN=$1 FOLIO_SITE=$2 FOLIO_PUBLIC=$3 FOLIO_PORT=$4
    FOLIO_SOCKET=$FOLIO_RUN/folio.sock
    mkdir -p "$FOLIO_RUN/tmp"
    # Relative includes resolve against the config's directory, as they do
    # in /etc/nginx: give it the snippets and Debian's shared files.
    ln -sfn "$FOLIO_NGINX_DIR" "$FOLIO_RUN/snippets"
    ln -sf /etc/nginx/mime.types "$FOLIO_RUN/mime.types"
    ln -sf /etc/nginx/fastcgi_params "$FOLIO_RUN/fastcgi_params"
    local user_line=""
    # As root, nginx would switch its workers to nobody; run them as the
    # invoking user so they can read the site wherever it is.
    [ "$(id -u)" -eq 0 ] && user_line="user $(id -un) $(id -gn);"
    sed -e "s|@RUN@|$FOLIO_RUN|g" -e "s|@ROOT@|$FOLIO_PUBLIC|g" \
        -e "s|@PORT@|$FOLIO_PORT|g" -e "s|@SOCKET@|$FOLIO_SOCKET|g" \
        -e "s|@USER_LINE@|$user_line|" \
        -e "s|@ACCESS_LOG@|${FOLIO_ACCESS_LOG:-$FOLIO_RUN/nginx-access.log}|" \
        "$FOLIO_NGINX_DIR/local.conf.in" > "$FOLIO_RUN/nginx.conf"
}

folio_nginx_bin() {
    command -v nginx 2>/dev/null || echo /usr/sbin/nginx
}

folio_local_start_nginx() {
    local nginx; nginx=$(folio_nginx_bin)
    "$nginx" -t -q -p "$FOLIO_RUN" -c "$FOLIO_RUN/nginx.conf" -e "$FOLIO_RUN/nginx-error.log" || return 1
    "$nginx" -p "$FOLIO_RUN" -c "$FOLIO_RUN/nginx.conf" -e "$FOLIO_RUN/nginx-error.log" &
    folio_nginx_pid=$!
    if ! folio_wait_for "curl -s -o /dev/null http://127.0.0.1:$FOLIO_PORT/" 10; then
        echo "nginx did not start; see $FOLIO_RUN/nginx-error.log" >&2
        return 1
    fi
}

# Extra arguments go to folio-fcgi. Its log goes to $FOLIO_FCGI_LOG when set.
folio_local_start_fcgi() {
    rm -f "$FOLIO_SOCKET"
    if [ -n "${FOLIO_FCGI_LOG:-}" ]; then
        "$FOLIO_FCGI_BIN" -s "$FOLIO_SITE" --socket "$FOLIO_SOCKET" "$@" 2>>"$FOLIO_FCGI_LOG" &
    else
        "$FOLIO_FCGI_BIN" -s "$FOLIO_SITE" --socket "$FOLIO_SOCKET" "$@" &
    fi
    folio_fcgi_pid=$!
    if ! folio_wait_for "test -S '$FOLIO_SOCKET'" 10; then
        echo "folio-fcgi did not start" >&2
        return 1
    fi
}

folio_local_stop() {
    local p
    for p in $folio_fcgi_pid $folio_nginx_pid; do
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in $folio_fcgi_pid $folio_nginx_pid; do
        wait "$p" 2>/dev/null || true
    done
    folio_fcgi_pid= folio_nginx_pid=
}
