#!/usr/bin/env bash
#
# tests/layers.sh - the project's own includes point one way and never in
# a circle (docs/ARCHITECTURE.md):
#
#   util/ <- container/ <- provision/ <- deploy/ <- cli/
#
# A file includes only from its own folder and the folders to its left;
# no two modules include each other (a module is NAME.c with NAME.h and
# NAME_priv.h). Prints every offending include as FILE: #include "X";
# exit 1 when there is one.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

rank() {
	case $1 in
	util) echo 0 ;; container) echo 1 ;; provision) echo 2 ;; deploy) echo 3 ;; cli) echo 4 ;;
	*) echo -1 ;;
	esac
}
module() { # deploy/recipe_priv.h -> deploy/recipe
	local m=${1%.[ch]}
	echo "${m%_priv}"
}

bad=0
declare -A edge=()
for f in util/*.[ch] container/*.[ch] provision/*.[ch] deploy/*.[ch] cli/*.[ch]; do
	[[ -f $f ]] || continue
	from=${f%%/*}
	while IFS= read -r inc; do
		to=${inc%%/*}
		if (($(rank "$to") > $(rank "$from"))); then
			echo "$f: #include \"$inc\": $from/ must not depend on $to/"
			bad=1
		fi
		a=$(module "$f") b=$(module "$inc")
		[[ $a == "$b" ]] || edge["$a $b"]=$f
	done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
done
for e in "${!edge[@]}"; do
	read -r a b <<<"$e"
	if [[ -n ${edge["$b $a"]+x} && $a < $b ]]; then
		echo "${edge[$e]} and ${edge["$b $a"]}: $a and $b include each other"
		bad=1
	fi
done
if ((bad)); then
	echo "layers: FAILED (docs/ARCHITECTURE.md, 'Dependencies point one way')"
	exit 1
fi
echo "layers: ok (util <- container <- provision <- deploy <- cli, no module includes another that includes it)"
