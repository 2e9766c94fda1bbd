#!/usr/bin/env bash
# /metrics private without nginx's help: with folio.yml metrics_token (or
# metrics_token_env) folio-fcgi answers 401 unless the scrape carries the
# token; an unusable setting stops start and reload.
. "$FOLIO_SRCDIR/tests/integration/lib.sh"

command -v curl >/dev/null || { echo "curl missing (./quickstart test installs it)"; exit 1; }
[ -x "$FOLIO_FCGI_BIN" ] || { echo "folio-fcgi not built (run make first)"; exit 1; }

TOKEN=scrape-0123456789abcdef
t_site
echo "metrics_token: \"$TOKEN\"" >> "$T_SITE/folio.yml"
t_serve

t_expect "/metrics without a token is 401" 401 "$(t_status GET /metrics)"
grep -qi '^www-authenticate: Bearer' "$T_DIR/headers" && t_ok "401 names the Bearer scheme" ||
    t_fail "401 names the Bearer scheme" "no WWW-Authenticate"
grep -q 'folio_requests_total' "$T_DIR/body" && t_fail "401 body" "it holds the metrics"
t_expect "/metrics with a wrong token is 401" 401 "$(t_status GET /metrics -H 'Authorization: Bearer scrape-0123456789abcdeX')"
t_expect "/metrics with Basic is 401" 401 "$(t_status GET /metrics -u "x:$TOKEN")"
t_expect "/metrics with the token is 200" 200 "$(t_status GET /metrics -H "Authorization: Bearer $TOKEN")"
t_contains "the metrics are there" 'folio_requests_total{route="/metrics",status="401"}' "$T_DIR/body"
t_expect "/health needs no token" 200 "$(t_status GET /health)"

# A reload with an unusable token is refused; the old one stays.
cp "$T_SITE/folio.yml" "$T_DIR/folio.yml.good"
sed -i "s|^metrics_token:.*|metrics_token: \"short\"|" "$T_SITE/folio.yml"
kill -HUP "$folio_fcgi_pid"
folio_wait_for "grep -q 'reload refused' '$FOLIO_FCGI_LOG'" 10 && t_ok "reload with a short token is refused" ||
    t_fail "reload with a short token is refused" "no 'reload refused' in the log"
t_expect "the old token still opens /metrics" 200 "$(t_status GET /metrics -H "Authorization: Bearer $TOKEN")"
folio_local_stop

# Start refuses it, naming the key.
if "$FOLIO_FCGI_BIN" -s "$T_SITE" --socket "$T_DIR/x.sock" 2>"$T_DIR/start.err"; then
    t_fail "start with a short token" "folio-fcgi started"
else
    t_contains "start with a short token names the key" "metrics_token" "$T_DIR/start.err"
fi

# The token from the environment (systemd: Environment= or a credential).
sed -i "s|^metrics_token:.*|metrics_token_env: FOLIO_METRICS_TOKEN|" "$T_SITE/folio.yml"
if env -u FOLIO_METRICS_TOKEN "$FOLIO_FCGI_BIN" -s "$T_SITE" --socket "$T_DIR/x.sock" 2>"$T_DIR/start.err"; then
    t_fail "start without the variable" "folio-fcgi started"
else
    t_contains "start without the variable says so" "FOLIO_METRICS_TOKEN is not set" "$T_DIR/start.err"
fi
export FOLIO_METRICS_TOKEN=env-token-0123456789ab
folio_local_start_fcgi || t_fail "start with metrics_token_env" "see log"
folio_local_start_nginx || t_fail "start nginx" "see log"
t_expect "env token: without it 401" 401 "$(t_status GET /metrics)"
t_expect "env token: with it 200" 200 "$(t_status GET /metrics -H "Authorization: Bearer $FOLIO_METRICS_TOKEN")"
t_done
