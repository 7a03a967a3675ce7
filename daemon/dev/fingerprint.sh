#!/usr/bin/env bash
# Print a certificate's SHA-256 fingerprint as hotlined keys it: lowercase
# hex of the DER, no colons.
#   fingerprint.sh <cert.pem>
set -euo pipefail
openssl x509 -in "${1:?usage: fingerprint.sh <cert>}" -outform DER | sha256sum | cut -c1-64
