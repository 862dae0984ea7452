//! Builds the guest kernel for `x86_64-unknown-none` and tells the VMM where
//! it is (`GUEST_KERNEL_PATH`), so that `cargo run -- run` boots the kernel of
//! the same checkout.
//!
//! The kernel is built by a nested cargo into its own target directory
//! (`target/guest`), so the two builds never wait on each other's locks.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const KERNEL_TARGET: &str = "x86_64-unknown-none";
const KERNEL_PROFILE: &str = "kernel";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest_dir.parent().expect("vmm/ lives in the workspace root").to_path_buf();
    for watched in ["guest-kernel", "shared", ".cargo/config.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    ensure_target_installed(Path::new(&rustc));

    let target_dir = root.join("target").join("guest");
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(&root)
        .args(["build", "--package", "guest-kernel", "--bin", "guest-kernel"])
        .args(["--target", KERNEL_TARGET, "--profile", KERNEL_PROFILE])
        .arg("--target-dir")
        .arg(&target_dir)
        .stdout(Stdio::null());
    // The outer build's flags and target settings are for the host; the
    // kernel's come from .cargo/config.toml.
    clear_outer_settings(&mut cmd);
    let status = cmd.status().unwrap_or_else(|e| fail(&format!("cannot run {cargo:?} to build the guest kernel: {e}")));
    if !status.success() {
        fail("building the guest kernel failed (see the cargo output above)");
    }

    let kernel = target_dir.join(KERNEL_TARGET).join(KERNEL_PROFILE).join("guest-kernel");
    println!("cargo:rustc-env=GUEST_KERNEL_PATH={}", kernel.display());

    build_demo(&root, &cargo);
}

/// Builds the built-in init program (vmm/demo, its own workspace) as a
/// static non-PIE x86-64 ELF and tells the VMM where it is
/// (`DEMO_INIT_PATH`; the binary embeds it).
fn build_demo(root: &Path, cargo: &std::ffi::OsStr) {
    let dir = root.join("vmm").join("demo");
    println!("cargo:rerun-if-changed={}", dir.join("src").display());
    println!("cargo:rerun-if-changed={}", dir.join("Cargo.toml").display());
    let target_dir = root.join("target").join("demo");
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&dir).args(["build", "--release", "--target", KERNEL_TARGET]).arg("--target-dir").arg(&target_dir).stdout(Stdio::null());
    clear_outer_settings(&mut cmd);
    // A user program: linked at the default low address, not the kernel's
    // code model (RUSTFLAGS replaces .cargo/config.toml's kernel flags).
    cmd.env("RUSTFLAGS", "-C relocation-model=static");
    let status = cmd.status().unwrap_or_else(|e| fail(&format!("cannot run {cargo:?} to build the demo program: {e}")));
    if !status.success() {
        fail("building the demo program (vmm/demo) failed (see the cargo output above)");
    }
    let demo = target_dir.join(KERNEL_TARGET).join("release").join("rvmm-demo");
    println!("cargo:rustc-env=DEMO_INIT_PATH={}", demo.display());
}

/// Removes the outer build's host settings from a nested cargo's
/// environment (the nested builds take theirs from their own config).
fn clear_outer_settings(cmd: &mut Command) {
    for (key, _) in env::vars_os() {
        let key = key.to_string_lossy();
        let outer_setting = key.starts_with("CARGO_BUILD_")
            || key.starts_with("CARGO_PROFILE_")
            || key.starts_with("CARGO_TARGET_")
            || matches!(&*key, "CARGO_ENCODED_RUSTFLAGS" | "RUSTFLAGS" | "RUSTC_WRAPPER" | "RUSTC_WORKSPACE_WRAPPER");
        if outer_setting {
            cmd.env_remove(&*key);
        }
    }
}

/// The kernel needs the `x86_64-unknown-none` standard library. Install it
/// with rustup when it is missing (rustup does not do so by itself when
/// `RUSTUP_AUTO_INSTALL=0`), or stop with the one command that fixes it.
fn ensure_target_installed(rustc: &Path) {
    let installed = || {
        Command::new(rustc)
            .args(["--print", "target-libdir", "--target", KERNEL_TARGET])
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| {
                PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("libcore.rlib").exists()
                    || std::fs::read_dir(String::from_utf8_lossy(&out.stdout).trim())
                        .map(|d| d.flatten().any(|e| e.file_name().to_string_lossy().starts_with("libcore-")))
                        .unwrap_or(false)
            })
            .unwrap_or(false)
    };
    if installed() {
        return;
    }
    println!("cargo:warning=installing the {KERNEL_TARGET} target with rustup (needed for the guest kernel)");
    let added = Command::new("rustup").args(["target", "add", KERNEL_TARGET]).stdout(Stdio::null()).status().map(|s| s.success()).unwrap_or(false);
    if !added || !installed() {
        fail(&format!("the {KERNEL_TARGET} target is missing: run `rustup target add {KERNEL_TARGET}`"));
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(1);
}
