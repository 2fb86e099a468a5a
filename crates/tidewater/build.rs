//! Links the `tidewater` executable at a fixed address (not position-independent) on Linux.
//!
//! Every command is a new process, and the binary carries DataFusion: as a PIE it holds
//! ~290,000 relative relocations that the loader applies at each start, writing ~5 MB of
//! pages (1,500 page faults, ~5 ms of CPU before `main`). Linked at a fixed address it has
//! none: `tidewater --version` takes ~1.5 ms of CPU instead of ~6.5 ms (BENCHMARKS.md). The
//! code is compiled position-independent as usual; only the final link changes, so address
//! randomization of the stack, heap and libraries stays, that of the executable's own code
//! does not (as with Go's default executables).

fn main() {
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let target_env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    // The `fixed-address` feature (on by default) is the switch.
    let is_wanted = std::env::var_os("CARGO_FEATURE_FIXED_ADDRESS").is_some();
    if is_wanted && target_os == "linux" && target_env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
