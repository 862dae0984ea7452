//! The E820 sanitizer on any map the VMM (or firmware) could hand over:
//! the result is sorted, without overlaps or empty entries.
#![no_main]

use kernel::mm::e820::E820Table;
use libfuzzer_sys::fuzz_target;
use shared::boot::E820Entry;

fuzz_target!(|bytes: &[u8]| {
    let entries: Vec<E820Entry> = bytes
        .chunks_exact(20)
        .map(|c| {
            let addr = u64::from_le_bytes(c[0..8].try_into().unwrap());
            let size = u64::from_le_bytes(c[8..16].try_into().unwrap());
            let typ = u32::from_le_bytes(c[16..20].try_into().unwrap());
            E820Entry::new(addr, size, typ)
        })
        .collect();
    let mut t = E820Table::from_entries(&entries);
    t.sanitize();
    let e = t.entries();
    for w in e.windows(2) {
        assert!(w[0].addr.saturating_add(w[0].size) <= w[1].addr, "sorted, no overlap");
    }
    assert!(e.iter().all(|x| x.size > 0));
});
