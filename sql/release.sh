#!/usr/bin/env bash
# Declare a release, and check the releases declared.  A release is a commit
# whose daemon says that version (HOTLINED_VERSION in daemon/hotlined.h) and
# the migrations sql/NNN_*.sql of that commit, which are never edited from
# then on: a later change to the schema is a new numbered file.  Its
# manifest, sql/releases/<version>, names the commit and lists each
# migration with its SHA-256 (sha256sum's format):
#
#	# hotlined release 0.1.0: ...
#	commit <40 hex digits>
#	<64 hex digits>  001_schema.sql
#	...
#
#   release.sh declare <version>   declare HEAD (a clean work tree) as the
#                                  release: write its manifest and commit it
#   release.sh manifest <version> [<commit>]
#                                  print the manifest of a commit (HEAD)
#   release.sh verify              check every manifest: its files unchanged
#                                  in sql/ (migrate.sh --check) and at its
#                                  commit, the daemon's version there
#   release.sh latest              the newest release declared (or nothing)
#
# migrate.sh refuses to apply anything while a released file differs from
# its manifest; tests/upgrade/ upgrades a database filled by the latest
# release's daemon (built from its commit) to the current migrations.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
releases=$here/releases

die() {
	echo "release: $*" >&2
	exit 1
}

usage() {
	echo "usage: release.sh declare <version> | manifest <version> [<commit>] | verify | latest" >&2
	exit 2
}

git_() {
	git -C "$root" "$@"
}

# The version HOTLINED_VERSION says at a commit.
version_at() {
	git_ show "$1:daemon/hotlined.h" |
	    sed -n 's/^#define[[:space:]]*HOTLINED_VERSION[[:space:]]*"\(.*\)".*/\1/p'
}

# The migrations at a commit, one file name a line.
migrations_at() {
	git_ ls-tree --name-only "$1" sql/ | sed -n 's|^sql/\([0-9][0-9][0-9]_[A-Za-z0-9_]*\.sql\)$|\1|p'
}

# The manifest of a release: the commit and its migrations' checksums.
manifest() {
	local version=$1 commit f sum
	commit=$(git_ rev-parse --verify "${2:-HEAD}^{commit}")
	echo "# hotlined release $version: the migrations it consists of and their SHA-256."
	echo "# Written by sql/release.sh; a released migration is never edited."
	echo "commit $commit"
	for f in $(migrations_at "$commit"); do
		sum=$(git_ cat-file blob "$commit:sql/$f" | sha256sum)
		echo "${sum%% *}  $f"
	done
}

# The versions declared, oldest first.
versions() {
	local m
	for m in "$releases"/*; do
		if [ -f "$m" ]; then
			basename "$m"
		fi
	done | sort -V
}

# Check one manifest against its commit: the commit exists, says this
# version, and holds exactly these migrations with these checksums.
verify_one() {
	local version=$1 commit want got
	commit=$(sed -n 's/^commit \([0-9a-f]\{40\}\)$/\1/p' "$releases/$version")
	[ -n "$commit" ] || { echo "release: $version: no commit line"; return 1; }
	git_ cat-file -e "$commit^{commit}" 2>/dev/null ||
	    { echo "release: $version: commit $commit is not in this repository"; return 1; }
	[ "$(version_at "$commit")" = "$version" ] ||
	    { echo "release: $version: the daemon at $commit says $(version_at "$commit")"; return 1; }
	want=$(grep -E '^[0-9a-f]{64}  ' "$releases/$version")
	got=$(manifest "$version" "$commit" | grep -E '^[0-9a-f]{64}  ')
	[ "$want" = "$got" ] ||
	    { echo "release: $version: the manifest does not list the migrations of $commit:";
	      diff <(echo "$want") <(echo "$got") | sed -n 's/^[<>] /  /p'; return 1; }
}

case ${1:-} in
declare)
	[ $# -eq 2 ] || usage
	v=$2
	[[ $v =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "a version is N.N.N: $v"
	[ ! -e "$releases/$v" ] || die "release $v is already declared"
	[ -z "$(git_ status --porcelain)" ] ||
	    die "the work tree has changes: a release is a commit; commit or stash them first"
	[ "$(version_at HEAD)" = "$v" ] ||
	    die "daemon/hotlined.h says HOTLINED_VERSION \"$(version_at HEAD)\": set it to \"$v\" and commit"
	newest=$(versions | tail -1)
	[ -z "$newest" ] || [ "$(printf '%s\n%s\n' "$newest" "$v" | sort -V | tail -1)" = "$v" ] ||
	    die "release $newest is newer than $v"
	bash "$here/migrate.sh" --check || die "a released migration has changed (above)"
	mkdir -p "$releases"
	manifest "$v" HEAD >"$releases/$v"
	git_ add -- "sql/releases/$v"
	git_ commit -q -m "Release $v: its migrations and their checksums in sql/releases/$v" \
	    -- "sql/releases/$v"
	echo "release: declared $v at $(sed -n 's/^commit //p' "$releases/$v")"
	;;
manifest)
	[ $# -eq 2 ] || [ $# -eq 3 ] || usage
	manifest "$2" "${3:-HEAD}"
	;;
verify)
	[ $# -eq 1 ] || usage
	bad=0
	bash "$here/migrate.sh" --check || bad=1
	for v in $(versions); do
		verify_one "$v" || bad=1
	done
	exit $bad
	;;
latest)
	[ $# -eq 1 ] || usage
	versions | tail -1
	;;
*)
	usage
	;;
esac
