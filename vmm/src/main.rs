//! `vmm`: see `vmm --help` and the README.

fn main() {
    let code = vmm::cli::main_with_args(std::env::args_os(), Box::new(std::io::stdout()), &mut std::io::stderr());
    std::process::exit(code);
}
