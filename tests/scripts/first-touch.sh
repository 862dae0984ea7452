#!/usr/bin/env bash
# First write of anonymous memory, the host against the guest in one run:
# tests/guest/bench_fault.c natively and as init of a 256 MiB guest, RUNS
# times each, with huge pages (MADV_HUGEPAGE) and without. Prints the
# best, median and worst nanoseconds per 4 KiB page, and the guest/host
# ratio of the best and of the median runs.
#
#   tests/scripts/first-touch.sh [PAGES] [RUNS]
#
# Defaults: 16384 pages (64 MiB), 5 runs. Needs /dev/kvm and the built tree
# (cargo build --release; cargo test -p tests --no-run builds the program).
set -euo pipefail
cd "$(dirname "$0")/../.."

pages=${1:-16384}
runs=${2:-5}

. tests/scripts/lib.sh
bench=$(guest_program bench_fault)

# The "write fault (new page)" figure of one run, in ns per page.
per_page() {
    "$@" 2>/dev/null | awk '/^write fault \(new page\):/ { print $5 }'
}

# best median worst of the numbers on stdin
summary() {
    sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) exit 1; print v[1], v[int((NR + 1) / 2)], v[NR] }'
}

printf '%-8s %-6s %10s %10s %10s\n' mode where best median worst
for mode in huge nohuge; do
    # 4 KiB pages cost ~1 ms each in a guest whose ring 0 is emulated:
    # fewer of them without huge pages.
    n=$pages
    [ "$mode" = nohuge ] && n=$((pages < 1024 ? pages : 1024))
    host=$(for _ in $(seq "$runs"); do per_page "$bench" "$n" "$mode"; done | summary)
    guest=$(for _ in $(seq "$runs"); do per_page "$vmm" run --mem 256M --init "$bench" -- "$n" "$mode"; done | summary)
    printf '%-8s %-6s %10s %10s %10s\n' "$mode" host $host
    printf '%-8s %-6s %10s %10s %10s\n' "$mode" guest $guest
    read -r hb hm _ <<<"$host"
    read -r gb gm _ <<<"$guest"
    # The worst runs are noise of either side: no ratio for them.
    awk -v m="$mode" -v hb="$hb" -v hm="$hm" -v gb="$gb" -v gm="$gm" \
        'BEGIN { printf "%-8s %-6s %9.1fx %9.1fx %10s\n", m, "ratio", gb / hb, gm / hm, "-" }'
done
