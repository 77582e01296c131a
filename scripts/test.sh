#!/usr/bin/env bash
# Runs the whole test suite of every module in this repository, under the
# race detector. It first installs, through apt-get, the real programs the
# tests drive: promtool and the Prometheus server (Debian package
# prometheus), headless Chromium (Debian package chromium) and the
# PostgreSQL server (Debian package postgresql, for election/postgres;
# its tests start their own throwaway server). Tests that
# need a program that is still missing skip with a printed reason, except
# under CI=true, where they fail.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
{ command -v promtool && command -v prometheus; } >/dev/null 2>&1 || missing+=(prometheus)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || missing+=(postgresql)
if ((${#missing[@]})); then
	sudo=()
	[[ $(id -u) == 0 ]] || sudo=(sudo -n)
	echo "scripts/test.sh: installing ${missing[*]} with apt-get" >&2
	if ! { "${sudo[@]}" apt-get update -qq &&
		DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
		echo "scripts/test.sh: could not install ${missing[*]}; the tests that need them will skip (or fail under CI=true)" >&2
	fi
fi

# go.work makes the pattern below cover every module of the repository,
# the nested ones (dashboards, election/postgres, ...) included.
exec go test -race -count=1 -timeout 20m "$@" github.com/routinely/routinely/...
