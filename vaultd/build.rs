//! Lays out the release binary's code so that what start-up, unsealing and
//! everyday requests run sits together at the front of `.text`.
//!
//! The kernel maps a binary's code into a process in 64 KiB runs around each
//! page first touched, so code scattered among functions the daemon never
//! calls keeps most of the file resident. `symbol-order.txt` (written by
//! `scripts/symbol-order` from a callgrind run) lists the functions that run,
//! those of start-up and unsealing first, and the linker places them in that
//! order; the rest follows. Names that no longer exist are skipped, so a
//! stale list costs memory, never correctness.
//!
//! rust-lld, this target's default linker, takes the list; with a linker
//! that does not (GNU ld), build with `VAULTD_SYMBOL_ORDER=off`.

fn main() {
    println!("cargo::rerun-if-changed=symbol-order.txt");
    println!("cargo::rerun-if-env-changed=VAULTD_SYMBOL_ORDER");
    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    let target = std::env::var("TARGET").unwrap_or_default();
    let off = std::env::var("VAULTD_SYMBOL_ORDER").is_ok_and(|v| v == "off");
    if !release || off || target != "x86_64-unknown-linux-gnu" {
        return;
    }
    let Ok(dir) = std::env::var("CARGO_MANIFEST_DIR") else {
        return;
    };
    let list = std::path::Path::new(&dir).join("symbol-order.txt");
    if list.exists() {
        println!(
            "cargo::rustc-link-arg-bin=vaultd=-Wl,--symbol-ordering-file={}",
            list.display()
        );
        println!("cargo::rustc-link-arg-bin=vaultd=-Wl,--no-warn-symbol-ordering");
    }
}
