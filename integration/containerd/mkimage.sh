#!/bin/bash
# Builds a busybox OCI image layout tar from Debian's busybox-static, for `ctr images import`.
#
#   mkimage.sh OUT.tar IMAGE-NAME CMD [ARG...]
#
# The tar holds oci-layout, index.json (with the io.containerd.image.name annotation, so ctr
# imports it under IMAGE-NAME) and blobs/sha256/{layer (gzip), config, manifest}.
set -euo pipefail
out=$1 name=$2; shift 2
busybox=${BUSYBOX:-/bin/busybox}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

root=$tmp/rootfs
mkdir -p "$root"/{bin,dev,proc,sys,etc,tmp,root,var/log}
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
	[ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
chmod 1777 "$root/tmp"

blobs=$tmp/layout/blobs/sha256
mkdir -p "$blobs"
# Reproducible layer: fixed mtimes and owners, sorted names.
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$root" -cf "$tmp/layer.tar" .
diff_id=$(sha256sum "$tmp/layer.tar" | cut -d' ' -f1)
gzip -n -c "$tmp/layer.tar" >"$tmp/layer.tar.gz"
layer=$(sha256sum "$tmp/layer.tar.gz" | cut -d' ' -f1)
layer_size=$(stat -c %s "$tmp/layer.tar.gz")
mv "$tmp/layer.tar.gz" "$blobs/$layer"

cmd_json=$(printf '%s\n' "$@" | python3 -c 'import json,sys; print(json.dumps([l.rstrip("\n") for l in sys.stdin]))')
cat >"$tmp/config.json" <<JSON
{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin:/usr/bin:/sbin:/usr/sbin"],"Cmd":$cmd_json,"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:$diff_id"]},"history":[{"created_by":"berth integration/containerd/mkimage.sh"}]}
JSON
config=$(sha256sum "$tmp/config.json" | cut -d' ' -f1)
config_size=$(stat -c %s "$tmp/config.json")
mv "$tmp/config.json" "$blobs/$config"

cat >"$tmp/manifest.json" <<JSON
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:$config","size":$config_size},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:$layer","size":$layer_size}]}
JSON
manifest=$(sha256sum "$tmp/manifest.json" | cut -d' ' -f1)
manifest_size=$(stat -c %s "$tmp/manifest.json")
mv "$tmp/manifest.json" "$blobs/$manifest"

echo '{"imageLayoutVersion":"1.0.0"}' >"$tmp/layout/oci-layout"
cat >"$tmp/layout/index.json" <<JSON
{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:$manifest","size":$manifest_size,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"$name","org.opencontainers.image.ref.name":"${name##*:}"}}]}
JSON
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$tmp/layout" -cf "$out" .
