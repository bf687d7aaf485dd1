//! Test support: the recorded real-Drupal exchanges in
//! `tests/fixtures/drupal-jsonapi/cases`, and JSON written as Drupal (PHP)
//! writes it, for the readers' tests.

use serde_json::Value;

/// The response bodies of the recorded cases `keep` accepts (it sees the
/// whole case: request and response), with each case's file name.
pub fn recorded_bodies(keep: impl Fn(&Value) -> bool) -> Vec<(String, Value)> {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/drupal-jsonapi/cases"
    );
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("the recordings") {
        let path = entry.expect("a recording").path();
        let case: Value =
            serde_json::from_slice(&std::fs::read(&path).expect("readable")).expect("JSON");
        if keep(&case) {
            out.push((path.display().to_string(), case["response"]["body"].clone()));
        }
    }
    out
}

/// JSON as PHP's `json_encode` writes it by default, as Drupal does:
/// `/` escaped, everything beyond ASCII as `\u` escapes (pairs beyond
/// the BMP).
pub fn php_encoded(value: &Value) -> Vec<u8> {
    let text = serde_json::to_string(value).expect("serializable");
    let mut out = String::new();
    for c in text.chars() {
        match c {
            '/' => out.push_str("\\/"),
            c if c.is_ascii() => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.into_bytes()
}

/// `base` with each byte deleted, and replaced by and preceded by each of
/// a set of bytes that JSON gives meaning to (or forbids): the variants
/// the readers' corruption tests read both ways.
pub fn corruptions(base: &[u8]) -> Vec<Vec<u8>> {
    let bytes_to_try = b" \t\n\"\\{}[],:01-.eEtfnu\x01\x7f\xc3\xff/";
    let mut variants = Vec::new();
    for at in 0..base.len() {
        variants.push([&base[..at], &base[at + 1..]].concat());
        for &b in bytes_to_try {
            variants.push([&base[..at], &[b], &base[at + 1..]].concat());
            variants.push([&base[..at], &[b], &base[at..]].concat());
        }
    }
    variants
}
