#!/usr/bin/env python3
"""make order-check: is each symbol-ordering file (build/<bin>.order) still current?

    order-check.py MIN_FRACTION BIN_NAME=MAP_FILE ...

The ordering file lists, by mangled name, the functions a lifecycle ran when it was recorded
(make order-files). Names that the binary no longer has (a renamed or inlined function, a
dependency or rustc update that changed the symbol hashes) are silently ignored by lld, and the
functions that replaced them land anywhere in .text: max RSS of `run` drifts up (1.8 -> 3.4 MiB
once). The release link writes a map (build/link_args.rs, BERTH_LINK_MAP_DIR) that lists every
symbol placed in the output under its mangled name, before stripping; this prints, per binary,
the fraction of the file's names found there and fails below MIN_FRACTION.
"""
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def map_symbols(path):
    """Every symbol name of an lld -Map file: the lines of the last column that are not
    sections or input files (lld writes `VMA LMA Size Align Out In Symbol`, a symbol line being
    five numeric columns and a name indented further than its input section)."""
    names = set()
    with open(path, errors="replace") as f:
        for line in f:
            parts = line.split()
            if len(parts) != 5:
                continue
            name = parts[4]
            if name.startswith(".") or ":(" in name or name.startswith("<"):
                continue
            names.add(name)
    return names


def main():
    minimum = float(sys.argv[1])
    failed = False
    for arg in sys.argv[2:]:
        binary, mapfile = arg.split("=", 1)
        order = f"{REPO}/build/{binary}.order"
        if not os.path.exists(mapfile):
            sys.exit(f"order-check: no link map {mapfile}: `make build` writes it when it links "
                     f"(touch build/link_args.rs to force a relink)")
        with open(order) as f:
            wanted = [l.strip() for l in f if l.strip()]
        present = map_symbols(mapfile)
        found = sum(1 for s in wanted if s in present)
        frac = found / len(wanted) if wanted else 0.0
        ok = frac >= minimum
        failed |= not ok
        print(f"order-check: build/{binary}.order: {found} of {len(wanted)} symbols in the "
              f"binary ({frac:.1%}; minimum {minimum:.0%}){'' if ok else ' - STALE'}")
        if os.environ.get("ORDER_CHECK_VERBOSE"):
            for s in wanted:
                if s not in present:
                    print(f"  missing: {s}")
    if failed:
        sys.exit("order-check: a symbol-ordering file is stale: run `make order-files` (root, "
                 "containerd) and commit build/*.order (docs/benchmarks.md)")


if __name__ == "__main__":
    main()
