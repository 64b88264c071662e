//! The OTTL parser and compiler on arbitrary text: never a panic, and whatever parses prints to text
//! that parses to the same printed form.
#![no_main]

use ferrotel::ottl::{self, ContextKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(st) = ottl::parse_statement(text) {
        let printed = st.to_string();
        let again = ottl::parse_statement(&printed).expect("printed statement parses");
        assert_eq!(again.to_string(), printed);
        let _ = ottl::compile_statement(text, ContextKind::Span);
        let _ = ottl::compile_statement(text, ContextKind::DataPoint);
    }
    if let Ok(c) = ottl::parse_condition(text) {
        let printed = c.to_string();
        let again = ottl::parse_condition(&printed).expect("printed condition parses");
        assert_eq!(again.to_string(), printed);
        let _ = ottl::compile_condition(text, ContextKind::Log);
    }
});
