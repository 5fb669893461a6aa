#!/usr/bin/env bash
# Builds berth's Debian package with dpkg-deb from a tree staged by
# `make install DESTDIR=STAGE PREFIX=/usr` (the Makefile's `deb` target does both; docs/install.md).
#
#   packaging/deb/build-deb.sh STAGE OUT.deb VERSION ARCH MAINTAINER
#
# Adds what only the package has: the containerd drop-in in /etc (a conffile), copyright
# and changelog, gzipped man pages (Debian policy 12.1), DEBIAN/control, conffiles and md5sums.
set -euo pipefail
[ $# -eq 5 ] || { echo "usage: $0 STAGE OUT.deb VERSION ARCH MAINTAINER" >&2; exit 2; }
stage=$1 out=$2 version=$3 arch=$4 maintainer=$5
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
doc=$stage/usr/share/doc/berth
[ -x "$stage/usr/bin/berth" ] || { echo "build-deb: $stage/usr/bin/berth missing: stage with make install first" >&2; exit 1; }

install -d -m 0755 "$stage/etc/containerd/conf.d" "$stage/DEBIAN"
install -m 0644 "$top/packaging/containerd-berth.toml" "$stage/etc/containerd/conf.d/berth.toml"
install -m 0644 "$here/copyright" "$doc/copyright"
# Policy 12.1 and 12.7: man pages and the changelog gzipped; -n keeps name and time out of
# the gzip header, so the same tree gives the same bytes.
gzip -9nf "$stage"/usr/share/man/man8/*.8
# A native package's changelog: one entry, from the commit the package is built from.
commit=$(git -C "$top" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
date=$(git -C "$top" log -1 --format=%aD 2>/dev/null || date -R)
printf 'berth (%s) unstable; urgency=medium\n\n  * Built from commit %s.\n\n -- %s  %s\n' \
	"$version" "$commit" "$maintainer" "$date" | gzip -9n > "$doc/changelog.gz"

# install(1) set the modes; this also fixes directories made under another umask.
find "$stage" -type d -exec chmod 0755 {} +

# The binaries link glibc statically (docs/benchmarks.md), so the package carries glibc's code
# and names its source version in Built-Using (policy 7.8), and depends on nothing. procps:
# `berth ps` runs ps(1).
glibc=$(dpkg-query -W -f='${source:Package} (= ${source:Version})' libc6-dev)
installed_size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat > "$stage/DEBIAN/control" <<CONTROL
Package: berth
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $installed_size
Built-Using: $glibc
Recommends: procps
Suggests: containerd
Section: admin
Priority: optional
Description: low-level OCI container runtime with a containerd shim
 berth turns an OCI bundle (config.json and a root filesystem) into a
 running, isolated process and manages its lifecycle, with runc's command
 line, seccomp, cgroup v1 and v2 resource control and the OCI hooks.
 .
 containerd-shim-berth-v2 lets containerd and Kubernetes (a RuntimeClass
 with handler berth) run containers with it. An example containerd drop-in
 is installed in /etc/containerd/conf.d/berth.toml; containerd reads it only
 when config.toml imports it.
CONTROL
echo /etc/containerd/conf.d/berth.toml > "$stage/DEBIAN/conffiles"
# md5sums lists every file but the conffiles (all of /etc), whose sums dpkg keeps itself, as
# dh_md5sums does.
(cd "$stage" && find . -type f ! -path './DEBIAN/*' ! -path './etc/*' -printf '%P\0' | sort -z \
	| xargs -0 md5sum) > "$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/conffiles" "$stage/DEBIAN/md5sums"

mkdir -p "$(dirname "$out")"
dpkg-deb --root-owner-group --build "$stage" "$out"
