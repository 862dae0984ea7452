//! The README lists the system calls the kernel implements. The list is
//! generated from the dispatch table (`guest-kernel/src/proc/syscall/mod.rs`)
//! and this test keeps it from drifting: it fails when they differ, and
//! `UPDATE_README=1 cargo test -p tests --test readme` writes the list
//! the table gives.

use std::path::PathBuf;

const BEGIN: &str = "<!-- syscalls:begin (generated: UPDATE_README=1 cargo test -p tests --test readme) -->\n";
const END: &str = "<!-- syscalls:end -->";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace").to_path_buf()
}

/// The numbers the dispatch `match` handles (each arm's `N` or `N | M`),
/// and `rt_sigreturn`, which is taken before it.
fn implemented() -> Vec<u64> {
    let src = std::fs::read_to_string(root().join("guest-kernel/src/proc/syscall/mod.rs")).expect("read the dispatch table");
    let start = src.find("let result = match nr {").expect("the dispatch match");
    let end = start + src[start..].find("_ => Err(unknown(nr))").expect("the match's end");
    let mut nrs: Vec<u64> = src[start..end]
        .lines()
        .filter_map(|l| l.trim().split_once("=>"))
        // An arm that answers ENOSYS (rseq) is a refusal, not a call.
        .filter(|(_, body)| !body.trim().starts_with("Err(ENOSYS)"))
        .map(|(pat, _)| pat.trim().to_owned())
        .flat_map(|pat| pat.split('|').map(|p| p.trim().parse::<u64>()).collect::<Vec<_>>())
        .filter_map(Result::ok)
        .collect();
    assert!(src.contains("if nr == 15 {"), "rt_sigreturn's early dispatch moved");
    nrs.push(15);
    nrs.sort_unstable();
    nrs.dedup();
    nrs
}

/// The README block: `name (number)` in number order, wrapped.
fn block(nrs: &[u64]) -> String {
    let mut out = format!("{} system calls, by x86-64 number:\n\n", nrs.len());
    let mut line = String::new();
    for (i, &nr) in nrs.iter().enumerate() {
        let name = shared::syscalls::name(nr).unwrap_or_else(|| panic!("system call {nr} has no name in shared::syscalls"));
        let item = format!("`{name}` ({nr}){}", if i + 1 < nrs.len() { "," } else { "." });
        if !line.is_empty() && line.len() + 1 + item.len() > 100 {
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&item);
    }
    out.push_str(&line);
    out.push('\n');
    out
}

#[test]
fn the_readme_lists_the_dispatch_tables_system_calls() {
    let path = root().join("README.md");
    let readme = std::fs::read_to_string(&path).expect("read README.md");
    let want = block(&implemented());
    let (Some(b), Some(e)) = (readme.find(BEGIN), readme.find(END)) else {
        panic!("README.md has no {BEGIN:?} ... {END:?} block");
    };
    let have = &readme[b + BEGIN.len()..e];
    if have != want {
        if std::env::var_os("UPDATE_README").is_some() {
            let updated = format!("{}{want}{}", &readme[..b + BEGIN.len()], &readme[e..]);
            std::fs::write(&path, updated).expect("write README.md");
            return;
        }
        panic!("README.md's system call list is out of date; run UPDATE_README=1 cargo test -p tests --test readme. It should read:\n{want}");
    }
}

#[test]
fn the_parser_finds_known_calls() {
    let nrs = implemented();
    for (nr, name) in [(0, "read"), (15, "rt_sigreturn"), (59, "execve"), (202, "futex"), (462, "mseal")] {
        assert!(nrs.contains(&nr), "{name} ({nr}) not found in the dispatch table");
    }
    assert!(!nrs.contains(&334), "rseq is refused (ENOSYS), not implemented");
}
