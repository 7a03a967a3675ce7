#!/usr/bin/env bash
# A development PKI: a CA, a server certificate for localhost/127.0.0.1 and
# one client certificate per name, plus an unrelated CA with a "stranger"
# client (for tests).  Existing files are kept.
#   pki.sh <dir> <name>...
set -euo pipefail
dir=${1:?usage: pki.sh <dir> <name>...}
shift
mkdir -p "$dir"
cd "$dir"
umask 077

newkey() { [ -f "$1" ] || openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

ca() {	# name subject
	[ -f "$1.crt" ] && return 0
	newkey "$1.key"
	openssl req -x509 -new -key "$1.key" -sha256 -days 3650 -subj "$2" \
	    -addext "basicConstraints=critical,CA:TRUE" \
	    -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$1.crt"
}

issue() {	# ca name subject extensions...
	local issuer=$1 name=$2 subj=$3 ext
	shift 3
	[ -f "$name.crt" ] && return 0
	newkey "$name.key"
	ext=$(mktemp)
	printf '%s\n' "$@" >"$ext"
	openssl req -new -key "$name.key" -subj "$subj" -out "$name.csr"
	openssl x509 -req -in "$name.csr" -CA "$issuer.crt" -CAkey "$issuer.key" \
	    -CAcreateserial -sha256 -days 825 -extfile "$ext" -out "$name.crt" 2>/dev/null
	rm -f "$name.csr" "$ext"
}

ca ca "/O=hotlined development/CN=hotlined development CA"
issue ca server "/O=hotlined development/CN=localhost" \
    "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=serverAuth" "subjectAltName=DNS:localhost,IP:127.0.0.1"
for name in "$@"; do
	issue ca "$name" "/O=hotlined development/CN=$name" \
	    "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature" \
	    "extendedKeyUsage=clientAuth"
done
ca other-ca "/O=somewhere else/CN=unrelated CA"
issue other-ca stranger "/O=somewhere else/CN=stranger" \
    "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=clientAuth"
chmod 644 ./*.crt
