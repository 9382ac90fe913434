//! Session settings and the small enums that describe a session: its role and bind mode.

use std::time::Duration;

use crate::frame::DEFAULT_MAX_PDU_LEN;
use crate::values::interface_version;

/// Which side of the protocol this session plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The message centre (server): the router toward its clients.
    Mc,
    /// The external short message entity (client): the router toward carriers.
    Esme,
}

impl Role {
    /// The other side.
    pub fn peer(self) -> Self {
        match self {
            Self::Mc => Self::Esme,
            Self::Esme => Self::Mc,
        }
    }
}

/// The kind of bind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BindMode {
    /// `bind_transmitter`: the ESME submits.
    Transmitter,
    /// `bind_receiver`: the MC delivers.
    Receiver,
    /// `bind_transceiver`: both.
    Transceiver,
}

impl BindMode {
    /// Whether the ESME may submit on this bind.
    pub const fn can_submit(self) -> bool {
        matches!(self, Self::Transmitter | Self::Transceiver)
    }

    /// Whether the MC may deliver on this bind.
    pub const fn can_deliver(self) -> bool {
        matches!(self, Self::Receiver | Self::Transceiver)
    }

    /// The short name used in configuration and logs: `tx`, `rx`, `trx`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transmitter => "tx",
            Self::Receiver => "rx",
            Self::Transceiver => "trx",
        }
    }
}

/// What a session does with a request beyond its inbound window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowPolicy {
    /// Answer it at once with `ESME_RMSGQFUL` (the default).
    QueueFull,
    /// Answer it at once with `ESME_RTHROTTLED`.
    Throttled,
}

/// Session timers and limits. Every duration is measured on the `now` the driver passes in.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// Server or client.
    pub role: Role,
    /// The highest version this side speaks (`0x50` by default; `0x34` to behave as v3.4).
    pub interface_version: u8,
    /// The largest frame accepted, checked before buffering.
    pub max_pdu_len: u32,
    /// How many of our requests may await a response at once.
    pub window: usize,
    /// How many of the peer's requests may await our answer at once.
    pub inbound_window: usize,
    /// What to answer beyond the inbound window.
    pub window_policy: WindowPolicy,
    /// How long a request of ours waits for its response.
    pub response_timeout: Duration,
    /// MC: close a connection not bound within this time. ESME: give up on a bind response.
    pub bind_timeout: Duration,
    /// Send `enquire_link` after this long without traffic (bound sessions only).
    pub enquire_link_interval: Option<Duration>,
    /// Close the session when nothing at all has been received for this long.
    pub inactivity_timeout: Option<Duration>,
    /// Unbind after this long bound (the seed's 24 h).
    pub max_session: Option<Duration>,
    /// How long to wait for `unbind_resp`, and after answering an unbind for the peer to close.
    pub unbind_timeout: Duration,
    /// ESME: take the MC's `deliver_sm` and `data_sm` on a transmitter bind too. SMPP does not
    /// allow them there, but some carriers send receipts on any bind of a transmitter/receiver
    /// pair; without this they are answered `ESME_RINVBNDSTS` (and told as [`Event::Refused`]).
    ///
    /// [`Event::Refused`]: super::Event::Refused
    pub deliveries_on_any_bind: bool,
}

impl SessionConfig {
    /// Defaults for the server side, from the seed's connection table: pre-bind 30 s,
    /// inactivity 90 s, 24 h sessions.
    pub fn mc() -> Self {
        Self {
            role: Role::Mc,
            interface_version: interface_version::V50,
            max_pdu_len: DEFAULT_MAX_PDU_LEN,
            window: 10,
            inbound_window: 100,
            window_policy: WindowPolicy::QueueFull,
            response_timeout: Duration::from_secs(30),
            bind_timeout: Duration::from_secs(30),
            enquire_link_interval: Some(Duration::from_secs(60)),
            inactivity_timeout: Some(Duration::from_secs(90)),
            max_session: Some(Duration::from_secs(24 * 3600)),
            unbind_timeout: Duration::from_secs(5),
            deliveries_on_any_bind: false,
        }
    }

    /// Defaults for the client side toward a carrier: window 10, 30 s responses, enquire_link
    /// every 30 s, and no inactivity close (the carrier may stay quiet for 90 minutes).
    pub fn esme() -> Self {
        Self {
            role: Role::Esme,
            interface_version: interface_version::V34,
            max_pdu_len: DEFAULT_MAX_PDU_LEN,
            window: 10,
            inbound_window: 100,
            window_policy: WindowPolicy::QueueFull,
            response_timeout: Duration::from_secs(30),
            bind_timeout: Duration::from_secs(10),
            enquire_link_interval: Some(Duration::from_secs(30)),
            inactivity_timeout: None,
            max_session: None,
            unbind_timeout: Duration::from_secs(5),
            deliveries_on_any_bind: false,
        }
    }
}
