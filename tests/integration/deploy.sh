#!/usr/bin/env bash
# docs/deploy.md followed on this machine, under a staging root instead of
# /: `make install DESTDIR`, folio's and nginx's own unprivileged users,
# the production nginx site (folio.conf.example, TLS with a self-signed
# certificate standing in for Let's Encrypt's), folio-fcgi started as its
# systemd unit says — user, group, runtime directory, umask, and its
# ProtectSystem=strict + ReadWritePaths rebuilt with a mount namespace —
# then: modes, the socket reachable by nginx's group only, ACME http-01,
# a form through nginx, a `folio build` swap followed by a form whose page
# is rendered again, the backup service and its rotation, restore refusing
# a running store, and a slowloris from one address while another address
# still gets pages and a form answer.
#
# Substitutions, the only differences from the documented files: every
# absolute server path (/srv/folio, /run/folio, /usr/local, /etc/nginx,
# /etc/letsencrypt, /var/www/acme, /var/backups/folio) gets the staging
# root in front; listen ports are free loopback ports (no [::] lines);
# User=folio / Group=www-data / nginx's user are throwaway users.
. "$FOLIO_SRCDIR/tests/integration/lib.sh"

skip() { echo "deploy.sh: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root: it makes two throwaway system users and a mount namespace (sudo make check TESTS=tests/integration/deploy.sh)"
for c in useradd userdel setpriv unshare mount openssl curl python3; do
    command -v "$c" >/dev/null || skip "$c is missing"
done
unshare -m true 2>/dev/null || skip "cannot make a mount namespace here (a container without CAP_SYS_ADMIN?)"
ip -4 addr show lo 2>/dev/null | grep -q '127.0.0.1/8' ||
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.2",0))' 2>/dev/null ||
    skip "no second loopback address (127.0.0.2) for the second client"

: "${FOLIO_BUILDDIR:?run through make check}"
# The other users run the system's python, not root's own (pyenv and such).
SYS_PY=/usr/bin/python3
[ -x "$SYS_PY" ] || skip "no /usr/bin/python3 for the other users"
ST=$T_DIR/stage
chmod 0755 "$T_DIR"
APP=folio-t$$ WEB=folio-w$$
D_PIDS=
d_cleanup() {
    local p
    for p in $D_PIDS; do kill -TERM "$p" 2>/dev/null || true; done
    for p in $D_PIDS; do wait "$p" 2>/dev/null || true; done
    D_PIDS=
    for u in "$APP" "$WEB"; do
        id "$u" >/dev/null 2>&1 || continue
        userdel "$u" || echo "deploy.sh: could not remove the user $u" >&2
        groupdel "$u" 2>/dev/null
    done
    return 0
}
trap 'd_cleanup; t_cleanup' EXIT
useradd --system --user-group --no-create-home --shell /usr/sbin/nologin "$APP" &&
    useradd --system --user-group --no-create-home --shell /usr/sbin/nologin "$WEB" ||
    { t_fail "make the users" "useradd failed"; t_done; }
as() { local u=$1 g=$2; shift 2; setpriv --reuid="$u" --regid="$g" --clear-groups "$@"; }
# stage PATH...: the server path under the staging root
stagepaths() {
    sed -e "s|/usr/local/|$ST/usr/local/|g" -e "s|/srv/folio|$ST/srv/folio|g" \
        -e "s|/run/folio|$ST/run/folio|g" -e "s|/etc/nginx|$ST/etc/nginx|g" \
        -e "s|/etc/letsencrypt|$ST/etc/letsencrypt|g" -e "s|/var/www/acme|$ST/var/www/acme|g" \
        -e "s|/var/backups/folio|$ST/var/backups/folio|g"
}

# ---- make install ----------------------------------------------------------
make -C "$FOLIO_BUILDDIR" -s install DESTDIR="$ST" >"$T_DIR/install.log" 2>&1 ||
    { tail "$T_DIR/install.log"; t_fail "make install" "failed"; t_done; }
P=$ST/usr/local
for f in bin/folio bin/folio-fcgi share/man/man1/folio.1 share/man/man8/folio-fcgi.8 \
         share/folio/themes/default/templates share/folio/nginx/folio-site.conf share/folio/nginx/folio-http.conf \
         share/folio/nginx/folio-fastcgi.conf share/folio/nginx/folio-security-headers.conf \
         share/folio/nginx/folio.conf.example share/folio/systemd/folio-fcgi.service \
         share/folio/systemd/folio-backup.service share/folio/systemd/folio-backup.timer \
         share/doc/folio/deploy.md; do
    [ -e "$P/$f" ] && t_ok "installed $f" || t_fail "installed $f" "missing"
done
U=$P/share/folio/systemd
grep -q "^ExecStart=/usr/local/bin/folio-fcgi " "$U/folio-fcgi.service" && t_ok "the unit names the installed binary" ||
    t_fail "the unit names the installed binary" "$(grep ExecStart= "$U/folio-fcgi.service")"
if command -v systemd-analyze >/dev/null; then
    mkdir -p "$T_DIR/units"
    for f in folio-fcgi.service folio-backup.service folio-backup.timer; do
        stagepaths < "$U/$f" > "$T_DIR/units/$f"
    done
    (cd "$T_DIR/units" && systemd-analyze verify --man=no ./folio-fcgi.service \
        ./folio-backup.service ./folio-backup.timer) >"$T_DIR/verify" 2>&1 &&
        t_ok "systemd-analyze verify: the units" || t_fail "systemd-analyze verify" "$(cat "$T_DIR/verify")"
else
    echo "# systemd-analyze missing: the units' syntax is not checked"
fi
unit() { # KEY FILE: the value of KEY= in a unit
    grep "^$1=" "$2" | head -n 1 | cut -d= -f2-
}
FCGI_UNIT=$U/folio-fcgi.service
t_expect "the unit's user" folio "$(unit User "$FCGI_UNIT")"
t_expect "the unit's group is nginx's" www-data "$(unit Group "$FCGI_UNIT")"
t_expect "the unit makes /run/folio" folio "$(unit RuntimeDirectory "$FCGI_UNIT")"

# ---- the server's directories (docs/deploy.md, "Directories") --------------
install -d -m 0755 "$ST/srv" "$ST/run" "$ST/var/www/acme/.well-known/acme-challenge" \
    "$ST/var/backups" "$ST/etc/nginx/sites-enabled" "$ST/etc/nginx/snippets"
install -d -o "$APP" -g "$WEB" -m 0750 "$ST/srv/folio"
install -d -o "$APP" -g "$APP" -m 0700 "$ST/var/backups/folio"
export FOLIO_THEME_DIR=$P/share/folio
as "$APP" "$APP" "$P/bin/folio" init "$ST/srv/folio" >"$T_DIR/init.log" 2>&1 ||
    { cat "$T_DIR/init.log"; t_fail "folio init as folio" "failed"; t_done; }
sed -i 's|^base_url:.*|base_url: "https://example.org/"|' "$ST/srv/folio/folio.yml"
as "$APP" "$APP" "$P/bin/folio" build -s "$ST/srv/folio" >"$T_DIR/build.log" 2>&1 ||
    { cat "$T_DIR/build.log"; t_fail "the first folio build as folio" "failed"; t_done; }
t_ok "the first folio build as folio"

# ---- folio-fcgi as its unit starts it --------------------------------------
RTDIR=/run/$(unit RuntimeDirectory "$FCGI_UNIT")
install -d -o "$APP" -g "$WEB" -m "$(unit RuntimeDirectoryMode "$FCGI_UNIT")" "$ST$RTDIR"
# sandboxed UNIT: run the unit's ExecStart (or CMD...) as its User/Group
# with its UMask, inside ProtectSystem=strict (the staging root read-only)
# with ReadWritePaths and the RuntimeDirectory writable. Background; the
# pid in $!.
sandboxed() {
    local f=$1; shift
    local user group p n
    n=$T_DIR/sandbox-$(basename "$f")
    user=$(unit User "$f" | sed -e "s|^folio$|$APP|")
    group=$(unit Group "$f" | sed -e "s|^www-data$|$WEB|" -e "s|^folio$|$APP|")
    [ "$(unit ProtectSystem "$f")" = strict ] || t_fail "$(basename "$f"): ProtectSystem" "not strict"
    {
        echo "umask $(unit UMask "$f")"
        for p in $(unit Environment "$f" | stagepaths); do echo "export $p"; done
        if [ $# -gt 0 ]; then echo "$*"; else echo "exec $(unit ExecStart "$f" | stagepaths)"; fi
    } > "$n.inner"
    {
        echo "set -e"
        echo "mount --bind '$ST' '$ST'"
        echo "mount -o remount,bind,ro '$ST'"
        for p in $(unit ReadWritePaths "$f") $([ -n "$(unit RuntimeDirectory "$f")" ] && echo "$RTDIR"); do
            echo "mount --bind '$ST$p' '$ST$p'"
            echo "mount -o remount,bind,rw '$ST$p'"
        done
        echo "exec setpriv --reuid='$user' --regid='$group' --clear-groups sh '$n.inner'"
    } > "$n.outer"
    chmod 0644 "$n.inner"
    unshare -m --propagation private sh "$n.outer" &
}
sandboxed "$FCGI_UNIT" 2>>"$FOLIO_FCGI_LOG"
FCGI_PID=$!; D_PIDS="$D_PIDS $FCGI_PID"
SOCK=$ST$RTDIR/folio.sock
folio_wait_for "test -S '$SOCK'" 10 && t_ok "folio-fcgi listens on /run/folio/folio.sock" ||
    { t_fail "folio-fcgi starts under the unit's settings" "$(tail -n 3 "$FOLIO_FCGI_LOG")"; t_done; }

# ---- modes ---------------------------------------------------------------------
mode() { stat -c '%a %U %G' "$1" 2>/dev/null; }
V=$ST/srv/folio/var
t_expect "var/ is 0700, folio's" "700 $APP" "$(mode "$V" | cut -d' ' -f1-2)"
for f in folio.db folio.db-wal folio.db-shm master.key; do
    t_expect "var/$f is 0600, folio's" "600 $APP" "$(mode "$V/$f" | cut -d' ' -f1-2)"
done
t_expect "/run/folio is 0750 folio:nginx's group" "750 $APP $WEB" "$(mode "$ST$RTDIR")"
t_expect "the socket is 0660 folio:nginx's group" "660 $APP $WEB" "$(mode "$SOCK")"
connect() { # USER GROUP -> "ok" or the error
    as "$1" "$2" "$SYS_PY" -c 'import socket,sys
s=socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1]); print("ok")
except OSError as e:
    print(e.strerror)' "$SOCK" 2>&1
}
t_expect "nginx's user reaches the socket (by the group)" ok "$(connect "$WEB" "$WEB")"
t_expect "another user does not" "Permission denied" "$(connect nobody nogroup)"
t_expect "nginx's user cannot read var/" "Permission denied" \
    "$(as "$WEB" "$WEB" sh -c "cat '$V/folio.db' >/dev/null" 2>&1 | sed 's/.*: //')"

# The socket where it used to be, in var/: nginx's user cannot reach it,
# and folio-fcgi says so at start.
# (setpriv itself in the background, not the as function: $! must be the
# process that becomes folio-fcgi.)
setpriv --reuid="$APP" --regid="$WEB" --clear-groups \
    "$P/bin/folio-fcgi" -s "$ST/srv/folio" --socket "$V/old.sock" 2>"$T_DIR/old.log" &
OLD_PID=$!; D_PIDS="$D_PIDS $OLD_PID"
folio_wait_for "test -S '$V/old.sock'" 10
SOCK_SAVED=$SOCK SOCK=$V/old.sock
t_expect "a socket in var/ is out of nginx's reach" "Permission denied" "$(connect "$WEB" "$WEB")"
SOCK=$SOCK_SAVED
kill -TERM "$OLD_PID"; wait "$OLD_PID" 2>/dev/null
t_contains "folio-fcgi warns about a socket in var/" "cannot reach the socket" "$T_DIR/old.log"

# ---- nginx: Debian's nginx.conf, the documented edits, the production site ---
P80=$(folio_free_port); P443=$(folio_free_port)
while [ "$P443" = "$P80" ]; do P443=$(folio_free_port); done
mkdir -p "$ST/var/log/nginx" "$ST/var/lib/nginx"
chown "$WEB" "$ST/var/lib/nginx"
cp /etc/nginx/mime.types /etc/nginx/fastcgi_params "$ST/etc/nginx/"
cp "$P"/share/folio/nginx/folio-*.conf "$ST/etc/nginx/snippets/"
# nginx.conf as Debian 12 ships it (modules-enabled and conf.d left out)...
cat > "$ST/etc/nginx/nginx.conf" <<NGX
user $WEB;
worker_processes auto;
pid $ST/run/nginx.pid;
events {
	worker_connections 768;
}
http {
	sendfile on;
	tcp_nopush on;
	types_hash_max_size 2048;
	include /etc/nginx/mime.types;
	default_type application/octet-stream;
	ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;
	ssl_prefer_server_ciphers on;
	access_log /var/log/nginx/access.log;
	error_log /var/log/nginx/error.log;
	gzip on;
	client_body_temp_path /var/lib/nginx/body;
	fastcgi_temp_path /var/lib/nginx/fastcgi;
	proxy_temp_path /var/lib/nginx/proxy;
	uwsgi_temp_path /var/lib/nginx/uwsgi;
	scgi_temp_path /var/lib/nginx/scgi;
	include /etc/nginx/sites-enabled/*;
}
NGX
sed -i -e "s|/var/log/nginx|$ST/var/log/nginx|g" -e "s|/var/lib/nginx|$ST/var/lib/nginx|g" \
    -e "s|/etc/nginx|$ST/etc/nginx|g" "$ST/etc/nginx/nginx.conf"
# ... with docs/deploy.md's two edits ("nginx"), as written there.
sed -i -e 's/worker_connections [0-9]*;/worker_connections 4096;/' \
       -e '/^pid /a worker_rlimit_nofile 16384;' "$ST/etc/nginx/nginx.conf"
# The certificate certbot would have put there.
LE=$ST/etc/letsencrypt/live/example.org
mkdir -p "$LE"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=example.org \
    -addext subjectAltName=DNS:example.org -keyout "$LE/privkey.pem" \
    -out "$LE/fullchain.pem" >/dev/null 2>&1 || { t_fail "make a certificate" "openssl failed"; t_done; }
stagepaths < "$P/share/folio/nginx/folio.conf.example" | sed \
    -e "s|listen 80;|listen 127.0.0.1:$P80;|" -e "s|listen 443 ssl http2;|listen 127.0.0.1:$P443 ssl http2;|" \
    -e '/listen \[::\]/d' > "$ST/etc/nginx/sites-enabled/folio"
# HSTS on, as the snippet says to once https works.
sed -i 's|^#add_header Strict-Transport-Security|add_header Strict-Transport-Security|' \
    "$ST/etc/nginx/snippets/folio-security-headers.conf"
NGINX=$(folio_nginx_bin)
"$NGINX" -t -q -c "$ST/etc/nginx/nginx.conf" -e "$ST/var/log/nginx/error.log" 2>"$T_DIR/nginx-t" &&
    t_ok "nginx -t: Debian's nginx.conf with the folio site" ||
    { t_fail "nginx -t" "$(cat "$T_DIR/nginx-t")"; t_done; }
ulimit -n 20000 2>/dev/null || true
"$NGINX" -c "$ST/etc/nginx/nginx.conf" -e "$ST/var/log/nginx/error.log" -g 'daemon off;' &
D_PIDS="$D_PIDS $!"
folio_wait_for "curl -s -o /dev/null http://127.0.0.1:$P80/" 10 ||
    { t_fail "nginx starts" "$(tail -n 5 "$ST/var/log/nginx/error.log")"; t_done; }

H=https://example.org:$P443
cx() { curl -s -k --max-time 10 --resolve "example.org:$P443:127.0.0.1" --resolve "example.org:$P80:127.0.0.1" "$@"; }
st() { # METHOD URL [args] -> status; body, headers in $T_DIR
    local m=$1 u=$2; shift 2
    cx -o "$T_DIR/body" -D "$T_DIR/headers" -w '%{http_code}' -X "$m" "$@" "$u"
}
post() { # PATH BODY [args]
    local p=$1 b=$2; shift 2
    st POST "$H$p" -H "Origin: https://example.org" \
        -H 'Content-Type: application/x-www-form-urlencoded' --data-binary "$b" "$@"
}

# ---- ACME http-01, the redirect, the site over https -------------------------
echo "token-body-1" > "$ST/var/www/acme/.well-known/acme-challenge/tok1"
t_expect "ACME http-01 challenge over http" 200 "$(st GET "http://example.org:$P80/.well-known/acme-challenge/tok1")"
t_contains "the challenge's content" "token-body-1" "$T_DIR/body"
t_expect "http moves to https" 301 "$(st GET "http://example.org:$P80/about/")"
grep -qi "^location: https://example.org/about/" "$T_DIR/headers" && t_ok "to the same path" ||
    t_fail "to the same path" "$(grep -i location "$T_DIR/headers")"
t_expect "GET / over https" 200 "$(st GET "$H/")"
t_expect "HSTS once on a page" 1 "$(grep -ci '^strict-transport-security:' "$T_DIR/headers")"
t_expect "/health through nginx" 200 "$(st GET "$H/health")"
t_expect "HSTS once on /health" 1 "$(grep -ci '^strict-transport-security:' "$T_DIR/headers")"
t_expect "nosniff once on /health" 1 "$(grep -ci '^x-content-type-options:' "$T_DIR/headers")"
t_expect "a dotfile over https" 404 "$(st GET "$H/.folio-deps")"

# ---- a form, its page rendered again ------------------------------------------
t_expect "register through nginx" 303 "$(post /register "email=ada%40example.org&display_name=Ada+Deployed&password=correct-horse-battery")"
link=$(T_SITE=$ST/srv/folio t_link verify ada@example.org verify) || t_fail "the verification mail" "not in the outbox"
t_expect "the link in the mail confirms" 303 "$(st GET "$H$link")"
t_expect "the community page" 200 "$(st GET "$H/community/")"
t_contains "lists the new member" "Ada Deployed" "$T_DIR/body"
grep -q "ada@example.org" "$T_DIR/body" && t_fail "no address on the page" "the e-mail is there"
t_expect "the rendered page is readable by nginx's group" "$APP $WEB" \
    "$(stat -c '%U %G' "$ST/srv/folio/public/community/index.html")"

# ---- folio build swaps public/; the sandboxed folio-fcgi still renders into it
as "$APP" "$APP" "$P/bin/folio" build -s "$ST/srv/folio" >"$T_DIR/build2.log" 2>&1 &&
    t_ok "folio build while folio-fcgi runs" || t_fail "folio build while folio-fcgi runs" "$(cat "$T_DIR/build2.log")"
t_expect "register after the build" 303 "$(post /register "email=bo%40example.org&display_name=Bo+After+Build&password=correct-horse-battery")"
link=$(T_SITE=$ST/srv/folio t_link verify bo@example.org verify) || t_fail "the verification mail after the build" "not in the outbox"
t_expect "its link confirms" 303 "$(st GET "$H$link")"
t_expect "the community page after the build" 200 "$(st GET "$H/community/")"
t_contains "shows the member registered after the build" "Bo After Build" "$T_DIR/body"
t_contains "and the one before" "Ada Deployed" "$T_DIR/body"
t_expect "a contact through nginx" 303 "$(post /contact "name=Cy&email=cy%40example.org&message=Hello+from+the+deploy+test.")"

# ---- the backup service and its rotation --------------------------------------
BK_UNIT=$U/folio-backup.service
for d in 20200101T000000Z 20200102T000000Z 20200103T000000Z; do
    echo old > "$ST/var/backups/folio/folio-$d.db"
done
chown "$APP:$APP" "$ST"/var/backups/folio/*.db
bk_cmd() { unit "$1" "$BK_UNIT" | sed -e 's/%%/%/g' -e 's/\$\$/$/g' | stagepaths; }
sandboxed "$BK_UNIT" "$(bk_cmd ExecStart) && $(bk_cmd ExecStartPost | sed 's/FOLIO_BACKUP_KEEP + 1/2 + 1/')" \
    >"$T_DIR/backup.log" 2>&1
wait $! && t_ok "the backup service runs" || t_fail "the backup service runs" "$(cat "$T_DIR/backup.log")"
ls "$ST/var/backups/folio" > "$T_DIR/backups"
t_expect "rotation keeps the newest two" 2 "$(grep -c '^folio-.*\.db$' "$T_DIR/backups")"
grep -q 20200103 "$T_DIR/backups" && ! grep -q 20200102 "$T_DIR/backups" && t_ok "the oldest went" ||
    t_fail "the oldest went" "$(cat "$T_DIR/backups")"
new=$(grep -v '^folio-2020' "$T_DIR/backups" | head -n 1)
t_expect "the new backup is 0600, folio's" "600 $APP" "$(mode "$ST/var/backups/folio/$new" | cut -d' ' -f1-2)"
as "$APP" "$APP" "$P/bin/folio" restore -s "$ST/srv/folio" "$ST/var/backups/folio/$new" >"$T_DIR/restore" 2>&1 &&
    t_fail "restore while folio-fcgi runs" "accepted" ||
    t_contains "restore refuses while folio-fcgi runs" "stop it first" "$T_DIR/restore"

# ---- slowloris from 127.0.0.1; 127.0.0.2 still served --------------------------
cat > "$T_DIR/slow.py" <<'PY'
import resource, socket, sys, time
port, n, hold, ready = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, n + 100), max(hard, n + 100)))
socks = []
for i in range(n):
    s = socket.socket()
    s.settimeout(2)
    try:
        s.bind(("127.0.0.1", 0))
        s.connect(("127.0.0.1", port))
        s.send(b"GET / HTTP/1.1\r\nHost: example.org\r\n")
        socks.append(s)
    except OSError:
        s.close()
open(ready, "w").write(str(len(socks)))
end = time.time() + hold
while time.time() < end:
    time.sleep(1)
    alive = []
    for s in socks:
        try:
            s.send(b"X-a: b\r\n")
            alive.append(s)
        except OSError:
            s.close()
    socks = alive
print(len(socks))
PY
SLOW_N=2000
python3 "$T_DIR/slow.py" "$P80" "$SLOW_N" 8 "$T_DIR/slow.ready" >"$T_DIR/slow.out" 2>&1 &
SLOW_PID=$!; D_PIDS="$D_PIDS $SLOW_PID"
folio_wait_for "test -s '$T_DIR/slow.ready'" 20 || t_fail "slowloris opens its connections" "no ready file"
t_expect "slowloris holds its connections" "$SLOW_N" "$(cat "$T_DIR/slow.ready" 2>/dev/null)"
sleep 1
good=0
for i in 1 2 3 4 5; do
    [ "$(st GET "$H/" --interface 127.0.0.2 --max-time 5)" = 200 ] && good=$((good + 1))
done
t_expect "pages for 127.0.0.2 during the slowloris" 5 "$good"
# A figure, not a target: how long a page took for the second client.
echo "# page for 127.0.0.2 while 127.0.0.1 holds $SLOW_N slow connections:" \
    "$(cx -o /dev/null -w '%{time_total}' --interface 127.0.0.2 --max-time 5 "$H/") s"
t_expect "a form answer for 127.0.0.2 during the slowloris" 303 \
    "$(post /contact "name=Di&email=di%40example.org&message=Sent+during+the+slowloris." --interface 127.0.0.2 --max-time 5)"
wait "$SLOW_PID"
left=$(tail -n 1 "$T_DIR/slow.out")
[ "${left:-0}" -ge $((SLOW_N * 9 / 10)) ] 2>/dev/null && t_ok "the slow connections stayed open throughout ($left)" ||
    t_fail "the slow connections stayed open throughout" "only ${left:-?} of $SLOW_N"

# ---- limit_conn: one address's requests in progress (readers that never read)
as "$APP" "$APP" dd if=/dev/zero of="$ST/srv/folio/public/big.bin" bs=1M count=8 status=none
cat > "$T_DIR/readers.py" <<'PY'
import socket, ssl, sys, time
port, n, ready = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
socks = []
for i in range(n):
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.settimeout(5)
    raw.bind(("127.0.0.1", 0))
    raw.connect(("127.0.0.1", port))
    s = ctx.wrap_socket(raw, server_hostname="example.org")
    s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: example.org\r\n\r\n")
    socks.append(s)
codes = {}
for s in socks:
    try:
        code = s.recv(64).split(b"\r\n")[0].split()[1].decode()
    except Exception:
        code = "none"
    codes[code] = codes.get(code, 0) + 1
open(ready, "w").write(" ".join("%s:%d" % kv for kv in sorted(codes.items())))
time.sleep(3)
PY
python3 "$T_DIR/readers.py" "$P443" 40 "$T_DIR/readers.out" 2>"$T_DIR/readers.err" &
READ_PID=$!; D_PIDS="$D_PIDS $READ_PID"
folio_wait_for "test -s '$T_DIR/readers.out'" 30
t_expect "40 stalled downloads from one address: 32 served, 8 refused" "200:32 429:8" \
    "$(cat "$T_DIR/readers.out" 2>/dev/null || cat "$T_DIR/readers.err")"
t_expect "meanwhile 127.0.0.2 gets a page" 200 "$(st GET "$H/" --interface 127.0.0.2 --max-time 5)"
wait "$READ_PID"

# ---- restore, as the document says, and as root by mistake ------------------
kill -TERM "$FCGI_PID"; wait "$FCGI_PID" 2>/dev/null
"$P/bin/folio" restore -s "$ST/srv/folio" "$ST/var/backups/folio/$new" >"$T_DIR/restore" 2>&1 &&
    t_ok "restore (as root) once folio-fcgi is stopped" || t_fail "restore once folio-fcgi is stopped" "$(cat "$T_DIR/restore")"
t_expect "the restored store is folio's, 0600" "600 $APP" "$(mode "$V/folio.db" | cut -d' ' -f1-2)"
kept=$(ls "$V" | grep before-restore | head -n 1)
t_expect "the kept store is folio's, 0600" "600 $APP" "$(mode "$V/$kept" | cut -d' ' -f1-2)"
as "$APP" "$APP" "$P/bin/folio" events -s "$ST/srv/folio" >/dev/null 2>"$T_DIR/events.err" &&
    t_ok "folio's user opens the restored store" || t_fail "folio's user opens the restored store" "$(cat "$T_DIR/events.err")"
t_done
