//! Any text as libvirt network XML: `netagent import-libvirt` imports it or
//! says why not, never panics; and whatever it prints passes the check (the
//! importer checks before it prints, so an Ok that fails would be a bug).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(xml) = std::str::from_utf8(data) else { return };
    if let Ok(out) = netagent::libvirt::import(
        &[("fuzz.xml".to_string(), xml.to_string())],
        &std::collections::HashMap::new(),
    ) {
        assert!(netagent::config::parse(&out.toml, "imported.toml").is_ok());
    }
});
