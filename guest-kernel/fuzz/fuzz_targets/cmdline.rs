//! The kernel command line: any text parses and answers lookups.
#![no_main]

use kernel::cmdline::{memparse, Cmdline};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = core::str::from_utf8(bytes) else { return };
    let c = Cmdline::parse(text);
    for word in text.split_ascii_whitespace().take(8) {
        let key = word.split('=').next().unwrap_or(word);
        if let Some(v) = c.get(key) {
            assert!(c.as_str().contains(v));
            let _ = memparse(v);
        }
        let _ = c.has(key);
    }
    assert!(c.init_args().all(|a| !a.is_empty()));
});
