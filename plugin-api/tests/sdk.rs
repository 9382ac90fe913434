//! The SDK through the C ABI: a small plugin driven by the test host, panics caught at the
//! boundary, descriptors checked, and proof that an uncaught panic in an `extern "C"` function
//! aborts the process (which is why every exported function catches them).

#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::Duration;

use smpp_router_plugin_api::abi::{self, AbiMismatch, SrpPlugin};
use smpp_router_plugin_api::testing::{TestError, TestHost, TestMessage};
use smpp_router_plugin_api::{
    Completion, Health, Host, Level, Message, Outcome, Plugin, Receipt, State,
};

/// Behaves by destination: `+1000…` accepted with a later receipt, `+2000…` refused, `+3000…`
/// panics, `+4000…` completes from another thread, `+5000…` drops the completion.
struct Scripted {
    host: Host,
    down: bool,
}

impl Plugin for Scripted {
    fn create(config: &str, host: Host) -> Result<Self, String> {
        if config.contains("fail") {
            return Err("bad config: fail requested".into());
        }
        if config.contains("panic") {
            panic!("create exploded");
        }
        host.log(Level::Info, "started");
        host.count("Not-A-Valid-Name", 1.0);
        Ok(Self {
            host,
            down: config.contains("down"),
        })
    }

    fn submit(&self, message: Message<'_>, completion: Completion) {
        self.host.count("submits", 1.0);
        let d = message.destination;
        if d.starts_with("+1000") {
            let id = format!("x-{}", message.id);
            completion.accepted(id.clone());
            let _ = self.host.emit_receipt(&Receipt {
                message_id: id,
                state: State::Delivered,
                error: 0,
            });
        } else if d.starts_with("+2000") {
            completion.complete(Outcome::Refused(0x0B));
        } else if d.starts_with("+3000") {
            panic!("submit exploded");
        } else if d.starts_with("+6000") {
            // A worker that panics after taking the message: it may have gone out.
            std::thread::spawn(move || {
                let _held = completion;
                panic!("worker exploded after sending");
            });
        } else if d.starts_with("+7000") {
            completion.accepted("x".repeat(abi::MAX_MESSAGE_ID + 1));
        } else if d.starts_with("+8000") {
            let _ = self.host.emit_receipt(&Receipt {
                message_id: "never-accepted".into(),
                state: State::Delivered,
                error: 0,
            });
            completion.complete(Outcome::Refused(0x0B));
        } else if d.starts_with("+9000") {
            std::thread::sleep(Duration::from_millis(30));
            completion.accepted(String::new());
        } else if d.starts_with("+4000") {
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                completion.complete(Outcome::Accepted {
                    message_id: String::new(),
                    final_state: Some(State::Delivered),
                });
            });
        } else {
            drop(completion);
        }
    }

    fn health(&self) -> Health {
        if self.down { Health::Down } else { Health::Up }
    }
}

#[test]
fn outcomes_receipts_logs_and_metrics_cross_the_abi() {
    let host = TestHost::start::<Scripted>("{}").unwrap();
    let msg = TestMessage::new("+10001234567", "hello");
    let outcome = host.submit(&msg).unwrap();
    assert_eq!(
        outcome,
        Outcome::Accepted {
            message_id: format!("x-{}", msg.id),
            final_state: None
        }
    );
    let receipt = host.wait_receipt(Duration::from_secs(1)).unwrap();
    assert_eq!(receipt.message_id, format!("x-{}", msg.id));
    assert_eq!(receipt.state, State::Delivered);

    assert_eq!(
        host.submit(&TestMessage::new("+20001234567", "x")).unwrap(),
        Outcome::Refused(0x0B)
    );
    assert_eq!(
        host.submit(&TestMessage::new("+40001234567", "x")).unwrap(),
        Outcome::Accepted {
            message_id: String::new(),
            final_state: Some(State::Delivered)
        }
    );
    assert_eq!(
        host.submit(&TestMessage::new("+50001234567", "x")).unwrap(),
        Outcome::Unknown,
        "a dropped completion reports an unknown outcome"
    );
    assert_eq!(
        host.submit(&TestMessage::new("+60001234567", "x")).unwrap(),
        Outcome::Unknown,
        "a completion dropped by a panic outside submit: the message may have gone out"
    );
    assert_eq!(host.metric("submits"), Some(5.0));
    assert_eq!(host.invalid_metrics(), 1, "names must be [a-z0-9_]");
    assert_eq!(host.stray_completions(), 0);
    assert!(host.logs().contains(&(Level::Info, "started".to_string())));
    assert_eq!(host.health().unwrap(), Health::Up);
}

/// What the router would punish, the test host points out: an id too long to keep, a receipt
/// for an id nothing was accepted with, a `submit` that blocks.
#[test]
fn the_test_host_flags_what_the_router_would_refuse() {
    let host = TestHost::start::<Scripted>("{}").unwrap();
    host.submit(&TestMessage::new("+10001234567", "fine"))
        .unwrap();
    assert_eq!(
        (
            host.invalid_message_ids(),
            host.unknown_receipts(),
            host.slow_submits()
        ),
        (0, 0, 0)
    );
    host.submit(&TestMessage::new("+70001234567", "x")).unwrap();
    assert_eq!(host.invalid_message_ids(), 1);
    host.submit(&TestMessage::new("+80001234567", "x")).unwrap();
    assert_eq!(host.unknown_receipts(), 1);
    // Taking the bad receipt does not make it good.
    while host.wait_receipt(Duration::from_millis(200)).is_some() {}
    assert_eq!(host.unknown_receipts(), 1, "a receipt taken still counts");
    host.submit(&TestMessage::new("+90001234567", "x")).unwrap();
    assert_eq!(host.slow_submits(), 1);
}

#[test]
fn a_panic_in_submit_is_caught_and_reported() {
    let host = TestHost::start::<Scripted>("{}").unwrap();
    let err = host
        .submit(&TestMessage::new("+30001234567", "x"))
        .unwrap_err();
    assert_eq!(err, TestError::Panicked);
    assert_eq!(host.slow_submits(), 0, "a panic is not a slow submit");
    // One line through the host, with the panic's place and no backtrace (even with
    // RUST_BACKTRACE=1 in the environment: capturing one stalled the router's thread).
    let line = host
        .logs()
        .into_iter()
        .find(|(l, t)| *l == Level::Error && t.contains("submit exploded"));
    let (_, line) = line.unwrap_or_else(|| panic!("{:?}", host.logs()));
    assert!(
        line.starts_with("plugin panicked in submit: submit exploded (at ")
            && line.contains("sdk.rs:")
            && !line.contains('\n'),
        "{line}"
    );
    // The instance still answers afterwards (the router disables it; the ABI stays sound).
    assert_eq!(
        host.submit(&TestMessage::new("+20001234567", "x")).unwrap(),
        Outcome::Refused(0x0B)
    );
}

#[test]
fn create_errors_and_panics_are_reported() {
    match TestHost::start::<Scripted>(r#"{"mode":"fail"}"#) {
        Err(TestError::Create(why)) => assert_eq!(why, "bad config: fail requested"),
        other => panic!("{:?}", other.err()),
    }
    assert_eq!(
        TestHost::start::<Scripted>(r#"{"mode":"panic"}"#).err(),
        Some(TestError::Panicked)
    );
    let down = TestHost::start::<Scripted>(r#"{"mode":"down"}"#).unwrap();
    assert_eq!(down.health().unwrap(), Health::Down);
}

fn descriptor(major: u16, minor: u16, size: u32) -> SrpPlugin {
    let mut d =
        smpp_router_plugin_api::export::descriptor::<Scripted>(c"t".as_ptr(), c"0".as_ptr());
    d.abi_major = major;
    d.abi_minor = minor;
    d.struct_size = size;
    d
}

#[test]
fn descriptors_of_other_versions_are_refused_by_the_policy() {
    let full = abi::size_of_u32::<SrpPlugin>();
    let check = |d: &SrpPlugin| unsafe { abi::check_descriptor(d) }.map(|_| ());
    assert_eq!(check(&descriptor(abi::ABI_MAJOR, 0, full)), Ok(()));
    assert_eq!(
        check(&descriptor(abi::ABI_MAJOR + 1, 0, full)),
        Err(AbiMismatch::Major {
            plugin: (abi::ABI_MAJOR + 1, 0)
        })
    );
    assert_eq!(
        check(&descriptor(abi::ABI_MAJOR, abi::ABI_MINOR + 1, full)),
        Err(AbiMismatch::Minor {
            plugin: (abi::ABI_MAJOR, abi::ABI_MINOR + 1)
        })
    );
    assert_eq!(
        check(&descriptor(abi::ABI_MAJOR, 0, 8)),
        Err(AbiMismatch::Size { plugin: 8 })
    );
    assert_eq!(
        unsafe { abi::check_descriptor(std::ptr::null()) }.map(|_| ()),
        Err(AbiMismatch::Null)
    );
    let text = AbiMismatch::Major { plugin: (2, 0) }.to_string();
    let host = format!("{}.{}", abi::ABI_MAJOR, abi::ABI_MINOR);
    assert!(text.contains("2.0") && text.contains(&host), "{text}");
}

/// An `extern "C"` function without the SDK's guard.
extern "C" fn unguarded() -> i32 {
    panic!("unwinding into C");
}

const CHILD: &str = "SRP_ABORT_CHILD";

#[test]
fn child_process_body() {
    // Runs only as the child of the test below.
    match std::env::var(CHILD).as_deref() {
        Ok("unguarded") => {
            unguarded();
        }
        Ok("guarded") => {
            let host = TestHost::start::<Scripted>("{}").unwrap();
            let err = host.submit(&TestMessage::new("+30001234567", "x"));
            assert_eq!(err, Err(TestError::Panicked));
            println!("survived");
        }
        _ => {}
    }
}

#[test]
fn a_panic_escaping_extern_c_aborts_the_process_and_the_sdk_prevents_it() {
    let exe = std::env::current_exe().unwrap();
    let run = |mode: &str| {
        Command::new(&exe)
            .args([
                "--exact",
                "child_process_body",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, mode)
            .output()
            .unwrap()
    };
    let unguarded = run("unguarded");
    assert!(!unguarded.status.success());
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            unguarded.status.signal(),
            Some(6),
            "SIGABRT expected: {unguarded:?}"
        );
    }
    let stderr = String::from_utf8_lossy(&unguarded.stderr);
    assert!(
        stderr.contains("panic in a function that cannot unwind"),
        "{stderr}"
    );

    let guarded = run("guarded");
    assert!(guarded.status.success(), "{guarded:?}");
    assert!(String::from_utf8_lossy(&guarded.stdout).contains("survived"));
}

/// Takes every message except those to `+1777…`, which it declines ("not for me").
struct Picky;

impl Plugin for Picky {
    fn create(_config: &str, _host: Host) -> Result<Self, String> {
        Ok(Picky)
    }

    fn declines(&self, message: &Message<'_>) -> Option<u32> {
        message.destination.starts_with("+1777").then_some(0x0B)
    }

    fn submit(&self, message: Message<'_>, completion: Completion) {
        completion.accepted(message.id);
    }
}

extern "C" fn picky_1_1() -> *const SrpPlugin {
    static D: SrpPlugin =
        smpp_router_plugin_api::export::descriptor::<Picky>(c"picky".as_ptr(), c"1".as_ptr());
    &D
}

/// The same plugin as a 1.0 build would describe itself: an older minor, a shorter descriptor.
extern "C" fn picky_1_0() -> *const SrpPlugin {
    static D: SrpPlugin = {
        let mut d =
            smpp_router_plugin_api::export::descriptor::<Picky>(c"picky".as_ptr(), c"1".as_ptr());
        d.abi_minor = 0;
        d.struct_size = abi::PLUGIN_SIZE_1_0;
        d
    };
    &D
}

#[test]
fn a_plugin_declines_what_is_not_for_it_and_a_1_0_plugin_is_never_asked() {
    let declined = TestMessage::new("+17770001111", "x");
    let taken = TestMessage::new("+447700900123", "x");
    let new = TestHost::from_entry(picky_1_1, "{}").unwrap();
    assert_eq!(new.declines(&declined), Ok(Some(0x0B)));
    assert_eq!(new.declines(&taken), Ok(None));
    // A 1.0 descriptor ends before `declines`: the host reads no further and asks nothing.
    let old = TestHost::from_entry(picky_1_0, "{}").unwrap();
    assert_eq!(old.declines(&declined), Ok(None));
    assert!(matches!(
        old.submit(&declined),
        Ok(Outcome::Accepted { .. })
    ));
    #[cfg(target_pointer_width = "64")]
    assert_eq!(abi::PLUGIN_SIZE_1_0, 72, "the 1.0 layout never changes");
    const { assert!(abi::PLUGIN_SIZE_1_1 > abi::PLUGIN_SIZE_1_0) };
}
