#![no_main]
use libfuzzer_sys::fuzz_target;

// The TokenX webhook, envelope and result parsers (first byte picks the parser).
fuzz_target!(|data: &[u8]| {
    okclink::fiscal::tokenx::api::fuzzing::tokenx(data);
});
