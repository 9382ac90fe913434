//! Proves the codec's hot path does not touch the heap: decoding the 127-octet OTP `submit_sm` and
//! a receipt `deliver_sm` from a prepared `Bytes` frame, and encoding them into a `BytesMut` with
//! room enough, make no allocation at all. A counting global allocator tells.
//!
//! Only the allocations of the thread that counts are counted: the test harness's own threads
//! (its main thread, output capture) allocate when they please and must not make this flaky.

#![allow(clippy::unwrap_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::{Bytes, BytesMut};
use smpp_router::smpp::pdu::{Address, Sm};
use smpp_router::smpp::tlv::{TlvsBuilder, tag};
use smpp_router::smpp::values::{EsmClass, MessageState, RegisteredDelivery};
use smpp_router::smpp::{Command, FrameDecoder, Pdu};

/// `System`, counting every call that may obtain memory (`alloc`, `alloc_zeroed`, `realloc`)
/// made by the calling thread.
struct Counting;

thread_local! {
    /// Allocations by this thread. `const`-initialised and without `Drop`, so reading it from the
    /// allocator neither allocates nor registers a destructor.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn note_allocation() {
    // `try_with`: a thread being torn down may still allocate after its locals are gone.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so `System`'s
// guarantees are ours; the counter is a `const` thread-local `Cell` and never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded as is; the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: `ptr` and `layout` come from this allocator, i.e. from `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` and `layout` come from this allocator, i.e. from `System`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations this thread made while running `f`, and its result.
fn count<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let before = ALLOCATIONS.with(Cell::get);
    let out = f();
    let after = ALLOCATIONS.with(Cell::get);
    (after - before, out)
}

/// The 127-octet OTP `submit_sm` of the benchmark.
fn otp_submit_sm() -> Command {
    let mut text = b"Your verification code is 482910. Do not share this code.".to_vec();
    // 16 header + 34 mandatory octets around the message (with these addresses) + the text.
    text.resize(127 - 50, b' ');
    Command::new(
        0x0000_2A01,
        Pdu::SubmitSm(Sm {
            source: Address::new(5, 0, "MyBank"),
            dest: Address::new(1, 1, "14155551234"),
            registered_delivery: RegisteredDelivery(1),
            short_message: Bytes::from(text),
            ..Sm::default()
        }),
    )
}

/// The receipt `deliver_sm` of the benchmark.
fn receipt_deliver_sm() -> Command {
    let id = "7f3c9a1e5b2d4c80";
    let text = format!(
        "id:{id} sub:001 dlvrd:001 submit date:2602121430 done date:2602121430 stat:DELIVRD err:000 text:"
    );
    Command::new(
        0x0000_2A02,
        Pdu::DeliverSm(Sm {
            source: Address::new(1, 1, "14155551234"),
            dest: Address::new(5, 0, "MyBank"),
            esm_class: EsmClass(EsmClass::MC_DELIVERY_RECEIPT),
            short_message: Bytes::from(text),
            tlvs: TlvsBuilder::new()
                .push_cstr(tag::RECEIPTED_MESSAGE_ID, id.as_bytes())
                .push_u8(tag::MESSAGE_STATE, MessageState::DELIVERED.0)
                .build(),
            ..Sm::default()
        }),
    )
}

#[test]
fn codec_hot_path_does_not_allocate() {
    // The counter sees allocations at all.
    let (n, boxed) = count(|| std::hint::black_box(Box::new(7u64)));
    assert_eq!((n, *boxed), (1, 7));

    let cmds = [otp_submit_sm(), receipt_deliver_sm()];
    let frames: Vec<Bytes> = cmds.iter().map(|c| c.to_bytes().unwrap()).collect();
    assert_eq!(frames[0].len(), 127);

    // A `Bytes` made from a `Vec` turns into a shared, reference-counted one on its first clone
    // (one small allocation, once per buffer). Frames cut from a receive buffer are shared already;
    // here one warm-up decode does it.
    for (frame, cmd) in frames.iter().zip(&cmds) {
        assert_eq!(&Command::decode(frame.clone()).unwrap(), cmd);
    }

    // Decoding: zero allocations per PDU.
    for (frame, cmd) in frames.iter().zip(&cmds) {
        let (n, decoded) = count(|| {
            let mut ok = 0;
            for _ in 0..1000 {
                let c = Command::decode(frame.clone()).unwrap();
                ok += usize::from(c.sequence_number == cmd.sequence_number);
            }
            ok
        });
        assert_eq!(decoded, 1000);
        assert_eq!(n, 0, "decoding {} allocated {n} times", cmd.command_id());
    }

    // Encoding into a buffer with room: zero allocations.
    let mut out = BytesMut::with_capacity(4096);
    for (frame, cmd) in frames.iter().zip(&cmds) {
        let (n, ()) = count(|| {
            for _ in 0..1000 {
                out.clear();
                cmd.encode(&mut out).unwrap();
            }
        });
        assert_eq!(n, 0, "encoding {} allocated {n} times", cmd.command_id());
        assert_eq!(&out[..], &frame[..]);
    }

    // The receive path: frames back to back in one read buffer, cut by `FrameDecoder` and
    // decoded. The read buffer becomes shared when the first frame is cut from it (one
    // allocation, for the buffer, not for a PDU); after that nothing is allocated.
    let mut stream = BytesMut::with_capacity(64 * 256);
    for i in 0..64 {
        stream.extend_from_slice(&frames[i % 2]);
    }
    let decoder = FrameDecoder::default();
    let (n, decoded) = count(|| {
        let mut decoded = 0;
        while let Some(frame) = decoder.decode(&mut stream).unwrap() {
            let c = Command::decode(frame).unwrap();
            decoded += usize::from(c.pdu.command_id() == cmds[decoded % 2].command_id());
        }
        decoded
    });
    assert_eq!(decoded, 64);
    assert!(n <= 1, "64 frames from one read buffer allocated {n} times");
    println!("64 frames cut and decoded from one read buffer: {n} allocation(s)");
}
