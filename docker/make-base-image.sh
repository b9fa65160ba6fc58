#!/usr/bin/env bash
# Build the local stand-in for python:3.11-slim that `make docker-test` builds on (no image registry is reachable
# from our machines): Debian bookworm minbase by debootstrap, turned into python:3.11-slim's layout by
# ../shared/tools/make-python-base.sh, imported into podman's storage. Does nothing if the image is already there.
# Usage: docker/make-base-image.sh PATH/TO/make-python-base.sh
set -euo pipefail
IMAGE=docker.io/library/python:3.11-slim
MAKE_PYTHON_BASE=${1:?usage: $0 PATH/TO/make-python-base.sh}
if podman image exists "$IMAGE"; then
  echo "base image $IMAGE: present"
  exit 0
fi
ROOTFS=$(mktemp -d /var/tmp/animegan-base-rootfs.XXXXXX)
trap 'mountpoint -q "$ROOTFS/proc" && umount "$ROOTFS/proc"; rm -rf "$ROOTFS"' EXIT
echo "base image $IMAGE: building it in $ROOTFS (debootstrap, a few minutes)"
debootstrap --variant=minbase bookworm "$ROOTFS" http://deb.debian.org/debian > "$ROOTFS.log" 2>&1 \
  || { tail -20 "$ROOTFS.log"; exit 1; }
bash "$MAKE_PYTHON_BASE" "$ROOTFS" >> "$ROOTFS.log" 2>&1 || { tail -20 "$ROOTFS.log"; exit 1; }
rm -f "$ROOTFS.log"
tar -C "$ROOTFS" -c . | podman import \
  --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' - "$IMAGE"
