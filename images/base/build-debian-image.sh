#!/usr/bin/env bash
# Builds the Debian 13 base image from debootstrap and loads it into the local Docker engine as
# debian:trixie-slim (and a date tag). Production pulls this image from a registry; no registry is
# reachable on the development machines, so it is built here instead (a local-cloud substitution).
# The machine's CA certificates and apt settings are copied in so apt, pip and npm inside builds
# reach the package registries the way the machine itself does.
set -euo pipefail

suite=trixie
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
tag=${BASE_IMAGE_TAG:-debian:trixie-slim}
date_tag="debian:${suite}-$(date -u +%Y%m%d)-slim"

if [[ ${1:-} != --force ]] && docker image inspect "$tag" >/dev/null 2>&1; then
  echo "$tag already present (use --force to rebuild)"
  exit 0
fi

rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT

debootstrap --variant=minbase --include=ca-certificates "$suite" "$rootfs" "$mirror" >/dev/null

# The machine's extra CA certificates (a TLS-intercepting egress proxy may sit in front of the
# registries) and apt settings, so package clients in derived images behave as on the host.
if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
  chroot "$rootfs" update-ca-certificates >/dev/null
fi
for conf in /etc/apt/apt.conf.d/99*; do
  [[ -e $conf ]] && cp "$conf" "$rootfs/etc/apt/apt.conf.d/"
done

# Trim what a slim image leaves out.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/usr/share/doc/* \
  "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*

bundle=/etc/ssl/certs/ca-certificates.crt
tar -C "$rootfs" -c . | docker import \
  --change 'CMD ["bash"]' \
  --change "ENV PIP_CERT=$bundle REQUESTS_CA_BUNDLE=$bundle SSL_CERT_FILE=$bundle NODE_EXTRA_CA_CERTS=$bundle" \
  - "$tag" >/dev/null
docker tag "$tag" "$date_tag"
echo "built $tag ($date_tag)"
