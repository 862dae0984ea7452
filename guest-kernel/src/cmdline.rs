//! The kernel command line: space-separated `key=value` words and flags,
//! then, after `--`, the arguments for init (as in Linux).

/// The command line as the VMM gave it (Linux `saved_command_line`).
static SAVED: crate::sync::Once<&'static str> = crate::sync::Once::new();

/// Keeps the boot command line for `/proc/cmdline` (once, at boot).
pub fn save(line: &'static str) {
    let _ = SAVED.set(line);
}

/// The kernel command line (`/proc/cmdline`); empty before boot saved it.
pub fn saved_command_line() -> &'static str {
    SAVED.get().copied().unwrap_or("")
}

/// A parsed view of the command line; borrows the text.
#[derive(Clone, Copy, Debug)]
pub struct Cmdline<'a> {
    kernel: &'a str,
    init_args: &'a str,
}

impl<'a> Cmdline<'a> {
    pub fn parse(line: &'a str) -> Self {
        let line = line.trim();
        match line.split_once(" -- ").or_else(|| line.strip_prefix("-- ").map(|rest| ("", rest))) {
            Some((kernel, init)) => Self { kernel: kernel.trim(), init_args: init.trim() },
            None if line == "--" => Self { kernel: "", init_args: "" },
            None => Self { kernel: line, init_args: "" },
        }
    }

    /// The kernel's part of the line.
    pub fn as_str(&self) -> &'a str {
        self.kernel
    }

    /// The value of the last `key=value` word for `key`.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.kernel.split_ascii_whitespace().filter_map(|w| w.split_once('=')).filter(|(k, _)| *k == key).map(|(_, v)| v).next_back()
    }

    /// The values of every `key=value` word for `key`, in order (keys
    /// that may be given several times, as `virtio_mmio.device`).
    pub fn get_all<'k>(&self, key: &'k str) -> impl Iterator<Item = &'a str> + 'k
    where
        'a: 'k,
    {
        self.kernel.split_ascii_whitespace().filter_map(|w| w.split_once('=')).filter(move |(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Whether `flag` appears as a bare word or as `flag=...`.
    pub fn has(&self, flag: &str) -> bool {
        self.kernel.split_ascii_whitespace().any(|w| w == flag || w.split_once('=').is_some_and(|(k, _)| k == flag))
    }

    /// Words the kernel's parser does not know are the caller's business;
    /// these are the arguments after `--`.
    pub fn init_args(&self) -> impl Iterator<Item = &'a str> {
        self.init_args.split_ascii_whitespace()
    }
}

/// A virtio-mmio device as Linux's `virtio_mmio.device=` names one:
/// `<size>@<base>:<irq>` (`4K@0xd0001000:16`; a trailing `:<id>` is
/// allowed and ignored). `None` for anything else.
pub fn parse_virtio_mmio_device(value: &str) -> Option<(u64, u64, u32)> {
    let (size, rest) = value.split_once('@')?;
    let mut parts = rest.split(':');
    let base = memparse(parts.next()?)?;
    let irq = parts.next()?.parse().ok()?;
    let size = memparse(size)?;
    (size > 0 && base % 4096 == 0).then_some((size, base, irq))
}

/// Linux `memparse`: a number (decimal or `0x` hex) with an optional
/// K/M/G/T suffix (binary units).
pub fn memparse(s: &str) -> Option<u64> {
    let (digits, shift) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 10),
        b'm' | b'M' => (&s[..s.len() - 1], 20),
        b'g' | b'G' => (&s[..s.len() - 1], 30),
        b't' | b'T' => (&s[..s.len() - 1], 40),
        _ => (s, 0),
    };
    let value = match digits.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok()?,
        None => digits.parse::<u64>().ok()?,
    };
    value.checked_mul(1 << shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memparse_like_linux() {
        assert_eq!(memparse("1G"), Some(1 << 30));
        assert_eq!(memparse("1536M"), Some(1536 << 20));
        assert_eq!(memparse("0x1000"), Some(4096));
        assert_eq!(memparse("64k"), Some(65536));
        assert_eq!(memparse("lots"), None);
        assert_eq!(memparse(""), None);
    }

    #[test]
    fn keys_flags_and_init_args() {
        let c = Cmdline::parse(" test=panic memblock=debug quiet test=oops -- a b  c ");
        assert_eq!(c.get("test"), Some("oops"));
        assert_eq!(c.get("memblock"), Some("debug"));
        assert_eq!(c.get("nothing"), None);
        assert!(c.has("quiet") && c.has("memblock") && !c.has("a"));
        assert_eq!(c.init_args().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(Cmdline::parse("-- x").init_args().count(), 1);
        assert_eq!(Cmdline::parse("").get("x"), None);
    }

    mod fuzz {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2048, failure_persistence: None, ..ProptestConfig::default() })]

            /// The VMM's user writes the command line; any text parses,
            /// and every lookup answers without a panic.
            #[test]
            fn any_text_parses(line in "\\PC{0,80}", key in "[a-z_=-]{0,8}") {
                let c = Cmdline::parse(&line);
                let _ = (c.get(&key), c.has(&key), c.as_str());
                let args: Vec<&str> = c.init_args().collect();
                prop_assert!(args.iter().all(|a| !a.is_empty()));
                if let Some(v) = c.get(&key) {
                    prop_assert!(c.as_str().contains(v));
                }
            }

            #[test]
            fn memparse_never_panics_and_never_wraps(s in "(0x)?[0-9a-fA-F]{0,20}[kKmMgGtT]?") {
                if let Some(v) = memparse(&s) {
                    let digits = s.trim_end_matches(|c: char| "kKmMgGtT".contains(c));
                    let plain = match digits.strip_prefix("0x") {
                        Some(h) => u64::from_str_radix(h, 16).ok(),
                        None => digits.parse::<u64>().ok(),
                    };
                    prop_assert!(plain.is_some_and(|p| v >= p));
                }
            }
        }
    }

    #[test]
    fn virtio_mmio_devices_are_named_as_linux_names_them() {
        assert_eq!(parse_virtio_mmio_device("4K@0xd0001000:16"), Some((4096, 0xd000_1000, 16)));
        assert_eq!(parse_virtio_mmio_device("0x1000@0xd0002000:17:3"), Some((4096, 0xd000_2000, 17)));
        for bad in ["4K", "4K@", "4K@0xd0001000", "4K@0xd0001001:1", "0@0x1000:1", "4K@x:1", "4K@0x1000:x"] {
            assert_eq!(parse_virtio_mmio_device(bad), None, "{bad}");
        }
        let c = Cmdline::parse("a=1 virtio_mmio.device=4K@0x1000:1 b virtio_mmio.device=4K@0x2000:2 -- x");
        assert_eq!(c.get_all("virtio_mmio.device").collect::<Vec<_>>(), ["4K@0x1000:1", "4K@0x2000:2"]);
    }
}
