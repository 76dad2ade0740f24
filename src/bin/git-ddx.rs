//! `git-ddx`: the same CLI, so that `git ddx …` works once it is on PATH.

fn main() {
    std::process::exit(ddx::cli::main());
}
