//! The initramfs unpacker's archive reader on any bytes: entries or an
//! error that points inside the input, never a panic.
#![no_main]

use kernel::fs::cpio::Cpio;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    for item in Cpio::new(bytes) {
        if let Err(e) = item {
            assert!(e.offset <= bytes.len());
        }
    }
});
