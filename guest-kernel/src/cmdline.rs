//! The kernel command line: space-separated `key=value` words and flags,
//! then, after `--`, the arguments for init (as in Linux).

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
