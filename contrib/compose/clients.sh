#!/usr/bin/env bash
# docker-compose.yml's set-up, last step: the client certificates found in
# the PKI directory (HOTLINED_PKI, default /pki: console, a seat of the
# demo's 12355 centre 320100, gateway, admin, statistician, <kind>-<region>
# agencies and their -approver clients) registered with hotlinectl clients
# add against the database of the PG* variables.  A name registered already
# is left as it is, so it runs at every "up".
set -euo pipefail
pki=${HOTLINED_PKI:-/pki}
registered=$(hotlinectl clients list | awk '{ print $1 }')
register() {	# [--approver] name role [agency | --centre region]
	local name=$1
	[ "$1" != --approver ] || name=$2
	if grep -qxF -- "$name" <<<"$registered"; then
		echo "setup: client $name is registered already"
	else
		hotlinectl clients add "$@" "$pki/$name.crt"
	fi
}
for crt in "$pki"/*.crt; do
	name=$(basename "$crt" .crt)
	case $name in
	console) register console operator --centre 320100 ;;
	gateway) register gateway gateway ;;
	admin) register admin admin ;;
	statistician) register statistician statistician ;;
	*-[0-9][0-9][0-9][0-9][0-9][0-9]-approver)
		register --approver "$name" agency "${name%-approver}" ;;
	*-[0-9][0-9][0-9][0-9][0-9][0-9]) register "$name" agency "$name" ;;
	esac
done
