//! Any text as a config file: `netagent check` reports problems, it never
//! panics; and whatever it accepts plans without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else { return };
    if let Ok(cfg) = netagent::config::parse(src, "fuzz.toml") {
        let _ = netagent::plan::plan(&cfg).to_string();
    }
});
