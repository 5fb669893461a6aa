#!/bin/bash
# The package tier (make test-package, docs/install.md): what `make install`, `make uninstall`
# and the .deb put on a system, checked in throwaway trees. Nothing is installed on this host:
# make install goes to a temporary DESTDIR, the package into a temporary dpkg root
# (dpkg --root, with its own database there).
#
#   run-tests.sh DEB VERSION
#
# 1. make install DESTDIR=$T/destdir PREFIX=/usr/local (explicit: a PREFIX given to the
#    calling make would reach this one through MAKEFLAGS): every file in its place with its
#    mode; the installed completion scripts are what the installed berth prints; make
#    uninstall leaves no file.
# 2. The .deb: control fields, owners and modes, conffiles, md5sums.
# 3. dpkg --root=$T/root -i: the installed berth and shim run and print VERSION; man renders a
#    page without warnings; bash completes `berth cr` to create; the containerd drop-in, imported
#    by containerd's own config loader, adds the berth runtime and changes nothing else (when
#    containerd is installed). dpkg -r keeps only the conffile, --purge leaves nothing but
#    dpkg's own database and log.
#
# Prints "ok"/"FAIL" per check and exits non-zero if any failed. KEEP_WORK=1 keeps $T.
set -uo pipefail

DEB=$(readlink -f "$1") VERSION=$2
TOP=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d /tmp/berth-package.XXXXXX)
failures=0

ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; failures=$((failures + 1)); }
expect() { # expect DESCRIPTION EXPECTED ACTUAL
	if [ "$2" == "$3" ]; then ok "$1"; else bad "$1: expected [$2], got [$3]"; fi
}
contains() { # contains DESCRIPTION NEEDLE HAYSTACK
	if [[ "$3" == *"$2"* ]]; then ok "$1"; else bad "$1: [$2] not in [$3]"; fi
}
cleanup() { if [ -n "${KEEP_WORK:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi; }
trap cleanup EXIT
# Files (not directories) under a tree, relative, sorted, as "mode path".
files_in() { (cd "$1" && find . ! -type d -printf '%m %P\n' | sort -k2); }

[ -f "$DEB" ] || { echo "no package at $1 (make deb)" >&2; exit 1; }

# The pages and scripts the release berth generates: what both install paths must carry.
mapfile -t PAGES < <(cd "$TOP/target/gen/man" && ls -- *.8)
expect "a page for berth and one per command (berth-create.8 among them)" yes \
	"$([[ " ${PAGES[*]} " == *" berth.8 "* && " ${PAGES[*]} " == *" berth-create.8 "* ]] && echo yes)"
contains "no page for the hidden generator" "no" \
	"$([[ " ${PAGES[*]} " == *generate-man* ]] && echo yes || echo no)"

echo "== make install DESTDIR, make uninstall"
D=$T/destdir
make -C "$TOP" --no-print-directory -s install DESTDIR="$D" PREFIX=/usr/local >"$T/install.log" 2>&1 \
	|| { bad "make install DESTDIR=$D: $(tail -5 "$T/install.log")"; }
P=$D/usr/local
expected=$( {
	echo "755 usr/local/bin/berth"
	echo "755 usr/local/bin/containerd-shim-berth-v2"
	for p in "${PAGES[@]}"; do echo "644 usr/local/share/man/man8/$p"; done
	echo "644 usr/local/share/bash-completion/completions/berth"
	echo "644 usr/local/share/zsh/site-functions/_berth"
	echo "644 usr/local/share/fish/vendor_completions.d/berth.fish"
	echo "644 usr/local/share/doc/berth/README.md"
	echo "644 usr/local/share/doc/berth/containerd-berth.toml"
	echo "644 usr/local/share/doc/berth/runtimeclass.yaml"
	for d in "$TOP"/docs/*.md; do echo "644 usr/local/share/doc/berth/docs/${d##*/}"; done
} | sort -k2)
expect "make install puts exactly these files, with these modes" "$expected" "$(files_in "$D")"
cmp -s "$P/bin/berth" "$TOP/target/x86_64-unknown-linux-gnu/release/berth" \
	&& ok "the installed berth is the release build" || bad "installed berth differs from the release build"
for sh in bash zsh fish; do
	case $sh in
	bash) f=$P/share/bash-completion/completions/berth ;;
	zsh) f=$P/share/zsh/site-functions/_berth ;;
	fish) f=$P/share/fish/vendor_completions.d/berth.fish ;;
	esac
	expect "installed $sh completion is what the installed berth prints" \
		"$(cat "$f")" "$("$P/bin/berth" completion $sh)"
done
make -C "$TOP" --no-print-directory -s uninstall DESTDIR="$D" PREFIX=/usr/local >"$T/uninstall.log" 2>&1 \
	|| bad "make uninstall DESTDIR=$D: $(tail -5 "$T/uninstall.log")"
expect "make uninstall leaves no file" "" "$(files_in "$D")"
expect "make uninstall removes berth's doc directory" "" "$(cd "$D" && find . -name berth)"

echo "== the package: $DEB ($(du -k "$DEB" | cut -f1) KiB)"
field() { dpkg-deb -f "$DEB" "$1"; }
expect "Package" berth "$(field Package)"
expect "Version (Cargo.toml)" "$VERSION" "$(field Version)"
expect "Architecture (dpkg --print-architecture)" "$(dpkg --print-architecture)" "$(field Architecture)"
expect "no Depends (static binaries)" "" "$(field Depends)"
contains "Built-Using names the glibc linked in" "glibc (= $(dpkg-query -W -f='${source:Version}' libc6-dev))" \
	"$(field Built-Using)"
dpkg-deb -c "$DEB" >"$T/contents"
expect "every entry is owned by root:root" "" "$(awk '$2 != "root/root"' "$T/contents")"
expect "binaries 0755, other files 0644, directories 0755" "" "$(awk '
	$1 ~ /^d/ { if ($1 != "drwxr-xr-x") print; next }
	$6 ~ /^\.\/usr\/bin\// { if ($1 != "-rwxr-xr-x") print; next }
	{ if ($1 != "-rw-r--r--") print }' "$T/contents")"
dpkg-deb -e "$DEB" "$T/control"
expect "conffiles" /etc/containerd/conf.d/berth.toml "$(cat "$T/control/conffiles")"
mkdir "$T/x" && dpkg-deb -x "$DEB" "$T/x"
(cd "$T/x" && md5sum --quiet -c "$T/control/md5sums") >"$T/md5.log" 2>&1 \
	&& ok "md5sums match the contents" || bad "md5sums: $(cat "$T/md5.log")"
expect "md5sums lists every file but the conffile" \
	"$(cd "$T/x" && find . -type f ! -path './etc/*' -printf '%P\n' | sort)" \
	"$(awk '{print $2}' "$T/control/md5sums" | sort)"

echo "== dpkg --root: install, use, remove, purge"
R=$T/root
mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates" "$R/var/lib/dpkg/triggers"
touch "$R/var/lib/dpkg/status" "$R/var/lib/dpkg/available"
# --path-include: a host dpkg.cfg.d that excludes /usr/share/man or doc (Debian's docker
# images do) would otherwise thin out the throwaway install.
rdpkg() { dpkg --root="$R" --path-include='/*' --force-not-root "$@"; }
rdpkg -i "$DEB" >"$T/dpkg-i.log" 2>&1 || bad "dpkg -i: $(cat "$T/dpkg-i.log")"
expect "dpkg: berth installed" "install ok installed" \
	"$(dpkg-query --admindir="$R/var/lib/dpkg" -W -f='${Status}' berth 2>&1)"
expected=$( {
	echo "etc/containerd/conf.d/berth.toml"
	echo "usr/bin/berth"
	echo "usr/bin/containerd-shim-berth-v2"
	for p in "${PAGES[@]}"; do echo "usr/share/man/man8/$p.gz"; done
	echo "usr/share/bash-completion/completions/berth"
	echo "usr/share/zsh/vendor-completions/_berth"
	echo "usr/share/fish/vendor_completions.d/berth.fish"
	for f in README.md containerd-berth.toml runtimeclass.yaml copyright changelog.gz; do
		echo "usr/share/doc/berth/$f"
	done
	for d in "$TOP"/docs/*.md; do echo "usr/share/doc/berth/docs/${d##*/}"; done
} | sort)
expect "dpkg -i puts exactly these files" "$expected" \
	"$(cd "$R" && find . ! -type d ! -path './var/lib/dpkg/*' ! -path './var/log/*' -printf '%P\n' | sort)"
expect "berth --version (installed)" "berth $VERSION" "$("$R/usr/bin/berth" --version | head -n1)"
expect "containerd-shim-berth-v2 -v (installed)" "io.containerd.berth.v2 (containerd-shim-berth-v2) $VERSION" \
	"$("$R/usr/bin/containerd-shim-berth-v2" -v)"
for p in "${PAGES[@]}"; do
	[ -f "$R/usr/share/man/man8/$p.gz" ] || bad "man page $p.gz not installed"
done
page=$(MANWIDTH=100 LC_ALL=C.UTF-8 man --warnings -l "$R/usr/share/man/man8/berth-create.8.gz" 2>"$T/man.err" | col -b)
expect "man -l berth-create.8.gz: no warnings" "" "$(cat "$T/man.err")"
contains "berth-create(8): NAME" "berth-create - Create a container that waits for" "$page"
contains "berth-create(8): SYNOPSIS is the command as typed" "berth create [" "$page"
contains "berth-create(8): its options" "--console-socket" "$page"
contains "berth-create(8): SEE ALSO berth(8)" "berth(8)" "$page"
page=$(MANWIDTH=100 LC_ALL=C.UTF-8 man --warnings -l "$R/usr/share/man/man8/berth.8.gz" 2>"$T/man.err" | col -b)
expect "man -l berth.8.gz: no warnings" "" "$(cat "$T/man.err")"
contains "berth(8) lists the commands' pages" "berth-create(8)" "$page"
contains "berth(8) has the global options" "--root" "$page"
comp=$R/usr/share/bash-completion/completions/berth
contains "bash: the completion script registers berth" "-F _berth berth" \
	"$(bash --norc -c 'source "$1" && complete -p berth' _ "$comp" 2>&1)"
# What bash offers at `berth cr<TAB>` and `berth create --con<TAB>`.
complete_words() {
	bash --norc -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1));
		COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}; _berth berth "${COMP_WORDS[-1]}" "${COMP_WORDS[-2]}";
		echo "${COMPREPLY[*]}"' _ "$comp" "$@" 2>&1
}
expect "bash completes 'berth cr' to create" create "$(complete_words berth cr)"
expect "bash completes 'berth create --con' to --console-socket" --console-socket \
	"$(complete_words berth create --con)"
expect "bash does not offer the hidden generator" "" "$(complete_words berth gen)"
cmp -s "$R/etc/containerd/conf.d/berth.toml" "$TOP/packaging/containerd-berth.toml" \
	&& ok "containerd drop-in installed in /etc/containerd/conf.d" || bad "containerd drop-in missing or different"

# The drop-in through containerd's own loader: Debian's stock config.toml, with and without
# the imports line; the merged configs differ only in the berth runtime (and in zero values
# the runc shim's options decode to anyway).
if command -v containerd >/dev/null && [ -f /etc/containerd/config.toml ]; then
	stock=$T/containerd-stock.toml with=$T/containerd-with.toml
	cp /etc/containerd/config.toml "$stock"
	{ echo "imports = [\"$R/etc/containerd/conf.d/*.toml\"]"; cat /etc/containerd/config.toml; } >"$with"
	dump() { containerd --config "$1" config dump 2>&1 | grep -v '^imports = ' \
		| grep -Ev '^ +[A-Za-z_]+ = (""|0|false|\[\])$'; }
	if dpkg --verify containerd 2>/dev/null | grep -q ' /etc/containerd/config.toml$'; then
		echo "note: /etc/containerd/config.toml is not Debian's stock file; comparing against it anyway"
	fi
	expect "containerd + drop-in: only the berth runtime is added" \
		'> [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berth]
> runtime_type = "io.containerd.berth.v2"
> [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berth.options]' \
		"$(diff <(dump "$stock") <(dump "$with") | grep '^[<>]' | grep -v '^> *$' | sed 's/^> */> /')"
	expect "containerd without the imports line ignores conf.d" "" \
		"$(containerd --config "$stock" config dump 2>&1 | grep -F runtimes.berth)"
else
	echo "*** SKIP the containerd drop-in check: containerd or /etc/containerd/config.toml missing (make containerd-deps) ***"
fi

left() { (cd "$R" && find . -mindepth 1 ! -type d ! -path './var/lib/dpkg/*' ! -path './var/log/*' -printf '%P\n' | sort); }
rdpkg -r berth >"$T/dpkg-r.log" 2>&1 || bad "dpkg -r: $(cat "$T/dpkg-r.log")"
expect "dpkg -r keeps only the conffile" etc/containerd/conf.d/berth.toml "$(left)"
rdpkg --purge berth >"$T/dpkg-purge.log" 2>&1 || bad "dpkg --purge: $(cat "$T/dpkg-purge.log")"
expect "dpkg --purge leaves no file outside dpkg's database and log" "" "$(left)"
expect "dpkg --purge leaves no berth directory" "" "$(cd "$R" && find . -path '*berth*' ! -path './var/lib/dpkg/*')"
echo "after purge, the root holds: $(cd "$R" && find . -mindepth 1 -printf '%P\n' | sort | tr '\n' ' ')"

if [ "$failures" -ne 0 ]; then
	echo "package tier: $failures check(s) FAILED"
	exit 1
fi
echo "package tier: all checks passed"
