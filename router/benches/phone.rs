//! Throughput of destination validation on an international mix (`phone_mix.txt`): the router's
//! `phone::validate` (rlibphonenumber) and the `phonenumber` 0.3 crate side by side, plus the
//! first-call (metadata load) cost of rlibphonenumber, printed before the measurements.
//!
//! `cargo bench -p smpp-router -j2 --bench phone`. The target is 200,000 validations/s per core.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use smpp_router::phone;

/// Numbers of the mix, E.164 digits without '+' (comments and trailing notes dropped).
fn mix() -> Vec<&'static str> {
    include_str!("phone_mix.txt")
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_whitespace().next())
        .collect()
}

/// The first calls in this process, before anything else touched the metadata: one number
/// (loads `PHONE_NUMBER_UTIL`), then a pass over the mix (compiles each region's patterns) and a
/// second pass for comparison.
fn print_first_call_cost(mix: &[&str]) {
    let started = Instant::now();
    let first = phone::validate(b"14155551234");
    let first_call = started.elapsed();
    assert!(first.is_ok());
    let pass = || {
        let started = Instant::now();
        let valid = mix
            .iter()
            .filter(|d| phone::validate(d.as_bytes()).is_ok())
            .count();
        (started.elapsed(), valid)
    };
    let (first_pass, valid) = pass();
    let (second_pass, _) = pass();
    println!(
        "rlibphonenumber first call (metadata load + one number): {first_call:?}; \
         first pass over the mix ({} numbers, {valid} valid): {first_pass:?}; second pass: {second_pass:?}",
        mix.len()
    );
}

fn validate_mix(c: &mut Criterion) {
    let mix = mix();
    print_first_call_cost(&mix);
    // `phonenumber` parses text; build the "+"-prefixed strings outside the measurement.
    let plus: Vec<String> = mix.iter().map(|d| format!("+{d}")).collect();

    let mut group = c.benchmark_group("phone_validate_mix");
    group.throughput(Throughput::Elements(mix.len() as u64));
    // A `phonenumber` pass takes ~0.3 s: few, flat samples keep the run to ~25 s.
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(2));
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("rlibphonenumber", |b| {
        b.iter(|| {
            mix.iter()
                .filter(|d| phone::validate(black_box(d.as_bytes())).is_ok())
                .count()
        });
    });
    group.bench_function("phonenumber_0.3", |b| {
        b.iter(|| {
            plus.iter()
                .filter(|t| {
                    phonenumber::parse(None, black_box(t.as_str()))
                        .is_ok_and(|n| phonenumber::is_valid(&n))
                })
                .count()
        });
    });
    group.finish();
}

criterion_group!(benches, validate_mix);
criterion_main!(benches);
