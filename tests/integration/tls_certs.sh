#!/usr/bin/env bash
# tests/integration/tls_certs.sh - the certificates of docker.endpoint: tls
# (provision/tlscerts.c) against real TLS peers, all on 127.0.0.1:
#   - openssl verify in strict mode, for the right purposes only;
#   - openssl s_server demanding a client certificate, curl as the client:
#     our client gets in, another project's client and no client do not,
#     and curl checks the server's names;
#   - a second dockerd started by hand (own data, exec root, pidfile,
#     sockets and bridge; no iptables) with --tlsverify on our material,
#     reached by curl, by bootstrap's own Docker driver and by the docker
#     CLI with DOCKER_CERT_PATH. Root only; the running dockerd is never
#     touched. If that dockerd cannot start here, the part is skipped
#     (tests/lab/skip.sh: a failure in CI unless BS_EXPECTED_SKIPS lists
#     tls_certs-dockerd).
# tests/integration/tlscerts.c makes the material.
#
#   INTEG_BIN=build/integration bash tests/integration/tls_certs.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
TLSCERTS=${INTEG_BIN:-build/integration}/tlscerts
# BS_WRAP runs the program under a checker (valgrind) when set
read -r -a WRAP <<<"${BS_WRAP:-}"
. tests/lab/skip.sh

pass=0 fail=0
ok() { pass=$((pass + 1)); printf 'ok   %s\n' "$1"; }
bad() { fail=$((fail + 1)); printf 'FAIL %s\n' "$1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/     /'; }
check() { # NAME COMMAND...: COMMAND succeeds
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then ok "$name"; else bad "$name" "$out"; fi
}
refused() { # NAME CODES COMMAND...: COMMAND fails with one of CODES ("35 55 56")
	local name=$1 codes=" $2 " out rc
	shift 2
	out=$("$@" 2>&1)
	rc=$?
	if [ $rc -ne 0 ] && [[ $codes == *" $rc "* ]]; then ok "$name"; else bad "$name (exit $rc, wanted one of$codes)" "$out"; fi
}
same() { # NAME GOT WANT
	if [ "$2" = "$3" ]; then ok "$1"; else bad "$1" "got:  $(printf '%s' "$2" | tr '\n' ' ')
want: $(printf '%s' "$3" | tr '\n' ' ')"; fi
}
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_until() { # SECONDS COMMAND...
	local end=$((SECONDS + $1))
	shift
	while ! "$@" >/dev/null 2>&1; do
		[ $SECONDS -ge $end ] && return 1
		sleep 0.2
	done
}
alive_and() { # PID COMMAND...: our process still runs and COMMAND succeeds
	local pid=$1
	shift
	kill -0 "$pid" 2>/dev/null && "$@"
}
gone() { ! kill -0 "$1" 2>/dev/null; }
ensure() { "${WRAP[@]}" "$TLSCERTS" ensure "$@"; }
modes() { stat -c '%a %n' "$@" | sed "s|$T/||"; }
sans() { openssl x509 -in "$1" -noout -ext subjectAltName | tail -n 1 | sed 's/^ *//'; }

[ -x "$TLSCERTS" ] || { echo "build $TLSCERTS first (make integration)"; echo "0 passed, 1 failed"; exit 1; }
for tool in openssl curl python3; do
	command -v $tool >/dev/null || { echo "$tool is needed"; echo "0 passed, 1 failed"; exit 1; }
done

T=$(mktemp -d "${TMPDIR:-/tmp}/bootstrap-tls.XXXXXX")
SERVER_PID="" DOCKERD_PID=""
cleanup() {
	[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null
	if [ -n "$DOCKERD_PID" ] && kill -0 "$DOCKERD_PID" 2>/dev/null; then
		kill -TERM "$DOCKERD_PID"
		wait_until 30 gone "$DOCKERD_PID"
	fi
	# dockerd may leave mounts under its data root: never rm -rf across one
	grep -o " $T/[^ ]*" /proc/mounts 2>/dev/null | sort -r | while read -r m; do umount "$m"; done
	rm -rf "$T"
}
trap cleanup EXIT

DIR=$T/tls/demo
OTHER=$T/tls/other
NODE=$DIR/nodes/web

# ---- the files ----------------------------------------------------------------
same "first run: a new CA, client and server certificate" \
	"$(ensure "$DIR" web 127.0.0.1 localhost 2>&1)" $'ca created\nclient issued\nserver issued'
same "docker CLI layout; keys 0600, folders 0700, certificates 0644" \
	"$(modes "$DIR" "$DIR"/*.pem "$NODE" "$NODE"/*.pem)" \
	"700 tls/demo
600 tls/demo/ca-key.pem
644 tls/demo/ca.pem
644 tls/demo/cert.pem
600 tls/demo/key.pem
700 tls/demo/nodes/web
600 tls/demo/nodes/web/server-key.pem
644 tls/demo/nodes/web/server.pem"
before=$(cd "$DIR" && find . -type f | sort | xargs sha256sum)
same "second run keeps everything" "$(ensure "$DIR" web localhost 127.0.0.1 2>&1)" \
	$'ca kept\nclient kept\nserver kept'
same "... byte for byte" "$(cd "$DIR" && find . -type f | sort | xargs sha256sum)" "$before"
same "server SANs: an iPAddress and a dNSName" "$(sans "$NODE/server.pem")" \
	"IP Address:127.0.0.1, DNS:localhost"
check "server certificate verifies (strict) for serverAuth" \
	openssl verify -x509_strict -CAfile "$DIR/ca.pem" -purpose sslserver "$NODE/server.pem"
check "client certificate verifies (strict) for clientAuth" \
	openssl verify -x509_strict -CAfile "$DIR/ca.pem" -purpose sslclient "$DIR/cert.pem"
refused "the client certificate is no server certificate" 2 \
	openssl verify -CAfile "$DIR/ca.pem" -purpose sslserver "$DIR/cert.pem"
refused "the server certificate is no client certificate" 2 \
	openssl verify -CAfile "$DIR/ca.pem" -purpose sslclient "$NODE/server.pem"
ensure "$OTHER" web 127.0.0.1 >/dev/null 2>&1 || bad "another project's material"
refused "another project's CA does not vouch for ours" 2 \
	openssl verify -CAfile "$OTHER/ca.pem" -purpose sslserver "$NODE/server.pem"

# ---- a TLS server asking for a client certificate ------------------------------
port=$(free_port)
openssl s_server -accept "127.0.0.1:$port" -Verify 1 -verify_return_error -CAfile "$DIR/ca.pem" \
	-cert "$NODE/server.pem" -key "$NODE/server-key.pem" -www >"$T/s_server.log" 2>&1 &
SERVER_PID=$!
if wait_until 10 alive_and "$SERVER_PID" grep -q ACCEPT "$T/s_server.log"; then
	url=https://127.0.0.1:$port/
	tls() { curl -sS --max-time 10 "$@"; }
	mine=(--cacert "$DIR/ca.pem" --cert "$DIR/cert.pem" --key "$DIR/key.pem")
	if tls "${mine[@]}" "$url" >"$T/page" 2>"$T/curl.err" &&
		grep -q "Subject: O=bootstrap, CN=bootstrap client" "$T/page"; then
		ok "mutual TLS by address: the server saw our client certificate"
	else
		bad "mutual TLS by address" "$(cat "$T/curl.err"; tail -n 5 "$T/s_server.log")"
	fi
	check "mutual TLS by DNS name (localhost)" \
		tls "${mine[@]}" --resolve "localhost:$port:127.0.0.1" -o /dev/null "https://localhost:$port/"
	refused "curl refuses a name the server certificate does not carry" 60 \
		tls "${mine[@]}" --resolve "db.example:$port:127.0.0.1" -o /dev/null "https://db.example:$port/"
	refused "curl refuses the server against another project's CA" 60 \
		tls --cacert "$OTHER/ca.pem" --cert "$DIR/cert.pem" --key "$DIR/key.pem" -o /dev/null "$url"
	refused "the server refuses a client without a certificate" "35 55 56" \
		tls --cacert "$DIR/ca.pem" -o /dev/null "$url"
	refused "the server refuses a client certificate from another project's CA" "35 55 56" \
		tls --cacert "$DIR/ca.pem" --cert "$OTHER/cert.pem" --key "$OTHER/key.pem" -o /dev/null "$url"
	if grep -q "unable to get local issuer certificate" "$T/s_server.log"; then
		ok "... because its issuer is unknown to the server"
	else
		bad "... because its issuer is unknown to the server" "$(tail -n 10 "$T/s_server.log")"
	fi
else
	bad "openssl s_server did not start with our certificate" "$(cat "$T/s_server.log")"
fi
[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null
SERVER_PID=""

# ---- a SAN change reissues; back again -----------------------------------------
serial() { openssl x509 -in "$1" -noout -serial; }
old=$(serial "$NODE/server.pem")
same "a changed address reissues only the server certificate" \
	"$(ensure "$DIR" web 127.0.0.2 localhost 2>&1)" $'ca kept\nclient kept\nserver issued'
same "... with the new names" "$(sans "$NODE/server.pem")" "IP Address:127.0.0.2, DNS:localhost"
[ "$(serial "$NODE/server.pem")" != "$old" ] && ok "... and a new serial" || bad "... and a new serial"
same "the old names again: reissued again" "$(ensure "$DIR" web 127.0.0.1 localhost 2>&1)" \
	$'ca kept\nclient kept\nserver issued'

# ---- a second dockerd with --tlsverify -----------------------------------------
if [ "$(id -u)" != 0 ] || ! command -v dockerd >/dev/null; then
	bs_skip tls_certs-dockerd "dockerd --tlsverify: needs root and dockerd" || fail=$((fail + 1))
else
	D=$T/dockerd
	mkdir -p "$D"
	echo '{}' >"$D/daemon.json"
	dport=$(free_port)
	# its own bridge: with --bridge=none, dockerd DELETES docker0, the
	# running engine's bridge, and every later container start fails
	BR=bstls$$
	BR=${BR:0:15}
	ip link add "$BR" type bridge && ip addr add 10.254.254.1/24 dev "$BR" && ip link set "$BR" up
	dockerd --config-file "$D/daemon.json" --data-root "$D/data" --exec-root "$D/exec" \
		--pidfile "$D/dockerd.pid" -H "unix://$D/d.sock" -H "tcp://127.0.0.1:$dport" \
		--tlsverify --tlscacert "$DIR/ca.pem" --tlscert "$NODE/server.pem" \
		--tlskey "$NODE/server-key.pem" --bridge="$BR" --iptables=false --ip-masq=false \
		>"$D/log" 2>&1 &
	DOCKERD_PID=$!
	local_ping() { curl -sf --max-time 2 --unix-socket "$D/d.sock" http://localhost/_ping; }
	if ! wait_until 60 alive_and "$DOCKERD_PID" local_ping; then
		bs_skip tls_certs-dockerd "dockerd --tlsverify: a second dockerd did not start here" ||
			fail=$((fail + 1))
		tail -n 5 "$D/log" | sed 's/^/     /'
	else
		durl=https://127.0.0.1:$dport
		same "dockerd --tlsverify answers /_ping to our client" \
			"$(curl -sS --max-time 10 --cacert "$DIR/ca.pem" --cert "$DIR/cert.pem" \
				--key "$DIR/key.pem" "$durl/_ping" 2>&1)" "OK"
		refused "dockerd refuses another project's client" "35 55 56" \
			curl -sS --max-time 10 --cacert "$DIR/ca.pem" --cert "$OTHER/cert.pem" \
			--key "$OTHER/key.pem" "$durl/_ping"
		refused "dockerd refuses a client without a certificate" "35 55 56" \
			curl -sS --max-time 10 --cacert "$DIR/ca.pem" "$durl/_ping"
		got=$("${WRAP[@]}" "$TLSCERTS" engine "$DIR" "tcp://127.0.0.1:$dport" 2>&1)
		if [[ $got == "engine "*" api 1."* ]]; then
			ok "bootstrap's Docker driver over mutual TLS ($got)"
		else
			bad "bootstrap's Docker driver over mutual TLS" "$got"
		fi
		if command -v docker >/dev/null; then
			same "docker --tlsverify with DOCKER_CERT_PATH=<dir>" \
				"$(DOCKER_CONFIG=$D/cli DOCKER_CERT_PATH=$DIR docker --tlsverify \
					-H "tcp://127.0.0.1:$dport" version --format '{{.Server.Version}}' 2>&1)" \
				"$(curl -sf --max-time 5 --unix-socket "$D/d.sock" http://localhost/version |
					python3 -c 'import json, sys; print(json.load(sys.stdin)["Version"])')"
		fi
	fi
	kill -TERM "$DOCKERD_PID" 2>/dev/null
	if wait_until 30 gone "$DOCKERD_PID"; then
		DOCKERD_PID=""
	else
		bad "the second dockerd did not stop within 30 s" "$(tail -n 5 "$D/log")"
	fi
	ip link del "$BR" 2>/dev/null
fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
