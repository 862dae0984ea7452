#!/usr/bin/env bash
# A long campaign of the syscall fuzzer (tests/guest/fuzz.c) as init in the
# guest, with the kernel's debug options on. Prints one line per seed and a
# summary; keeps the full output of every failing seed in $OUT.
#
#   tests/scripts/fuzz-campaign.sh [FIRST_SEED] [SEEDS] [CALLS_PER_SEED]
#
# CMDLINE overrides the kernel's debug options (default: slub_debug=1
# page_debug=1 selftest=rmapcheck; add page_poison=1 to catch writes into
# freed pages).
#
# Defaults: seeds 1..20, 2000 calls each (40,000 calls; about 1 h where
# guest ring 0 is emulated, minutes on a VMX/SVM host). Needs /dev/kvm and
# the built tree (cargo build --release; cargo test --no-run builds the
# fuzzer).
set -euo pipefail
cd "$(dirname "$0")/../.."

first=${1:-1}
seeds=${2:-20}
calls=${3:-2000}
OUT=${OUT:-target/fuzz-campaign}
CMDLINE=${CMDLINE:-slub_debug=1 page_debug=1 selftest=rmapcheck}
mkdir -p "$OUT"

. tests/scripts/lib.sh
fuzz=$(guest_program fuzz)

total=0
bad=0
for ((seed = first; seed < first + seeds; seed++)); do
    log="$OUT/seed-$seed"
    start=$(date +%s)
    set +e
    "$vmm" run --mem 256M --timeout 3600 --cmdline "$CMDLINE" \
        --init "$fuzz" -- --seed "$seed" --calls "$calls" >"$log.out" 2>"$log.err"
    code=$?
    set -e
    secs=$(($(date +%s) - start))
    total=$((total + calls))
    problems=$(grep -cE "BUG|Oops|panic|LEAK|FAILED|Bad page" "$log.err" || true)
    findings=$(grep -c "FINDING" "$log.out" || true)
    if [ "$code" -ne 0 ] || [ "$problems" -ne 0 ] || [ "$findings" -ne 0 ]; then
        bad=$((bad + 1))
        echo "seed $seed: exit $code, $findings findings, $problems kernel reports (${secs}s) -> $log.{out,err}"
    else
        echo "seed $seed: ok, $calls calls (${secs}s)"
        rm -f "$log.out" "$log.err"
    fi
done
echo "campaign: seeds $first..$((first + seeds - 1)), $total calls, $bad failing seed(s)"
[ "$bad" -eq 0 ]
