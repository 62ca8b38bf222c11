#!/usr/bin/env bash
# tests/integration/container.sh - every container command against a real
# Docker engine, real registries (anonymous and htpasswd) and a real git
# daemon, all on loopback (tests/lab/lab.sh). Happy paths and failures.
#
#   BOOTSTRAP=./bootstrap bash tests/integration/container.sh
#
# CONTAINER_TRANSPORT=ssh runs the same commands through the SSH tunnel
# (-H ssh://root@127.0.0.1:PORT, a throwaway sshd from tests/lab/sshd.sh)
# to the same engine.
set -uo pipefail
cd "$(dirname "$0")/../.."
BOOTSTRAP=${BOOTSTRAP:-./bootstrap}
# BS_WRAP runs the binary under a checker (valgrind) when set
read -r -a WRAP <<<"${BS_WRAP:-}"
. tests/lab/lab.sh

pass=0 fail=0
ok() { pass=$((pass + 1)); printf 'ok   %s\n' "$1"; }
bad() { fail=$((fail + 1)); printf 'FAIL %s\n' "$1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/     /'; }

# run NAME: runs bootstrap with the remaining arguments, keeps out/err/rc
bs() {
	"${WRAP[@]}" "$BOOTSTRAP" "$@" >"$LAB/out" 2>"$LAB/err"
	rc=$?
	out=$(cat "$LAB/out")
	errout=$(cat "$LAB/err")
}
expect_rc() { # NAME WANT
	if [ "$rc" -eq "$2" ]; then ok "$1"; else bad "$1 (exit $rc, wanted $2)" "$out
$errout"; fi
}
expect_err() { # NAME WANT_RC PATTERN
	if [ "$rc" -eq "$2" ] && grep -qE -- "$3" <<<"$errout"; then
		ok "$1"
	else
		bad "$1 (exit $rc, wanted $2 and /$3/)" "$errout"
	fi
}
expect_out() { # NAME PATTERN
	if [ "$rc" -eq 0 ] && grep -qE -- "$2" <<<"$out"; then ok "$1"; else bad "$1 (exit $rc, wanted /$2/)" "$out
$errout"; fi
}

lab_up || { echo "lab failed to start"; echo "0 passed, 1 failed"; exit 1; }
H=(-H unix:///var/run/docker.sock)
P=bs-it-$$                  # names of this run
CREATED=()
IMAGES=()
cleanup_run() {
	for c in "${CREATED[@]}"; do docker rm -f "$c" >/dev/null 2>&1; done
	for i in "${IMAGES[@]}"; do docker rmi -f "$i" >/dev/null 2>&1; done
	lab_down
}
trap cleanup_run EXIT
if [ "${CONTAINER_TRANSPORT:-unix}" = ssh ]; then
	. tests/lab/sshd.sh
	sshd_up || { echo "sshd failed to start"; echo "0 passed, 1 failed"; exit 1; }
	export BOOTSTRAP_DIR="$LAB/bootstrap-dir" # pinned host keys of this run
	H=(-H "ssh://root@127.0.0.1:$SSHD_PORT" -i "$SSHD_KEY_ED25519")
	echo "transport: ssh://root@127.0.0.1:$SSHD_PORT"
fi

# ---- pull ---------------------------------------------------------------
IMAGES+=("$LAB_REGISTRY/lab/busybox:1" "$LAB_AUTH_REGISTRY/lab/busybox:1")
bs "${H[@]}" pull "$LAB_REGISTRY/lab/busybox:1"
expect_rc "pull from the anonymous registry" 0
docker image inspect "$LAB_REGISTRY/lab/busybox:1" >/dev/null 2>&1 && ok "pulled image is on the engine" || bad "pulled image is on the engine"

bs "${H[@]}" pull "$LAB_AUTH_REGISTRY/lab/busybox:1"
expect_err "pull without credentials is refused, not anonymous" 1 "authentication failed for $LAB_AUTH_REGISTRY"

auth=$(printf '%s:%s' "$LAB_USER" "wrong-$LAB_PASSWORD" | base64 -w0)
printf '{"auths":{"%s":{"auth":"%s"}}}' "$LAB_AUTH_REGISTRY" "$auth" >"$DOCKER_CONFIG/config.json"
bs "${H[@]}" pull "$LAB_AUTH_REGISTRY/lab/busybox:1"
expect_err "wrong password: authentication failed" 1 "authentication failed for $LAB_AUTH_REGISTRY"
grep -q "wrong-$LAB_PASSWORD" "$LAB/out" "$LAB/err" && bad "password never printed" || ok "password never printed"

printf 'version: 1\nproject: creds\nnodes: [{name: a}]\nregistries:\n  - {server: "%s", username: "%s", password: "${LAB_REGISTRY_PASSWORD}"}\n' \
	"$LAB_AUTH_REGISTRY" "$LAB_USER" >"$LAB/creds.yaml"
docker rmi "$LAB_AUTH_REGISTRY/lab/busybox:1" >/dev/null 2>&1
LAB_REGISTRY_PASSWORD=$LAB_PASSWORD bs "${H[@]}" -r "$LAB/creds.yaml" pull "$LAB_AUTH_REGISTRY/lab/busybox:1"
expect_rc "pull with credentials from the recipe's registries:" 0
LAB_REGISTRY_PASSWORD=wrong-$LAB_PASSWORD bs "${H[@]}" -r "$LAB/creds.yaml" pull "$LAB_AUTH_REGISTRY/lab/busybox:1"
expect_err "a wrong recipe password: authentication failed" 1 "authentication failed for $LAB_AUTH_REGISTRY"
bs "${H[@]}" -r "$LAB/creds.yaml" pull "$LAB_AUTH_REGISTRY/lab/busybox:1"
expect_err "a recipe whose password variable is unset is refused first" 65 "LAB_REGISTRY_PASSWORD is not set"
docker rmi "$LAB_AUTH_REGISTRY/lab/busybox:1" >/dev/null 2>&1
auth=$(printf '%s:%s' "$LAB_USER" "$LAB_PASSWORD" | base64 -w0)
printf '{"auths":{"http://%s":{"auth":"%s"}}}' "$LAB_AUTH_REGISTRY" "$auth" >"$DOCKER_CONFIG/config.json"
bs "${H[@]}" pull "$LAB_AUTH_REGISTRY/lab/busybox:1"
expect_rc "pull with credentials from config.json" 0
rm -f "$DOCKER_CONFIG/config.json"

# ---- registry: tags, inspect, repos, with no engine (none answers there) -----
NOENG=(-H unix:///nonexistent.sock)
printf 'FROM %s\nLABEL org.example.tier=web\n' "$LAB_IMAGE" | docker build -q -t "$LAB_REGISTRY/lab/busybox:lbl" - >/dev/null &&
	docker push -q "$LAB_REGISTRY/lab/busybox:lbl" >/dev/null && docker rmi "$LAB_REGISTRY/lab/busybox:lbl" >/dev/null ||
	bad "registry: pushing a labelled image"
index=$(python3 tests/lab/image-index.py "$LAB_REGISTRY" lab/busybox multi linux/amd64=1 linux/arm64=lbl) ||
	bad "registry: putting an index" "$index"
bs "${NOENG[@]}" registry tags "$LAB_REGISTRY/lab/busybox"
[ $rc -eq 0 ] && [ "$(sort <<<"$out" | tr '\n' ' ')" = "1 lbl multi " ] &&
	ok "registry tags: every tag, no engine asked" || bad "registry tags" "rc=$rc $out $errout"
manifest() { curl -s -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' "http://$LAB_REGISTRY/v2/lab/busybox/manifests/$1"; }
want_digest=$(curl -sI -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' "http://$LAB_REGISTRY/v2/lab/busybox/manifests/lbl" |
	tr -d '\r' | sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p')
want_size=$(manifest lbl | python3 -c 'import json,sys; m=json.load(sys.stdin); print(m["config"]["size"] + sum(l["size"] for l in m["layers"]))')
bs "${NOENG[@]}" --json registry inspect "$LAB_REGISTRY/lab/busybox:lbl"
python3 - "$want_digest" "$want_size" "$LAB/out" <<'PY' && ok "registry inspect: digest, media type, compressed size, created and labels of a tag" || bad "registry inspect" "$out $errout"
import json, sys
d = json.load(open(sys.argv[3]))
assert d["digest"] == sys.argv[1], d
assert d["media_type"] == "application/vnd.docker.distribution.manifest.v2+json", d
assert d["size"] == int(sys.argv[2]), d
assert d["labels"] == {"org.example.tier": "web"}, d
assert d["created"].startswith("20") and d["platform"] == "linux/amd64" and d["platforms"] == [], d
PY
bs "${NOENG[@]}" registry inspect "$LAB_REGISTRY/lab/busybox:multi"
[ $rc -eq 0 ] && grep -q "^digest      $index$" <<<"$out" && grep -q "^platforms   linux/amd64 linux/arm64$" <<<"$out" &&
	grep -q "^media type  application/vnd.docker.distribution.manifest.list.v2+json$" <<<"$out" &&
	grep -qE "^size        [0-9.]+(B|KiB|MiB) \(compressed\)$" <<<"$out" &&
	ok "registry inspect of an index: its digest, its platforms, the figures of this machine's" ||
	bad "registry inspect of an index" "rc=$rc index=$index $out $errout"
bs "${NOENG[@]}" registry repos "$LAB_REGISTRY"
expect_out "registry repos: the catalog" "^lab/busybox$"
bs "${NOENG[@]}" registry tags "$LAB_AUTH_REGISTRY/lab/busybox"
expect_err "registry tags without credentials: refused, says how to give them" 1 "authentication failed for $LAB_AUTH_REGISTRY .*docker login"
auth=$(printf '%s:%s' "$LAB_USER" "$LAB_PASSWORD" | base64 -w0)
printf '{"auths":{"%s":{"auth":"%s"}}}' "$LAB_AUTH_REGISTRY" "$auth" >"$DOCKER_CONFIG/config.json"
bs "${NOENG[@]}" --json registry tags "$LAB_AUTH_REGISTRY/lab/busybox"
[ $rc -eq 0 ] && [ "$out" = '["1"]' ] && ok "registry tags --json with config.json's credentials: one array" || bad "registry tags with credentials" "rc=$rc $out $errout"
rm -f "$DOCKER_CONFIG/config.json"
bs "${NOENG[@]}" registry inspect "$LAB_REGISTRY/lab/busybox:nope"
expect_err "registry inspect of a missing tag" 1 "registry $LAB_REGISTRY has no lab/busybox:nope"

bs "${H[@]}" pull "$LAB_REGISTRY/lab/missing:1"
expect_err "missing image: clear not-found" 1 "no such image or tag"
bs "${H[@]}" pull "$LAB_REGISTRY/lab/busybox:nope"
expect_err "missing tag: clear not-found" 1 "no such image or tag"
bs "${H[@]}" pull "127.0.0.1:5999/lab/busybox:1"
expect_err "unreachable registry: the engine's reason" 1 "pulling 127.0.0.1:5999/lab/busybox:1: .*(connection refused|connect)"
bs "${H[@]}" pull "Bad/Name"
expect_err "malformed reference is a usage error, said before the engine is asked" 64 "'Bad/Name' is not a valid image reference: repository names are lowercase"

# ---- build ----------------------------------------------------------------
IMAGES+=("$P/app:1" "$P/sub:1" "$P/broken:1" "$P/gone:1")
bs "${H[@]}" build "$P/app:1" "$LAB_GIT_URL#main"
expect_out "build from a git URL" "built $P/app:1"
docker run --rm "$P/app:1" 2>/dev/null | grep -q built-from-git && ok "built image runs" || bad "built image runs"
bs "${H[@]}" build "$P/sub:1" "$LAB_GIT_URL#main:sub"
expect_out "build from #ref:subdir" "built $P/sub:1"
bs "${H[@]}" build "$P/broken:1" "$LAB_GIT_URL#broken"
expect_err "a failing RUN fails the build with its message" 1 "returned a non-zero code"
grep -q "about to fail" <<<"$out" && ok "build output streamed before the failure" || bad "build output streamed before the failure" "$out"
# without #ref: the branch the repository's HEAD names, asked of the server
IMAGES+=("$P/dflt:1" "$P/nohead:1")
bs "${H[@]}" build "$P/dflt:1" "$LAB_GIT_MAIN_URL"
expect_out "build without #ref of a repository whose only branch is main" "built $P/dflt:1"
grep -q "default branch main" <<<"$out" && docker run --rm "$P/dflt:1" 2>/dev/null | grep -q built-from-git &&
	ok "... it says it builds the default branch main, and the image runs" || bad "default branch build" "$out"
bs "${H[@]}" build "$P/nohead:1" "$LAB_GIT_URL"
expect_err "a repository whose HEAD names a missing master: the error names the ref and the fix" 1 \
	"branch master, which this repository lacks; name its branch: $LAB_GIT_URL#main"
bs "${H[@]}" build "$P/gone:1" "git://127.0.0.1:9/nothing.git"
expect_err "unreachable git remote: the engine's whole reason, on one line" 1 "building $P/gone:1 from git://127.0.0.1:9/nothing.git: .*unable to connect to 127.0.0.1: .*Connection refused"
bs "${H[@]}" build "$P/gone:1" "http://deploy:tok-$$-en@127.0.0.1:9/nothing.git"
expect_err "a git URL's credentials are never shown" 1 "from http://\*\*\*@127.0.0.1:9/nothing.git"
grep -q "tok-$$-en" "$LAB/out" "$LAB/err" && bad "git token never printed" || ok "git token never printed"
bs "${H[@]}" build "$P/x:1"
expect_rc "build without URL is a usage error" 64

# ---- build from a local directory -----------------------------------------
# the context honours .dockerignore (a directory excluded with one file
# re-included, *.md but README.md), --target picks a stage, -f another
# Dockerfile; an unchanged context rebuilds to the same image, a changed
# file to a new one
ctx=$LAB/context
mkdir -p "$ctx/vendor" "$ctx/docker"
printf 'FROM %s AS base\nARG GREETING=none\nCOPY . /ctx/\nRUN echo "$GREETING" >/greeting\nFROM base AS dev\nRUN echo dev >/stage\nFROM base AS prod\nRUN echo prod >/stage\n' \
	"$LAB_IMAGE" >"$ctx/Dockerfile"
printf 'FROM %s\nCOPY app.txt /other\n' "$LAB_IMAGE" >"$ctx/docker/Dockerfile.other"
printf '# local files\n*.md\n!README.md\nvendor\n!vendor/keep.txt\n/secret.txt\n' >"$ctx/.dockerignore"
echo readme >"$ctx/README.md"
echo notes >"$ctx/NOTES.md"
echo secret >"$ctx/secret.txt"
echo kept >"$ctx/vendor/keep.txt"
echo dropped >"$ctx/vendor/drop.txt"
echo one >"$ctx/app.txt"
IMAGES+=("$P/local:1" "$P/local:dev" "$P/local:other")
in_image() { docker run --rm "$1" sh -c "$2" 2>&1; }
image_id() { docker image inspect -f '{{.Id}}' "$1" 2>/dev/null; }
bs "${H[@]}" build -t "$P/local:1" --build-arg GREETING=hi "$ctx"
expect_out "build from a local directory" "built $P/local:1"
files=$(in_image "$P/local:1" 'cd /ctx && find . -type f | sort | tr "\n" " "')
[ "$files" = "./.dockerignore ./Dockerfile ./README.md ./app.txt ./docker/Dockerfile.other ./vendor/keep.txt " ] &&
	ok "... .dockerignore: excluded files absent, README.md and vendor/keep.txt re-included" ||
	bad ".dockerignore honoured in the context" "$files"
[ "$(in_image "$P/local:1" 'cat /stage /greeting')" = "prod
hi" ] && ok "... the last stage by default, --build-arg passed" || bad "default stage and build arg" "$(in_image "$P/local:1" 'cat /stage /greeting')"
want_hash=$(docker image inspect -f '{{index .Config.Labels "io.bootstrap.context-hash"}}' "$P/local:1")
[[ $want_hash =~ ^[0-9a-f]{64}$ ]] && ok "... labelled with the context hash" || bad "context hash label" "$want_hash"
bs "${H[@]}" build -t "$P/local:dev" --target dev "$ctx"
[ "$rc" -eq 0 ] && [ "$(in_image "$P/local:dev" 'cat /stage')" = dev ] && ok "--target picks a stage" ||
	bad "--target picks a stage" "$errout"
bs "${H[@]}" build -t "$P/local:other" -f docker/Dockerfile.other "$ctx"
[ "$rc" -eq 0 ] && [ "$(in_image "$P/local:other" 'cat /other')" = one ] && ok "-f names another Dockerfile in the context" ||
	bad "-f names another Dockerfile" "$errout"
first=$(image_id "$P/local:1")
touch -d '2001-01-01' "$ctx/app.txt"
bs "${H[@]}" build -t "$P/local:1" --build-arg GREETING=hi "$ctx"
[ "$rc" -eq 0 ] && [ "$(image_id "$P/local:1")" = "$first" ] &&
	ok "an unchanged context (only an mtime changed) rebuilds to the same image" || bad "unchanged context keeps the image id" "$errout"
echo two >"$ctx/app.txt"
bs "${H[@]}" build -t "$P/local:1" --build-arg GREETING=hi "$ctx"
[ "$rc" -eq 0 ] && [ -n "$first" ] && [ "$(image_id "$P/local:1")" != "$first" ] &&
	[ "$(docker image inspect -f '{{index .Config.Labels "io.bootstrap.context-hash"}}' "$P/local:1")" != "$want_hash" ] &&
	ok "a changed file gives a new image and a new context hash" || bad "changed context gives a new image" "$errout"
echo more >"$ctx/NOTES.md"
before=$(image_id "$P/local:1")
bs "${H[@]}" build -t "$P/local:1" --build-arg GREETING=hi "$ctx"
[ "$rc" -eq 0 ] && [ "$(image_id "$P/local:1")" = "$before" ] &&
	ok "a change to an excluded file changes nothing" || bad "excluded file change keeps the image" "$errout"
bs "${H[@]}" build -t "$P/local:1" "$LAB/no-such-dir"
expect_err "a missing context directory names it" 1 "build context $LAB/no-such-dir: .*name a directory"
bs "${H[@]}" build -t "$P/local:1" -f nope/Dockerfile "$ctx"
expect_err "a missing Dockerfile names it" 1 "no Dockerfile nope/Dockerfile"
bs "${H[@]}" build --target dev "$P/x:1" "$ctx"
expect_rc "--target without -t: the NAME DIR form works too" 0
IMAGES+=("$P/x:1")

# ---- create, HTTP through a published port ------------------------------
port=$(( 20000 + RANDOM % 20000 ))
web=$P-web
CREATED+=("$web")
bs "${H[@]}" create "$LAB_WEB_IMAGE" "$web" -e GREETING=hello-from-bootstrap -e "MODE=a b" \
	-p "127.0.0.1:$port:8080" --memory 64m
expect_out "create with env and a loopback port" "$web started"
answered=0
for _ in $(seq 1 50); do
	if curl -sf --max-time 2 "http://127.0.0.1:$port/" | grep -q hello-from-bootstrap; then answered=1; break; fi
	sleep 0.1
done
[ $answered -eq 1 ] && ok "HTTP answers through the published port" || bad "HTTP answers through the published port"

bs "${H[@]}" create "$LAB_WEB_IMAGE" "$web"
expect_err "name conflict (409) is a clear message" 1 "container name $web is already in use"
ranged=$P-ranged
CREATED+=("$ranged")
# 11 ports in a row, free now, below the kernel's ephemeral range (an
# outgoing connection of anything on the machine may take one there)
rport=$(python3 -c '
import random, socket
lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
for _ in range(200):
    base = random.randrange(20000, lo - 20)
    held = []
    try:
        for p in range(base, base + 11):
            for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                s = socket.socket(socket.AF_INET, kind)
                held.append(s)
                s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        for s in held:
            s.close()
    print(base)
    break
')
bs "${H[@]}" create "$LAB_WEB_IMAGE" "$ranged" -p "127.0.0.1:$rport-$((rport + 7)):9000-9007" \
	-p "127.0.0.1:$((rport + 8)):8080" -p "127.0.0.1:$((rport + 9)):9100" -p "127.0.0.1:$((rport + 10)):9101/udp" \
	-e "TOKEN=never-shown-$$"
expect_out "create with a port range and more ports" "$ranged started"
bound=$(docker inspect -f '{{range $p, $b := .HostConfig.PortBindings}}{{$p}}={{(index $b 0).HostPort}} {{end}}' "$ranged" 2>/dev/null | wc -w)
[ "$bound" = 11 ] && ok "all 11 published ports bound" || bad "all 11 published ports bound" "$bound"
answered=0
for _ in $(seq 1 50); do
	curl -sf --max-time 2 "http://127.0.0.1:$((rport + 8))/" >/dev/null && { answered=1; break; }
	sleep 0.1
done
[ $answered -eq 1 ] && ok "the port after a range answers" || bad "the port after a range answers"
bs "${H[@]}" create "$LAB_WEB_IMAGE" "$ranged" -e "TOKEN=never-shown-$$"
expect_err "a failing create keeps -e values out of its message" 1 "already in use"
grep -q "never-shown" "$LAB/out" "$LAB/err" && bad "-e values never printed" || ok "-e values never printed"
docker rm -f "$ranged" >/dev/null 2>&1
bs "${H[@]}" create "$LAB_IMAGE" "$P-nope" -p "127.0.0.1:99999:80"
expect_err "bad -p is a usage error" 64 "not a port mapping|ports are 1 to 65535"
bs "${H[@]}" create "$LAB_REGISTRY/lab/nothing:1" "$P-noimage"
expect_err "create with an image nowhere" 1 "no such image or tag"
docker inspect "$P-noimage" >/dev/null 2>&1 && bad "nothing half-made after a failed create" || ok "nothing half-made after a failed create"

secure=$(docker inspect -f '{{json .HostConfig.SecurityOpt}} {{.HostConfig.PidsLimit}} {{.HostConfig.RestartPolicy.Name}} {{.HostConfig.Privileged}} {{index .HostConfig.LogConfig.Config "max-size"}} {{.HostConfig.Memory}}' "$web")
[ "$secure" = '["no-new-privileges:true"] 512 unless-stopped false 10m 67108864' ] && ok "secure defaults applied" || bad "secure defaults applied" "$secure"

# a command that exits at once is not "started": create watches a second
CREATED+=("$P-crash" "$P-job")
bs "${H[@]}" create "$LAB_IMAGE" "$P-crash" -- sh -c 'echo boom; exit 3'
expect_err "create of a command that exits at once: exit 1, the restart loop and its logs named" 1 \
	"$P-crash was created, but its command exited at once (\(exit code 3\) and its restart policy keeps restarting it|and its restart policy restarted it [0-9]+ times? within 1 s): see bootstrap logs $P-crash"
grep -q started <<<"$out" && bad "... and not called started" "$out" || ok "... and not called started"
bs "${H[@]}" --json create --restart no "$LAB_IMAGE" "$P-job" -- true
python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["state"] == "finished", d' <"$LAB/out" && [ $rc -eq 0 ] &&
	ok "create of a job that ends well with --restart no: exit 0, state finished" || bad "create of a job" "rc=$rc $out $errout"

# ---- list, images, inspect ----------------------------------------------
bs "${H[@]}" list
expect_out "list shows the container" "$web +$LAB_WEB_IMAGE +running"
bs "${H[@]}" list --json
if [ $rc -eq 0 ] && python3 -c 'import json,sys; d=json.load(sys.stdin); c=[x for x in d if x["name"]==sys.argv[1]][0]; assert c["state"]=="running" and c["ports"][0]["host_port"]==int(sys.argv[2])' "$web" "$port" <"$LAB/out"; then
	ok "list --json"
else
	bad "list --json" "$out"
fi
bs "${H[@]}" images
expect_out "images lists the lab image" "$LAB_WEB_IMAGE"
bs "${H[@]}" images --json
python3 -c 'import json,sys; d=json.load(sys.stdin); assert any("local/web:2" in i["tags"] for i in d)' <"$LAB/out" && ok "images --json" || bad "images --json" "$out"
bs "${H[@]}" "$web/inspect"
python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["Config"]["Env"] and "GREETING=hello-from-bootstrap" in d["Config"]["Env"]' <"$LAB/out" && ok "inspect prints the engine's JSON" || bad "inspect prints the engine's JSON" "$errout"
bs "${H[@]}" "$P-missing/inspect"
expect_err "inspect of a missing container" 1 "no container named $P-missing"

# ---- logs, top, diff -----------------------------------------------------
"${WRAP[@]}" "$BOOTSTRAP" "${H[@]}" "$web/logs" >"$LAB/both" 2>&1
rc=$?
[ $rc -eq 0 ] && [ "$(head -n 3 "$LAB/both" | tr '\n' ' ')" = "out-1 err-1 out-2 " ] && ok "logs: both streams, in order" || bad "logs: both streams, in order" "$(cat "$LAB/both")"
bs "${H[@]}" "$web/logs"
[ "$out" = "out-1
out-2" ] && [ "$errout" = "err-1" ] && ok "logs: stdout and stderr kept apart" || bad "logs: stdout and stderr kept apart" "out=$out err=$errout"
bs "${H[@]}" "$web/logs" --tail 1
[ "$out$errout" = "out-2" ] && ok "logs --tail 1" || bad "logs --tail 1" "$out|$errout"
bs "${H[@]}" "$web/logs" --timestamps --tail 1
grep -qE '^20[0-9]{2}-[0-9]{2}-[0-9]{2}T.* out-2$' <<<"$out" && ok "logs --timestamps" || bad "logs --timestamps" "$out"
"$BOOTSTRAP" "${H[@]}" "$web/logs" --follow >"$LAB/follow" 2>&1 &
fpid=$!
# Ctrl-C once the stream is up: its last line (out-2) came through it
end=$((SECONDS + 30))
until grep -q out-2 "$LAB/follow" 2>/dev/null; do
	if ! kill -0 $fpid 2>/dev/null || [ $SECONDS -ge $end ]; then
		bad "logs --follow: out-2 came through the stream within 30 s, the run still going" "$(cat "$LAB/follow")"
		break
	fi
	sleep 0.1
done
kill -INT $fpid
wait $fpid
frc=$?
[ $frc -eq 130 ] && grep -q out-2 "$LAB/follow" && ! grep -q error "$LAB/follow" && ok "logs --follow stops cleanly on Ctrl-C" || bad "logs --follow stops cleanly on Ctrl-C (exit $frc)" "$(cat "$LAB/follow")"
bs "${H[@]}" "$web/top"
expect_out "top lists httpd" "httpd -f -p 8080"
head -n 1 <<<"$out" | grep -q $'%CPU\t%MEM\tRSS' && ok "top has %CPU, %MEM and RSS columns" || bad "top columns" "$out"
bs "${H[@]}" --json top "$web" -- -eo pid,rss,args
python3 -c 'import json,sys; d=json.load(sys.stdin); assert set(d[0]) == {"PID","RSS","COMMAND"}, d; assert any("httpd" in p["COMMAND"] for p in d), d' <"$LAB/out" &&
	ok "top NAME -- -eo pid,rss,args: ps options passed through; --json: one array" || bad "top with ps options" "$out $errout"
bs "${H[@]}" "$web/diff"
expect_out "diff shows the added /www" "^A /www"
bs "${H[@]}" --json diff "$web"
python3 -c 'import json,sys; d=json.load(sys.stdin); assert {"kind":"A","path":"/www/index.html"} in d, d' <"$LAB/out" &&
	ok "diff --json: one array of {kind, path}" || bad "diff --json" "$out $errout"
bs "${H[@]}" --json "$web/logs" --tail 2
python3 -c '
import json,sys
lines=[json.loads(l) for l in sys.stdin]
assert lines == [{"stream":"stderr","text":"err-1\n"},{"stream":"stdout","text":"out-2\n"}], lines' <"$LAB/out" &&
	ok "logs --json: one object per line, with its stream" || bad "logs --json" "$out $errout"

# ---- stats: the engine's sample, one or a stream ------------------------------
# (this machine's host engine reads no figures from its cgroups: "no metrics
# received"; pipeline.sh checks real figures on a node's engine)
bs "${H[@]}" "$web/stats"
expect_out "stats: a table with the container's row" "^$web +(-|[0-9.]+%) +"
head -n 1 <<<"$out" | grep -q "CPU %.*MEM USED / LIMIT.*NET RX / TX.*BLOCK READ / WRITE.*PIDS" &&
	ok "... under its header" || bad "stats header" "$out"
bs "${H[@]}" --json stats "$web" "$P-missing"
python3 - "$web" "$LAB/out" <<'PY' && ok "stats --json NAME NAME: one object for the one, in its shape" || bad "stats --json" "$out $errout"
import json, sys
d = json.load(open(sys.argv[2]))
assert d["name"] == sys.argv[1], d
assert set(d) == {"name", "cpu_percent", "online_cpus", "memory", "net", "block", "pids"}, d
assert set(d["memory"]) == {"used", "limit", "percent"} and set(d["net"]) == {"rx", "tx"}, d
PY
expect_err "... and the missing one named, exit 1" 1 "no container named $P-missing"
"$BOOTSTRAP" "${H[@]}" --json stats --follow "$web" >"$LAB/follow" 2>&1 &
fpid=$!
end=$((SECONDS + 30))
until [ "$(grep -c '"cpu_percent"' "$LAB/follow" 2>/dev/null)" -ge 2 ]; do
	if ! kill -0 $fpid 2>/dev/null || [ $SECONDS -ge $end ]; then
		bad "stats --follow: two samples within 30 s" "$(cat "$LAB/follow")"
		break
	fi
	sleep 0.2
done
kill -INT $fpid
wait $fpid
frc=$?
[ $frc -eq 130 ] && [ "$(grep -c '"cpu_percent"' "$LAB/follow")" -ge 2 ] && ! grep -q '"error":' "$LAB/follow" &&
	ok "stats --follow streams samples, stops cleanly on Ctrl-C" || bad "stats --follow (exit $frc)" "$(cat "$LAB/follow")"

# ---- stop, start, restart, remove ----------------------------------------
bs "${H[@]}" "$web/stop"
expect_out "stop" "$web stopped"
bs "${H[@]}" "$web/stop"
expect_out "stop of a stopped container (304) is fine" "was already stopped"
bs "${H[@]}" "$web/start"
expect_out "start" "$web started"
bs "${H[@]}" "$web/start"
expect_out "start of a running container (304) is fine" "was already running"
bs "${H[@]}" "$web/restart"
expect_out "restart" "$web restarted"
bs "${H[@]}" "$P-missing/start"
expect_err "start of a missing container" 1 "no container named $P-missing"

# ---- docker's order and aliases: OP NAME..., -t, ps, rm NAME... -----------
# (the restart above begins its output again: out-2 comes 0.4 s after it)
for _ in $(seq 1 50); do
	bs "${H[@]}" logs --tail 1 "$web"
	[ "$out$errout" = "out-2" ] && break
	sleep 0.1
done
[ $rc -eq 0 ] && [ "$out$errout" = "out-2" ] && ok "logs NAME --tail 1, as docker has it" || bad "logs NAME" "$rc $out|$errout"
bs "${H[@]}" stop -t 0 "$web"
state=$(docker inspect -f '{{.State.Status}}' "$web")
expect_out "stop -t 0 NAME" "^$web stopped$"
[ "$state" = exited ] && ok "... the container is stopped" || bad "stop -t 0 NAME: state" "$state"
bs "${H[@]}" --json start "$web" "$P-missing"
state=$(docker inspect -f '{{.State.Status}}' "$web")
[ $rc -eq 1 ] && [ "$out" = '{"name":"'"$web"'","action":"start","changed":true}' ] &&
	grep -q "no container named $P-missing" <<<"$errout" && [ "$state" = running ] &&
	ok "start NAME NAME --json: a result object for the one started, the missing one's error, exit 1" ||
	bad "start NAME NAME --json" "rc=$rc state=$state out=$out err=$errout"
bs "${H[@]}" --json restart -t 1 "$web"
[ $rc -eq 0 ] && [ "$out" = '{"name":"'"$web"'","action":"restart","changed":true}' ] &&
	ok "restart -t 1 NAME --json: a result object" || bad "restart --json" "rc=$rc out=$out err=$errout"
bs "${H[@]}" ps
expect_out "ps lists like list" "$web +$LAB_WEB_IMAGE +running"
bs "${H[@]}" rm -t 0 "$P-missing" "$web"
expect_err "rm NAME NAME: the missing one named, exit 1" 1 "no container named $P-missing"
grep -qx "$web removed" <<<"$out" && ok "... and the other removed all the same" || bad "rm NAME NAME: the other removed" "$out"
docker inspect "$web" >/dev/null 2>&1 && bad "removed container is gone" || ok "removed container is gone"
bs "${H[@]}" remove "$web"
expect_err "remove of a missing container" 1 "no container named $web"

# ---- engines -------------------------------------------------------------
bs -H unix:///nonexistent.sock list
expect_err "unreachable engine socket" 1 "cannot connect to the Docker engine at unix:///nonexistent.sock"
bs -H tcp://127.0.0.1:2375 list
expect_err "plaintext tcp is refused" 64 "port 2375 is Docker's plaintext API"
DOCKER_CERT_PATH="$LAB/none" bs -H tcp://127.0.0.1:2376 list
expect_err "tcp without TLS material names the fix" 64 "needs TLS client material"
DOCKER_HOST=unix:///var/run/docker.sock bs list
expect_rc "DOCKER_HOST is honoured" 0
DOCKER_CERT_PATH="$LAB_TLS_CERTS" bs -H "tcp://127.0.0.1:$LAB_TLS_PORT" images
expect_out "tcp with mutual TLS (CA verified, client certificate)" "$LAB_WEB_IMAGE"
DOCKER_CERT_PATH="$LAB_TLS_WRONG_CA" bs -H "tcp://127.0.0.1:$LAB_TLS_PORT" list
expect_err "a server certificate from another CA is refused" 1 "certificate|SSL"
DOCKER_CERT_PATH="$LAB_TLS_WRONG_CA" bs --tls-skip-verify -H "tcp://127.0.0.1:$LAB_TLS_PORT" list
expect_rc "--tls-skip-verify, asked for by name, connects anyway" 0

# ---- create --domain: the engine's domain proxy --------------------------------
# Caddy from Debian's package (scripts/proxy-image.sh), on this engine's ports
# 80 and 443: the routes come from the containers' labels, so remove takes
# one away, and the last one takes the proxy with it.
if ss -Hltn 'sport = :80 or sport = :443' 2>/dev/null | grep -q .; then
	bad "create --domain: ports 80 and 443 of this host are free for the domain proxy" \
		"$(ss -ltnp 'sport = :80 or sport = :443' 2>&1)"
elif ! bash scripts/proxy-image.sh >"$LAB/proxy-image" 2>&1; then
	bad "the proxy image local/caddy:2 (scripts/proxy-image.sh)" "$(cat "$LAB/proxy-image")"
else
	D1=$P-d1 D2=$P-d2
	CREATED+=("$D1" "$D2" bootstrap-proxy)
	PX=(--proxy-image local/caddy:2)
	bs "${H[@]}" create "$LAB_IMAGE" "$D1" --domain d1.example.test --domain-tls internal "${PX[@]}" -- sh -c 'echo one >/www/index.html; exec httpd -f -p 8080 -h /www'
	expect_err "create --domain without --expose or one -p port says which port" 64 "Give --expose PORT"
	bs "${H[@]}" create "$LAB_IMAGE" "$D1" --domain d1.example.test --expose 8080 --domain-tls internal "${PX[@]}" -- sh -c 'echo one >/www/index.html; exec httpd -f -p 8080 -h /www'
	expect_out "create --domain: the container, its route and the proxy" "d1.example.test routed to it"
	bs "${H[@]}" create "$LAB_IMAGE" "$D2" --domain d1.example.test --expose 8080 "${PX[@]}" -- sh
	expect_err "a domain routed already is refused, naming its container" 1 "routed to container $D1 already"
	# a proxy stopped by hand starts again with its routes on the next create
	docker stop bootstrap-proxy >/dev/null 2>&1
	# labels anyone can set (an image's, say) route nothing: only create's count
	CREATED+=("$P-forged")
	docker run -d --name "$P-forged" --label io.bootstrap.domain=evil.example.test \
		--label io.bootstrap.expose=80 "$LAB_IMAGE" sleep 300 >/dev/null
	bs "${H[@]}" --json create "$LAB_IMAGE" "$D2" -p 127.0.0.1::8080 --domain d2.example.test "${PX[@]}" -- sh -c 'echo two >/www/index.html; exec httpd -f -p 8080 -h /www'
	expect_out "create --domain --json, the port taken from -p" '"domain":"d2.example.test"'
	conf=$(docker exec bootstrap-proxy cat /etc/caddy/Caddyfile 2>&1)
	grep -q "d2.example.test" <<<"$conf" && ! grep -q "evil" <<<"$conf" &&
		ok "the routes: both created domains, not a forged label's" || bad "routes from create only" "$conf"
	bs "${H[@]}" create "$LAB_IMAGE" bootstrap-proxy -- sh
	expect_err "the proxy's name is refused for a container" 64 "name of the engine's domain proxy"
	docker exec bootstrap-proxy cat /data/caddy/pki/authorities/local/root.crt >"$LAB/proxy-root.crt" 2>/dev/null
	fetch() { # DOMAIN: the body over HTTPS, verified with the proxy's own CA
		local i body
		for i in $(seq 1 20); do
			body=$(curl -s --max-time 5 --cacert "$LAB/proxy-root.crt" --resolve "$1:443:127.0.0.1" "https://$1/") && { echo "$body"; return 0; }
			sleep 0.5
		done
		return 1
	}
	[ "$(fetch d1.example.test)" = one ] && ok "d1.example.test answers through the proxy (TLS from its CA; the stopped proxy started again)" || bad "d1.example.test answers one" "$(docker logs bootstrap-proxy 2>&1 | tail -5)"
	[ "$(fetch d2.example.test)" = two ] && ok "d2.example.test answers from the second container" || bad "d2.example.test answers two"
	# a base domain: every create gets NAME.BASE, its URL printed
	D3=$P-d3 D4=$P-d4 D5=$P-d5
	CREATED+=("$D3" "$D4" "$D5")
	BOOTSTRAP_DOMAIN_BASE=apps.example.test bs "${H[@]}" create "$LAB_IMAGE" "$D3" --expose 8080 "${PX[@]}" -- sh -c 'echo three >/www/index.html; exec httpd -f -p 8080 -h /www'
	expect_out "BOOTSTRAP_DOMAIN_BASE: create gets NAME.BASE, its URL printed" "$D3.apps.example.test routed to it: https://$D3.apps.example.test/"
	[ "$(fetch "$D3.apps.example.test")" = three ] && ok "... and it answers there" || bad "$D3.apps.example.test answers three"
	bs "${H[@]}" --json create --domain-base apps.example.test --no-domain "$LAB_IMAGE" "$D4" -- sleep 300
	expect_err "--no-domain with --domain-base: a contradiction, exit 64" 64 "contradict"
	BOOTSTRAP_DOMAIN_BASE=apps.example.test bs "${H[@]}" --json create --no-domain "$LAB_IMAGE" "$D4" -- sleep 300
	[ $rc -eq 0 ] && ! grep -q domain <<<"$out" && [ -z "$(docker inspect -f '{{index .Config.Labels "io.bootstrap.domain"}}' "$D4")" ] &&
		ok "--no-domain: no domain whatever the base" || bad "--no-domain" "rc=$rc $out $errout"
	bs "${H[@]}" --domain-base apps.example.test create "$LAB_IMAGE" "$D5" -- sleep 300
	[ $rc -eq 0 ] && grep -q "no domain for $D5: which container port serves $D5.apps.example.test" <<<"$errout" &&
		ok "--domain-base and no port to route to: created, with a note instead of a domain" || bad "base without a port" "rc=$rc $out $errout"
	bs "${H[@]}" remove "$D3" "$D4" "$D5"
	expect_rc "... removed again" 0
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --resolve d1.example.test:80:127.0.0.1 http://d1.example.test/)
	[ "${code:0:1}" = 3 ] && ok "plain HTTP redirects to HTTPS ($code)" || bad "plain HTTP redirects (got $code)"
	proxy_id=$(docker inspect -f '{{.Id}}' bootstrap-proxy 2>/dev/null)
	bs "${H[@]}" remove "$D1"
	expect_rc "remove takes a routed container" 0
	# the positive control first: the proxy is up and answers d2 (a proxy
	# that is down would pass the refusal below too)
	if [ "$(fetch d2.example.test)" = two ]; then
		body=$(curl -s --max-time 5 --cacert "$LAB/proxy-root.crt" --resolve d1.example.test:443:127.0.0.1 https://d1.example.test/)
		[ "$body" != one ] && ok "its route is gone (the proxy answers d2.example.test)" ||
			bad "d1.example.test no longer answers one" "$body"
	else
		bad "its route is gone: the proxy answers d2.example.test first (the control)" "$(docker logs bootstrap-proxy 2>&1 | tail -5)"
	fi
	[ "$(docker inspect -f '{{.Id}}' bootstrap-proxy 2>/dev/null)" = "$proxy_id" ] && ok "the proxy was reloaded, not replaced" || bad "the proxy kept its container"
	[ "$(fetch d2.example.test)" = two ] && ok "the other route stays" || bad "d2.example.test still answers"
	bs "${H[@]}" remove "$D2"
	expect_out "the last route takes the proxy with it" "bootstrap-proxy removed"
	docker inspect bootstrap-proxy >/dev/null 2>&1 && bad "no proxy container left" || ok "no proxy container left"
	docker volume rm bootstrap-proxy-data >/dev/null 2>&1
	docker network rm bootstrap-domains >/dev/null 2>&1
fi

# ---- the driver and registry client, in C ------------------------------------
DRIVER_TEST=${DRIVER_TEST:-build/integration/driver}
if [ -x "$DRIVER_TEST" ]; then
	if LAB_IMAGE=$LAB_IMAGE LAB_REGISTRY=$LAB_REGISTRY LAB_AUTH_REGISTRY=$LAB_AUTH_REGISTRY \
		LAB_USER=$LAB_USER LAB_PASSWORD=$LAB_PASSWORD "${WRAP[@]}" "$DRIVER_TEST" >"$LAB/driver" 2>&1; then
		ok "driver and registry client ($(grep -c '^\[       OK' "$LAB/driver") tests)"
	else
		bad "driver and registry client" "$(cat "$LAB/driver")"
	fi
else
	bad "driver test program $DRIVER_TEST is built (make integration builds it)"
fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
