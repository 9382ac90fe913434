//! Bind places shared by several router instances: in cluster mode a carrier channel's `binds`
//! counts across the cluster (carriers refuse binds beyond what they granted), so each bind
//! holds a lease on one of the channel's places before it connects, renews it while bound, and
//! gives it back when it ends. A single router has no leases: every bind is its own.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// The future of a lease call.
pub type LeaseFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a renewal found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Renewed {
    /// Still this instance's.
    Held,
    /// Another instance holds it now (this one's lease ran out): the bind must end.
    Lost,
    /// The lease could not be reached: the bind stays (it cannot be taken by another
    /// instance that cannot reach it either), and the next renewal tries again.
    Unknown,
}

/// The places of the cluster's carrier binds (see the module's documentation).
pub trait BindLeases: Send + Sync + 'static {
    /// Takes a free place among `places` of `channel`'s binds of kind `mode`, unless this
    /// instance holds its share already; the place taken, or `None` (try again after
    /// [`BindLeases::every`]).
    fn take<'a>(
        &'a self,
        channel: &'a str,
        mode: &'a str,
        places: usize,
    ) -> LeaseFuture<'a, Option<usize>>;
    /// Renews place `place` (of `places`); [`Renewed::Lost`] also when this instance holds more
    /// than its share and this place is one too many.
    fn renew<'a>(
        &'a self,
        channel: &'a str,
        mode: &'a str,
        place: usize,
        places: usize,
    ) -> LeaseFuture<'a, Renewed>;
    /// Gives place `place` back.
    fn release<'a>(&'a self, channel: &'a str, mode: &'a str, place: usize) -> LeaseFuture<'a, ()>;
    /// How often a held place is renewed, and a free one looked for.
    fn every(&self) -> Duration;
}
