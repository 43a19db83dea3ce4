#![no_main]
use libfuzzer_sys::fuzz_target;

// The nexo Retailer XML readers (request and response), the writers (a parsed message
// re-written reads back equal) and the Base64 JSON receipt decoder.
fuzz_target!(|data: &[u8]| {
    okclink::pay::nexo::msg::fuzzing::xml(data);
});
