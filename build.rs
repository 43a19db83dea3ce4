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
    check_system_libusb(&os);
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

/// With the `usb` feature and without `vendored-libusb`, a Linux build links the system
/// libusb-1.0. libusb1-sys looks for it with pkg-config and, when it is not found, quietly
/// compiles its bundled copy instead; it reports that to dependents as
/// `DEP_USB_1.0_VENDORED=1` (its `links = "usb-1.0"` metadata, visible here because libusb1-sys
/// is a direct dependency, whose build script therefore runs first). Turn that into an error.
fn check_system_libusb(os: &str) {
    println!("cargo:rerun-if-env-changed=DEP_USB_1.0_VENDORED");
    let usb = std::env::var_os("CARGO_FEATURE_USB").is_some();
    let vendored = std::env::var_os("CARGO_FEATURE_VENDORED_LIBUSB").is_some();
    if os != "linux" || !usb || vendored {
        return;
    }
    if std::env::var("DEP_USB_1.0_VENDORED").as_deref() != Ok("1") {
        return;
    }
    let found_now = std::process::Command::new("pkg-config")
        .args(["--exists", "libusb-1.0"])
        .status()
        .is_ok_and(|s| s.success());
    if found_now {
        fail(
            "libusb1-sys was built with its bundled libusb because libusb-1.0 was not found \
             when it was built; it is installed now: run `cargo clean -p libusb1-sys` and build \
             again (or build with --features vendored-libusb to keep the bundled copy)",
        );
    }
    fail(
        "libusb-1.0 development files not found: install libusb-1.0-0-dev (Debian/Ubuntu) \
         and pkg-config, or build with --features vendored-libusb",
    );
}

/// Stop the build with `message` (shown by cargo under "failed to run custom build command").
fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1);
}
