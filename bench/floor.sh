# floor.sh - the engine floor: the fewest Engine API requests that do each
# workload, sent by curl over the engine's unix socket. Sourced by the
# scripts bench.py generates; not run on its own.
#
# Environment (set by bench.py):
#   SOCK    the engine's unix socket (or the counting proxy's)
#   API     the API version prefix, like v1.41
#   IMAGE   the test image (local/busybox:1)
#   PREFIX  container name prefix: PREFIX-c01 ..
#   LABEL   the value of the one label, bench=LABEL
#
# One curl process per container; a container's requests share one
# connection (--next). JSON bodies are made by printf.

fl_body() { # fl_body ENV_VALUE
	printf '{"Image":"%s","Cmd":["sleep","1000000"],"Env":["K=%s"],"Labels":{"bench":"%s"}}' \
		"$IMAGE" "$1" "$LABEL"
}

# common options of each transfer (repeated after --next, which resets them)
fl_opts() {
	printf '%s\n' -sS --fail --max-time 60 --unix-socket "$SOCK" -o /dev/null
}

# fl_up INDEX [ENV]: POST /containers/create?name=PREFIX-cINDEX, then
# POST /containers/PREFIX-cINDEX/start
fl_up() {
	local name="$PREFIX-c$1" env=${2:-v$1}
	local -a o
	mapfile -t o < <(fl_opts)
	curl "${o[@]}" -H 'Content-Type: application/json' -d "$(fl_body "$env")" \
		"http://engine/$API/containers/create?name=$name" \
		--next "${o[@]}" -X POST "http://engine/$API/containers/$name/start"
}

# fl_rm INDEX: DELETE /containers/PREFIX-cINDEX?force=1 (SIGKILL, no grace)
fl_rm() {
	local -a o
	mapfile -t o < <(fl_opts)
	curl "${o[@]}" -X DELETE "http://engine/$API/containers/$PREFIX-c$1?force=1"
}

# fl_replace INDEX ENV: forced delete, create, start: one connection
fl_replace() {
	local name="$PREFIX-c$1" env=$2
	local -a o
	mapfile -t o < <(fl_opts)
	curl "${o[@]}" -X DELETE "http://engine/$API/containers/$name?force=1" \
		--next "${o[@]}" -H 'Content-Type: application/json' -d "$(fl_body "$env")" \
		"http://engine/$API/containers/create?name=$name" \
		--next "${o[@]}" -X POST "http://engine/$API/containers/$name/start"
}

# fl_list_mine: GET /containers/json?all=1&filters={"label":["bench=LABEL"]}
fl_list_mine() {
	curl -sS --fail --max-time 60 --unix-socket "$SOCK" -G \
		--data-urlencode 'all=1' --data-urlencode "filters={\"label\":[\"bench=$LABEL\"]}" \
		"http://engine/$API/containers/json"
}

# fl_list_all: GET /containers/json?all=1 (every container of the engine)
fl_list_all() {
	curl -sS --fail --max-time 60 --unix-socket "$SOCK" "http://engine/$API/containers/json?all=1"
}

# fl_parallel FUNCTION INDEX...: FUNCTION for each INDEX, 8 at a time
fl_parallel() {
	local fn=$1
	shift
	export SOCK API IMAGE PREFIX LABEL
	export -f fl_body fl_opts fl_up fl_rm
	printf '%s\n' "$@" | xargs -P8 -n1 bash -c "$fn \"\$0\""
}
