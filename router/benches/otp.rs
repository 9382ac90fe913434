//! Cost of finding the OTP code in a message text (`otp::extract`, built-in rule, no account
//! patterns): the six seed texts one by one, and a 160-character marketing-style text with
//! several numbers that needs the keyword rules.
//!
//! `cargo bench -p smpp-router -j2 --bench otp`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use smpp_router::otp;

const SEED: [&str; 6] = [
    "Your verification code is 482910",
    "OTP: 123456",
    "Use code 482910 to verify your account",
    "482910",
    "Your PIN is 9821",
    "code: 482-910",
];

/// 160 characters: an order number, a percentage, a date, a time, an amount, phone numbers and
/// the code; the order number makes the keyword rule decide.
const MARKETING: &str = "Order 77665544: 50% off until 12/02/2026 14:30, all orders from \
$1,234.56 ship free. Your Acme login code is 482910. Call us on 0800 123 456 or +1 415 555 1234.";

fn extract(c: &mut Criterion) {
    assert_eq!(MARKETING.chars().count(), 160);
    assert_eq!(otp::extract(MARKETING, &[]).as_deref(), Some("482910"));
    let mut group = c.benchmark_group("otp_extract");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    for (i, text) in SEED.iter().enumerate() {
        assert!(otp::extract(text, &[]).is_some(), "{text}");
        group.bench_function(format!("seed_{}", i + 1), |b| {
            b.iter(|| otp::extract(black_box(text), &[]))
        });
    }
    group.bench_function("marketing_160", |b| {
        b.iter(|| otp::extract(black_box(MARKETING), &[]))
    });
    group.finish();
}

criterion_group!(benches, extract);
criterion_main!(benches);
