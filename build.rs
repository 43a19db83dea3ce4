//! Build script: on Linux targets, compile the vendor-ABI C++ shim (`src/ffi/vendor_linux.cpp`,
//! the nine `extern "C"` functions of the vendor's `IntegrationHubWrapper.h` with libstdc++
//! `std::string` by value) over the `okc_*` C API. `cc` bundles it into the crate, so it ends
//! up inside `libokclink.a`; it is never exported from `libokclink.so` (rustc's version script
//! only exports `#[no_mangle]` Rust items). `scripts/link-vendor-linux.sh` links
//! `libIntegrationHub.so` from that archive with the vendor's export list.
//! Other targets need nothing here (no mingw unless cross-compiling for Windows).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/ffi/vendor_linux.cpp");
    println!("cargo:rerun-if-changed=include/okclink.h");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" {
        cc::Build::new()
            .cpp(true)
            // libstdc++ is linked by the final libIntegrationHub.so link, not by every
            // Rust artifact of the crate.
            .cpp_link_stdlib(None)
            .file("src/ffi/vendor_linux.cpp")
            .include("include")
            .flag_if_supported("-std=c++11")
            .flag_if_supported("-fvisibility=hidden")
            .warnings(true)
            .extra_warnings(true)
            .compile("okc_vendor_shim");
    }
}
