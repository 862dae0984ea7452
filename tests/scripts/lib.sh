# Shared by the scripts here (sourced, from the repository root).

# The release VMM, built if missing.
vmm=target/release/vmm
[ -x "$vmm" ] || cargo build --release

# The newest build of the guest program NAME (tests/guest/NAME.c),
# building the test programs if there is none.
guest_program() {
    local found
    found=$(ls -t target/debug/build/tests-*/out/guest/"$1" 2>/dev/null | head -1 || true)
    if [ -z "$found" ]; then
        cargo test -p tests --no-run >/dev/null
        found=$(ls -t target/debug/build/tests-*/out/guest/"$1" | head -1)
    fi
    echo "$found"
}
