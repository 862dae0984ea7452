//! The stats channel's wire decoders on any bytes a guest could write.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok((h, p)) = shared::stats::decode(bytes) {
        let again = shared::stats::encode(h.seq, h.guest_ns, &p).expect("a decoded payload encodes");
        assert_eq!(shared::stats::decode(&again).expect("and decodes again").1, p);
    }
    let _ = shared::stats::decode_command(bytes);
});
