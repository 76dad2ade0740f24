//! The `ddx` binary: everything happens in [`ddx::cli::main`].

fn main() {
    std::process::exit(ddx::cli::main());
}
