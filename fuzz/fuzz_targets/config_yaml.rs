//! The configuration loader: YAML parsing, `${…}` expansion, merging, typed component configs and
//! graph validation. Any text must give a plan or errors, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // `${file:…}` reads the file system (a fuzzer would find /dev/zero); configs are trusted input,
    // files are not what is being tested here.
    if text.contains("file:") {
        return;
    }
    let sets: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("#set "))
        .map(str::to_string)
        .collect();
    if let Ok((merged, sources)) = ferrotel::config::load(&[format!("yaml:{text}")], &sets) {
        let _ = ferrotel::pipeline::graph::plan_with(&ferrotel::components::builtin(), &merged, &sources);
    }
});
