# tests/lab/lab.sh - a real lab on this machine, sourced by integration tests:
#   a Docker engine, three registries on loopback (one anonymous, one with
#   htpasswd, one on HTTPS with a test CA), a git daemon on loopback serving
#   repositories with Dockerfiles, and a tiny busybox image imported locally
#   (no hub needed).
#
#   . tests/lab/lab.sh; lab_up; ...; lab_down     (lab_down runs on EXIT too)
#
# Everything listens on 127.0.0.1 only. Objects the lab makes carry the
# label io.bootstrap.test=lab or live under $LAB, and are removed by
# lab_down. A dockerd that was already running is reused and left running.

# Ports are free ones picked at start (set these to choose), so that two
# runs on one machine never talk to each other's services.
LAB_REGISTRY_PORT=${LAB_REGISTRY_PORT:-}
LAB_AUTH_REGISTRY_PORT=${LAB_AUTH_REGISTRY_PORT:-}
LAB_GIT_PORT=${LAB_GIT_PORT:-}
LAB_TLS_PORT=${LAB_TLS_PORT:-}
LAB_HTTPS_REGISTRY_PORT=${LAB_HTTPS_REGISTRY_PORT:-}
LAB_CERTS_D=${LAB_CERTS_D:-/etc/docker/certs.d}
LAB_IMAGE=local/busybox:1
LAB_WEB_IMAGE=local/web:2
LAB_USER=tester
LAB_PIDS=()
LAB_STARTED_DOCKERD=0

lab_log() { printf 'lab: %s\n' "$*" >&2; }

lab_free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# lab_alive_and PID COMMAND...: our process still runs and COMMAND succeeds
lab_alive_and() {
	local pid=$1; shift
	kill -0 "$pid" 2>/dev/null && "$@"
}

# an HTTP answer from the registry itself (200 open, 401 with auth);
# curl options (--cacert) may follow the URL
lab_registry_answers() {
	local code
	code=$(curl -s --max-time 2 -o /dev/null -w '%{http_code}' "$@") || return 1
	[ "$code" = 200 ] || [ "$code" = 401 ]
}

# wait_until SECONDS COMMAND...: bounded polling, 0.2 s steps
lab_wait_until() {
	local limit=$1; shift
	local end=$((SECONDS + limit))
	while ! "$@" >/dev/null 2>&1; do
		[ $SECONDS -ge $end ] && return 1
		sleep 0.2
	done
}

lab_ping() { curl -sf --max-time 2 --unix-socket /var/run/docker.sock http://localhost/_ping; }

lab_dockerd() {
	if lab_ping >/dev/null 2>&1; then
		return 0
	fi
	lab_log "starting dockerd"
	dockerd >"$LAB/dockerd.log" 2>&1 &
	LAB_PIDS+=($!)
	LAB_STARTED_DOCKERD=1
	if ! lab_wait_until 60 lab_ping; then
		tail -n 30 "$LAB/dockerd.log" >&2
		lab_log "dockerd did not answer /_ping within 60 s"
		return 1
	fi
}

lab_busybox_image() {
	docker image inspect "$LAB_IMAGE" >/dev/null 2>&1 && return 0
	lab_log "importing $LAB_IMAGE"
	local root="$LAB/busybox-root" a
	mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/www"
	cp /bin/busybox "$root/bin/busybox"
	for a in sh httpd sleep wget cat echo ls env touch mkdir rm date true false id \
		hostname kill ps printf seq head tail grep sed; do
		ln -sf busybox "$root/bin/$a"
	done
	echo 'root:x:0:0:root:/:/bin/sh' >"$root/etc/passwd"
	echo 'root:x:0:' >"$root/etc/group"
	tar -C "$root" -c . | docker import -c 'CMD ["sh"]' -c 'ENV PATH=/bin' - "$LAB_IMAGE" >/dev/null
}

# local/web:2 serves $GREETING over HTTP on 8080, and logs to both streams (spaced: the
# engine reads stdout and stderr on separate pipes, so only time orders them)
lab_web_image() {
	docker image inspect "$LAB_WEB_IMAGE" >/dev/null 2>&1 && return 0
	lab_log "importing $LAB_WEB_IMAGE"
	local root="$LAB/busybox-root"
	if [ ! -d "$root" ]; then
		local tmp
		tmp=$(docker create --label io.bootstrap.test=lab "$LAB_IMAGE") || return 1
		mkdir -p "$root"
		docker export "$tmp" | tar -C "$root" -x
		docker rm "$tmp" >/dev/null
	fi
	tar -C "$root" -c . | docker import -c 'ENV PATH=/bin' -c 'EXPOSE 8080' \
		-c 'CMD ["sh", "-c", "echo out-1; sleep 0.2; echo err-1 >&2; sleep 0.2; echo out-2; mkdir -p /www && echo \"$GREETING\" >/www/index.html && exec httpd -f -p 8080 -h /www"]' \
		- "$LAB_WEB_IMAGE" >/dev/null
}

lab_registry() { # NAME PORT [htpasswd [TLS-DIR]]
	local name=$1 port=$2 auth=${3:-} tls=${4:-} url="http://127.0.0.1:$2/v2/"
	local curl_opts=()
	mkdir -p "$LAB/$name"
	{
		echo "version: 0.1"
		echo "log: {level: error}"
		echo "storage: {filesystem: {rootdirectory: $LAB/$name/data}, delete: {enabled: true}}"
		if [ -n "$tls" ]; then
			echo "http: {addr: 127.0.0.1:$port, tls: {certificate: $tls/server.pem, key: $tls/server-key.pem}}"
		else
			echo "http: {addr: 127.0.0.1:$port}"
		fi
		if [ -n "$auth" ]; then
			echo "auth: {htpasswd: {realm: bootstrap-lab, path: $auth}}"
		fi
	} >"$LAB/$name/config.yml"
	if [ -n "$tls" ]; then
		url="https://127.0.0.1:$port/v2/"
		curl_opts=(--cacert "$tls/ca.crt")
	fi
	docker-registry serve "$LAB/$name/config.yml" >"$LAB/$name/log" 2>&1 &
	local pid=$!
	LAB_PIDS+=($pid)
	echo "$pid" >"$LAB/$name/pid" # a test can stop this registry alone
	lab_wait_until 20 lab_alive_and "$pid" lab_registry_answers "$url" "${curl_opts[@]}" || {
		cat "$LAB/$name/log" >&2
		lab_log "registry $name did not start on 127.0.0.1:$port"
		return 1
	}
}

lab_git() {
	local repo="$LAB/git/app.git" work="$LAB/git-work"
	mkdir -p "$LAB/git" "$work"
	git init -q --bare "$repo"
	git -C "$work" init -q
	git -C "$work" config user.email lab@localhost
	git -C "$work" config user.name lab
	mkdir -p "$work/sub"
	printf 'FROM %s\nRUN echo built-from-git > /built.txt\nCMD ["cat", "/built.txt"]\n' "$LAB_IMAGE" >"$work/Dockerfile"
	printf 'FROM %s\nRUN echo built-from-subdir > /built.txt\n' "$LAB_IMAGE" >"$work/sub/Dockerfile"
	git -C "$work" add -A
	git -C "$work" commit -qm main
	git -C "$work" branch -M main
	git -C "$work" checkout -q -b broken
	printf 'FROM %s\nRUN echo about to fail && false\n' "$LAB_IMAGE" >"$work/Dockerfile"
	git -C "$work" commit -qam broken
	git -C "$work" push -q "$repo" main broken
	# a repository whose only branch, and HEAD, is main (app.git's HEAD
	# names master, which it lacks)
	git init -q --bare "$LAB/git/only-main.git"
	git -C "$LAB/git/only-main.git" symbolic-ref HEAD refs/heads/main
	git -C "$work" push -q "$LAB/git/only-main.git" main
	git daemon --reuseaddr --listen=127.0.0.1 --port="$LAB_GIT_PORT" \
		--base-path="$LAB/git" --export-all "$LAB/git" >"$LAB/git.log" 2>&1 &
	local pid=$!
	LAB_PIDS+=($pid)
	lab_wait_until 20 lab_alive_and "$pid" git ls-remote "git://127.0.0.1:$LAB_GIT_PORT/app.git" || {
		lab_log "git daemon did not start"
		return 1
	}
	LAB_GIT_URL="git://127.0.0.1:$LAB_GIT_PORT/app.git"
	LAB_GIT_MAIN_URL="git://127.0.0.1:$LAB_GIT_PORT/only-main.git"
}

# A TLS endpoint for the engine: socat terminates mutual TLS on loopback
# and forwards to the socket, as dockerd --tlsverify would. Certificates
# from a throwaway lab CA; a second CA signs nothing we trust.
lab_tls() {
	local d="$LAB/tls" ext
	mkdir -p "$d/client" "$d/wrong"
	ext="$d/ext"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
		-subj /CN=bootstrap-lab-ca -keyout "$d/ca-key.pem" -out "$d/ca.pem" 2>/dev/null
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=127.0.0.1 \
		-keyout "$d/server-key.pem" -out "$d/server.csr" 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$ext"
	openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca-key.pem" -CAcreateserial \
		-days 1 -extfile "$ext" -out "$d/server.pem" 2>/dev/null
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=client \
		-keyout "$d/client/key.pem" -out "$d/client.csr" 2>/dev/null
	printf 'extendedKeyUsage=clientAuth\n' >"$ext"
	openssl x509 -req -in "$d/client.csr" -CA "$d/ca.pem" -CAkey "$d/ca-key.pem" -CAcreateserial \
		-days 1 -extfile "$ext" -out "$d/client/cert.pem" 2>/dev/null
	cp "$d/ca.pem" "$d/client/ca.pem"
	# the same client key and cert, but a CA that did not sign the server
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
		-subj /CN=other-ca -keyout "$d/wrong/ca-key.pem" -out "$d/wrong/ca.pem" 2>/dev/null
	cp "$d/client/cert.pem" "$d/client/key.pem" "$d/wrong/"
	socat "OPENSSL-LISTEN:$LAB_TLS_PORT,bind=127.0.0.1,reuseaddr,fork,cert=$d/server.pem,key=$d/server-key.pem,cafile=$d/ca.pem,verify=1" \
		UNIX-CONNECT:/var/run/docker.sock >"$LAB/socat.log" 2>&1 &
	local pid=$!
	LAB_PIDS+=($pid)
	lab_wait_until 10 lab_alive_and "$pid" bash -c "exec 3<>/dev/tcp/127.0.0.1/$LAB_TLS_PORT" || {
		lab_log "TLS proxy did not start"
		return 1
	}
	LAB_TLS_CERTS="$d/client"
	LAB_TLS_WRONG_CA="$d/wrong"
}

# A registry on HTTPS whose certificate a throwaway CA signed, as a
# company registry is: the CA goes where the engine looks for a
# registry's CA (certs.d/HOST:PORT/ca.crt, read at each pull, no restart)
# and is LAB_HTTPS_CA for bootstrap and curl. Loopback registries are
# "insecure" to dockerd (127.0.0.0/8 always is), so the engine speaks TLS
# to this one but would not refuse a wrong CA: the CA check of the engine
# can only be seen on a registry off loopback.
lab_https_registry() {
	local d="$LAB/reg-https-tls" ext
	mkdir -p "$d"
	ext="$d/ext"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
		-subj /CN=bootstrap-lab-registry-ca -keyout "$d/ca-key.pem" -out "$d/ca.crt" 2>/dev/null
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=127.0.0.1 \
		-keyout "$d/server-key.pem" -out "$d/server.csr" 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$ext"
	openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca-key.pem" \
		-CAcreateserial -days 1 -extfile "$ext" -out "$d/server.pem" 2>/dev/null || return 1
	LAB_HTTPS_REGISTRY="127.0.0.1:$LAB_HTTPS_REGISTRY_PORT"
	LAB_HTTPS_CA="$d/ca.crt"
	LAB_HTTPS_CERTS_DIR="$LAB_CERTS_D/$LAB_HTTPS_REGISTRY"
	mkdir -p "$LAB_HTTPS_CERTS_DIR" && cp "$d/ca.crt" "$LAB_HTTPS_CERTS_DIR/ca.crt" || return 1
	lab_registry reg-https "$LAB_HTTPS_REGISTRY_PORT" "" "$d"
}

# lab_push_index REPO TAG [--oci] OS/ARCH=IMAGE...: pushes each local IMAGE
# to the HTTPS registry as REPO:TAG-ARCH (one single-platform manifest
# each), then puts an index of them under REPO:TAG (a Docker manifest
# list, or an OCI index with --oci). Prints the index digest. The local
# tags it made are removed again (the images stay); lab_down removes the
# names of images pulled from the registry.
lab_push_index() {
	local repo=$1 tag=$2 oci= item image arch refs=() pushed=()
	shift 2
	if [ "${1:-}" = --oci ]; then
		oci=--oci
		shift
	fi
	for item in "$@"; do
		image=${item#*=}
		arch=${item%%=*}
		arch=${arch#*/}
		docker tag "$image" "$LAB_HTTPS_REGISTRY/$repo:$tag-$arch" || return 1
		pushed+=("$LAB_HTTPS_REGISTRY/$repo:$tag-$arch")
		docker push -q "$LAB_HTTPS_REGISTRY/$repo:$tag-$arch" >/dev/null || return 1
		refs+=("${item%%=*}=$tag-$arch")
	done
	docker rmi "${pushed[@]}" >/dev/null || return 1
	python3 "$(dirname "${BASH_SOURCE[0]}")/image-index.py" --cacert "$LAB_HTTPS_CA" $oci \
		"$LAB_HTTPS_REGISTRY" "$repo" "$tag" "${refs[@]}"
}

lab_up() {
	LAB=$(mktemp -d "${TMPDIR:-/tmp}/bootstrap-lab.XXXXXX")
	trap lab_down EXIT
	export DOCKER_CONFIG="$LAB/docker-config"   # never the user's own
	mkdir -p "$DOCKER_CONFIG"
	: "${LAB_REGISTRY_PORT:=$(lab_free_port)}" "${LAB_AUTH_REGISTRY_PORT:=$(lab_free_port)}"
	: "${LAB_GIT_PORT:=$(lab_free_port)}" "${LAB_TLS_PORT:=$(lab_free_port)}"
	: "${LAB_HTTPS_REGISTRY_PORT:=$(lab_free_port)}"
	lab_dockerd || return 1
	lab_busybox_image || return 1
	lab_web_image || return 1
	LAB_PASSWORD=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
	htpasswd -Bbn "$LAB_USER" "$LAB_PASSWORD" >"$LAB/htpasswd" 2>/dev/null || return 1
	lab_registry reg-open "$LAB_REGISTRY_PORT" || return 1
	lab_registry reg-auth "$LAB_AUTH_REGISTRY_PORT" "$LAB/htpasswd" || return 1
	LAB_REGISTRY="127.0.0.1:$LAB_REGISTRY_PORT"
	LAB_AUTH_REGISTRY="127.0.0.1:$LAB_AUTH_REGISTRY_PORT"
	docker tag "$LAB_IMAGE" "$LAB_REGISTRY/lab/busybox:1" || return 1
	docker push -q "$LAB_REGISTRY/lab/busybox:1" >/dev/null || return 1
	docker tag "$LAB_IMAGE" "$LAB_AUTH_REGISTRY/lab/busybox:1" || return 1
	printf '%s' "$LAB_PASSWORD" | docker login -u "$LAB_USER" --password-stdin "$LAB_AUTH_REGISTRY" >/dev/null 2>&1 || return 1
	docker push -q "$LAB_AUTH_REGISTRY/lab/busybox:1" >/dev/null || return 1
	docker logout "$LAB_AUTH_REGISTRY" >/dev/null 2>&1
	docker rmi "$LAB_REGISTRY/lab/busybox:1" "$LAB_AUTH_REGISTRY/lab/busybox:1" >/dev/null || return 1
	lab_https_registry || return 1
	lab_git || return 1
	lab_tls || return 1
	lab_log "up: engine, registries $LAB_REGISTRY, $LAB_AUTH_REGISTRY (auth) and $LAB_HTTPS_REGISTRY (https), git $LAB_GIT_URL, TLS 127.0.0.1:$LAB_TLS_PORT"
}

lab_down() {
	local pid ids
	[ -n "${LAB:-}" ] || return 0
	ids=$(docker ps -aq --filter label=io.bootstrap.test=lab 2>/dev/null || true)
	[ -n "$ids" ] && docker rm -f $ids >/dev/null 2>&1
	for pid in "${LAB_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${LAB_PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	# names of images pulled from the HTTPS registry (the images stay),
	# and only the certs.d directory this run made (the port is its own)
	if [ -n "${LAB_HTTPS_REGISTRY:-}" ]; then
		docker image ls --digests --filter "reference=$LAB_HTTPS_REGISTRY/*" \
			--format '{{.Repository}}:{{.Tag}} {{.Repository}}@{{.Digest}}' 2>/dev/null |
			tr ' ' '\n' | grep -v '<none>' | sort -u | xargs -r docker rmi >/dev/null 2>&1
	fi
	[ -n "${LAB_HTTPS_CERTS_DIR:-}" ] && rm -rf "$LAB_HTTPS_CERTS_DIR"
	LAB_HTTPS_CERTS_DIR=
	rm -rf "$LAB"
	LAB=
}
