#!/usr/bin/env bash
# integration/conformance/build-runtime-tools.sh
#
# Build the opencontainers/runtime-tools validation suite (runtimetest + validation/<name>/<name>.t,
# all static so they also run inside the VM tier) and print the directory that holds it. The
# built suite is cached in $RT_CACHE/runtime-tools-<commit>/ (default /var/cache/berth), so a
# second run only checks the stamp and prints the path.
#
# Source, first match wins:
#   1. RUNTIME_TOOLS_SRC: a runtime-tools checkout (a directory) or a source tarball (.tar.gz).
#   2. ../shared/runtime-tools/runtime-tools-5e63903.tar.gz next to the repository (CI has it).
#   3. git clone https://github.com/opencontainers/runtime-tools at the pinned commit.
#
# Go: Debian 12 ships 1.19; the suite needs >= 1.21. When /usr/lib/go-1.22/bin/go is missing,
# this adds bookworm-backports in its own file (/etc/apt/sources.list.d/berth-bookworm-backports.sources,
# reusing the URIs of the system's debian.sources entry; the system's file is never edited) and
# installs golang-1.22-go. Needs root for that and for /var/cache.
#
# Env: RUNTIME_TOOLS_SRC, RUNTIME_TOOLS_URL and RUNTIME_TOOLS_COMMIT (what to clone in case 3;
# the commit also names the tarball of case 2), RT_CACHE (cache root, default /var/cache/berth), RT_REBUILD=1 (ignore
# the cache). Progress goes to stderr; stdout is only the suite directory.
set -euo pipefail

# The pinned commit: 5e63903 is the short hash the project names; the 12-digit form is the one
# Go's pseudo-version for that commit carries (v0.9.1-0.20251205004911-5e639034dcdc).
PIN=${RUNTIME_TOOLS_COMMIT:-5e639034dcdc}
PIN_SHORT=${PIN:0:7}
RT_URL=${RUNTIME_TOOLS_URL:-https://github.com/opencontainers/runtime-tools}
GO_DIR=/usr/lib/go-1.22/bin
# Bump when the build recipe changes: a cached suite with another recipe is rebuilt.
RECIPE="static-v1 CGO_ENABLED=0 go1.22 make runtimetest validation-executables"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache_root=${RT_CACHE:-/var/cache/berth}
log() { echo "runtime-tools: $*" >&2; }

# apt_install PKG...: only what is missing (keeps repeated runs offline).
apt_install() {
    local missing="" p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
    done
    [[ -z $missing ]] && return 0
    log "installing$missing"
    apt-get update -qq >&2
    # shellcheck disable=SC2086 # a word list on purpose
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >&2
}

# Go 1.22 from bookworm-backports, in a sources file of our own.
ensure_go() {
    [[ -x $GO_DIR/go ]] && return 0
    local list=/etc/apt/sources.list.d/berth-bookworm-backports.sources
    if [[ ! -e $list ]]; then
        local uris="" signed=""
        if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
            # The first stanza whose Suites has plain "bookworm" (not -security).
            read -r uris signed < <(awk '
                /^$/ { if (bw && u != "") { print u, s; done = 1; exit } u = ""; s = ""; bw = 0; next }
                /^URIs:/ { u = $2 }
                /^Signed-By:/ { s = $2 }
                /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "bookworm") bw = 1 }
                END { if (!done && bw && u != "") print u, s }' /etc/apt/sources.list.d/debian.sources) || true
        fi
        uris=${uris:-http://deb.debian.org/debian}
        signed=${signed:-/usr/share/keyrings/debian-archive-keyring.gpg}
        log "adding bookworm-backports ($uris) in $list"
        printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: %s\n' \
            "$uris" "$signed" > "$list"
        apt-get update -qq >&2 || true
    fi
    apt_install golang-1.22-go
    [[ -x $GO_DIR/go ]] || { log "no $GO_DIR/go after installing golang-1.22-go"; exit 1; }
}

# The source: sets src (a directory to copy from, or a tarball) and key (cache name).
tarball=$repo/../shared/runtime-tools/runtime-tools-$PIN_SHORT.tar.gz
if [[ -n ${RUNTIME_TOOLS_SRC:-} ]]; then
    src=$(realpath "$RUNTIME_TOOLS_SRC")
    if [[ -d $src ]]; then
        if commit=$(git -C "$src" rev-parse HEAD 2>/dev/null); then
            key=${commit:0:7}
            [[ -z $(git -C "$src" status --porcelain 2>/dev/null) ]] || key=$key-dirty-$(
                git -C "$src" diff HEAD | sha256sum | cut -c1-8)
        else
            # Not a git checkout: key by the Go sources themselves.
            key=src-$(cd "$src" && find . -name '*.go' -o -name go.mod -o -name 'rootfs-*.tar.gz' |
                LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-12)
        fi
    elif [[ -f $src ]]; then
        key=tar-$(sha256sum "$src" | cut -c1-12)
    else
        log "RUNTIME_TOOLS_SRC=$RUNTIME_TOOLS_SRC does not exist"
        exit 2
    fi
elif [[ -f $tarball ]]; then
    src=$(realpath "$tarball")
    key=$PIN_SHORT
else
    src=""
    key=$PIN_SHORT
fi
suite=$cache_root/runtime-tools-$key
stamp=$suite/.berth-built

if [[ -z ${RT_REBUILD:-} && -f $stamp && $(cat "$stamp") == "$RECIPE" ]]; then
    log "cached build in $suite"
    echo "$suite"
    exit 0
fi

ensure_go
mkdir -p "$cache_root"
tmp=$(mktemp -d "$cache_root/.runtime-tools-build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
if [[ -z $src ]]; then
    apt_install git ca-certificates
    log "cloning $RT_URL at $PIN"
    git clone -q "$RT_URL" "$tmp/runtime-tools" >&2
    git -C "$tmp/runtime-tools" -c advice.detachedHead=false checkout -q "$PIN" >&2
elif [[ -d $src ]]; then
    log "copying $src"
    cp -a "$src" "$tmp/runtime-tools"
else
    log "unpacking $src"
    mkdir -p "$tmp/unpack"
    tar -xzf "$src" -C "$tmp/unpack"
    mv "$tmp/unpack"/* "$tmp/runtime-tools"
fi

# Static: CGO_ENABLED=0 (the .t programs otherwise link glibc dynamically and cannot run in the
# VM's busybox initramfs). Vendored modules, no toolchain download.
log "building (Go $("$GO_DIR/go" version | cut -d' ' -f3)) in $tmp"
start=$(date +%s)
(
    cd "$tmp/runtime-tools"
    rm -f runtimetest validation/*/*.t
    PATH=$GO_DIR:$PATH GOFLAGS=-mod=vendor GOTOOLCHAIN=local CGO_ENABLED=0 \
        GOCACHE=$cache_root/go-build GOPATH=$tmp/gopath \
        make -s runtimetest validation-executables COMMIT=$key >&2
)
log "built in $(($(date +%s) - start)) s"
n=$(find "$tmp/runtime-tools/validation" -name '*.t' -type f | wc -l)
[[ -x $tmp/runtime-tools/runtimetest && $n -gt 0 ]] || { log "build produced no tests"; exit 1; }
echo "$RECIPE" > "$tmp/runtime-tools/.berth-built"
rm -rf "$suite"
mv "$tmp/runtime-tools" "$suite"
log "$n tests in $suite"
echo "$suite"
