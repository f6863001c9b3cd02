//! PII guardrail throughput on one core: scanning and redacting a few MB of support-ticket-like
//! text with e-mail addresses, phone numbers, card numbers (valid and not), IBANs, IPs and SSNs
//! sprinkled in. Prints MB/s; asserts nothing. Target: ≥ 50 MB/s.

use std::hint::black_box;
use std::time::Instant;

use portolan::guardrails::{PiiAction, PiiConfig, PiiScanner, Redactions};

fn corpus(bytes: usize) -> String {
    let filler = [
        "The export button does nothing when I click it after the update, and the log shows a timeout.",
        "We tried again on Tuesday with the same result; our team of 12 needs this fixed before 3 pm.",
        "Version 2.14.3 on macOS 14 with 16 GB of memory; the report has 1,024 rows and 18 columns.",
        "Please call back or write when you have news; the order number is 4111111111111112.",
    ];
    let pii = [
        "Reach me at jane.doe@example.com.",
        "My phone is +1 415 555 0100.",
        "Card 4111 1111 1111 1111 was charged twice.",
        "Refund to DE89 3704 0044 0532 0130 00 please.",
        "The server at 192.168.10.24 rejected it.",
        "SSN on file: 123-45-6789.",
    ];
    let mut out = String::with_capacity(bytes + 256);
    let mut i = 0usize;
    while out.len() < bytes {
        out.push_str(filler[i % filler.len()]);
        out.push(' ');
        if i.is_multiple_of(3) {
            out.push_str(pii[(i / 3) % pii.len()]);
            out.push(' ');
        }
        if i % 8 == 7 {
            out.push('\n');
        }
        i += 1;
    }
    out
}

fn main() {
    let text = corpus(8 * 1024 * 1024);
    let mb = text.len() as f64 / (1024.0 * 1024.0);
    let scanner = PiiScanner::new(&PiiConfig::new(PiiAction::Redact)).expect("scanner");
    println!("PII guardrail benchmark: {mb:.1} MB of text, one thread");
    let _ = scanner.scan(&text[..100_000]);
    let t = Instant::now();
    let mut findings = 0;
    let rounds = 3;
    for _ in 0..rounds {
        findings = black_box(scanner.scan(black_box(&text))).len();
    }
    let scan = mb * rounds as f64 / t.elapsed().as_secs_f64();
    println!(
        "{:<40} {scan:>8.1} MB/s   ({findings} findings)",
        "detect (scan only)"
    );
    let t = Instant::now();
    for _ in 0..rounds {
        let mut r = Redactions::default();
        black_box(r.redact(&scanner, black_box(&text)));
    }
    let redact = mb * rounds as f64 / t.elapsed().as_secs_f64();
    println!("{:<40} {redact:>8.1} MB/s", "redact (scan + replace)");
    println!(
        "target: >= 50 MB/s: {}",
        if redact >= 50.0 { "met" } else { "NOT met" }
    );
}
