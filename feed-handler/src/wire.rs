//! The wire protocol: fixed 64-byte, `#[repr(C)]`, little-endian, [`bytemuck::Pod`] messages.
//!
//! Every message on every ring, in every capture file and in the journal is exactly one
//! [`MSG_SIZE`]-byte record. Two layouts share the same first bytes' meaning of `kind` (offset 32):
//!
//! ```text
//! Msg (market data and account events)          Order (engine → matching engine)
//! off  size field                               off  size field
//!   0   8   seq          u64                      0   8   order_id            u64
//!   8   8   exch_ts      i64 ns                   8   8   trigger_seq         u64
//!  16   8   local_ts     i64 ns                  16   8   trigger_publish_ts  i64 ns
//!  24   8   publish_ts   i64 ns                  24   8   emit_ts             i64 ns
//!  32   1   kind         MsgKind                 32   1   kind (Order/CancelAll)
//!  33   1   aux          side/status/reason      33   1   side
//!  34   2   instrument   u16                     34   2   instrument
//!  36   4   account      u32 (0 = none)          36   4   account
//!  40  24   body         3 × 8 bytes             40   8   qty  (lots, E8)
//!                                                48   8   limit_price (E8)
//!                                                56   1   tier, 57 tif, 58 flags, 59 attempt,
//!                                                60   4   reserved (zero)
//! ```
//!
//! # Scales
//! Prices, quantities, money amounts and rates are `i64` at the E8 scale (value × 10^8, see
//! [`crate::fixed`]). Quantities are signed where the field says so (a fill's quantity is + for a
//! buy, − for a sell). Timestamps are nanoseconds.
//!
//! # Clocks
//! `exch_ts` is the venue's event time and `local_ts` the capture host's receive time, both in
//! nanoseconds since the Unix epoch as recorded. `publish_ts` (and every stage stamp in the
//! engine) is `CLOCK_MONOTONIC` in nanoseconds, read with [`crate::clock::now_ns`]: every process on
//! the host shares that clock, it never jumps backwards, and on Linux it is a vDSO call costing
//! ~20 ns with no syscall. A calibrated TSC would be a few ns cheaper but needs an invariant-TSC
//! check and a per-host calibration shared between processes; the difference is below the noise of
//! the stages it measures.

use bytemuck::{Pod, Zeroable};

/// Size of every wire record in bytes.
pub const MSG_SIZE: usize = 64;

/// What a record is. Stored as one byte at offset 32 of every record.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MsgKind {
    /// Mark price. Body: `[price, 0, 0]`.
    MarkPrice = 1,
    /// Index (oracle) price. Body: `[price, 0, 0]`.
    IndexPrice = 2,
    /// L2 level update. `aux` = [`Side`]; body `[price, qty, 0]`; qty 0 deletes the level.
    BookLevel = 3,
    /// A book snapshot follows: the reader clears the instrument's book. Body zero.
    SnapshotBegin = 4,
    /// The snapshot is complete. Body zero.
    SnapshotEnd = 5,
    /// Trade. `aux` = aggressor [`Side`]; body `[price, qty, trade_id]`.
    Trade = 6,
    /// Funding rate. Body `[rate (E8), next_funding_ts ns, 0]`.
    Funding = 7,
    /// Producer liveness (also carries no data). Body zero.
    Heartbeat = 8,
    /// Instrument status. `aux` = [`InstrumentStatus`].
    Status = 9,
    /// A venue's own liquidation order seen on the public feed (Binance `forceOrder`).
    /// `aux` = [`Side`] of the liquidation order; body `[average price, filled qty, 0]`.
    Liquidation = 10,
    /// A fill from the matching engine. `account`, `instrument`; body `[signed qty, price, fee]`
    /// (fee in the margin asset, E8, positive = paid by the account).
    Fill = 16,
    /// Collateral change. `account`; `aux` = [`CollateralReason`]; body `[signed amount, 0, 0]`
    /// (margin asset of `instrument`'s settlement, E8; instrument 0 for the account's cross wallet).
    Collateral = 17,
    /// Acknowledgement of a liquidation order. `account`, `instrument`; `aux` = [`AckStatus`];
    /// body `[order_id, filled qty (E8, unsigned), average price (E8)]`.
    OrderAck = 18,
    /// A liquidation order (the [`Order`] layout).
    Order = 32,
    /// Cancel every resting order of one account (the [`Order`] layout, qty and price zero).
    CancelAll = 33,
}

impl MsgKind {
    /// Decodes the kind byte; `None` for an unknown value.
    pub const fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Self::MarkPrice,
            2 => Self::IndexPrice,
            3 => Self::BookLevel,
            4 => Self::SnapshotBegin,
            5 => Self::SnapshotEnd,
            6 => Self::Trade,
            7 => Self::Funding,
            8 => Self::Heartbeat,
            9 => Self::Status,
            10 => Self::Liquidation,
            16 => Self::Fill,
            17 => Self::Collateral,
            18 => Self::OrderAck,
            32 => Self::Order,
            33 => Self::CancelAll,
            _ => return None,
        })
    }

    /// A short lower-case name (used by tools and reports).
    pub const fn name(self) -> &'static str {
        match self {
            Self::MarkPrice => "mark",
            Self::IndexPrice => "index",
            Self::BookLevel => "book",
            Self::SnapshotBegin => "snapshot_begin",
            Self::SnapshotEnd => "snapshot_end",
            Self::Trade => "trade",
            Self::Funding => "funding",
            Self::Heartbeat => "heartbeat",
            Self::Status => "status",
            Self::Liquidation => "liquidation",
            Self::Fill => "fill",
            Self::Collateral => "collateral",
            Self::OrderAck => "ack",
            Self::Order => "order",
            Self::CancelAll => "cancel_all",
        }
    }

    /// Whether records of this kind use the [`Order`] layout.
    pub const fn is_order(self) -> bool {
        matches!(self, Self::Order | Self::CancelAll)
    }
}

/// Book side or trade aggressor side or order side.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// Bid / buy.
    Buy = 0,
    /// Ask / sell.
    Sell = 1,
}

impl Side {
    /// Decodes a side byte.
    pub const fn from_u8(v: u8) -> Option<Self> {
        match v {
            0 => Some(Self::Buy),
            1 => Some(Self::Sell),
            _ => None,
        }
    }
}

/// Trading status of an instrument.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstrumentStatus {
    /// Normal trading.
    Trading = 0,
    /// Halted: no liquidation may be sent.
    Halted = 1,
}

/// Why collateral changed.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CollateralReason {
    /// Deposit (amount > 0).
    Deposit = 0,
    /// Withdrawal (amount < 0).
    Withdrawal = 1,
    /// Realised funding payment (either sign).
    Funding = 2,
}

/// Status carried by an [`MsgKind::OrderAck`].
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckStatus {
    /// Completely filled.
    Filled = 0,
    /// Partly filled, the rest cancelled (IOC).
    Partial = 1,
    /// Nothing filled (IOC expired) or the cancel-all was done.
    Cancelled = 2,
    /// Refused by the matching engine.
    Rejected = 3,
}

impl AckStatus {
    /// Decodes a status byte.
    pub const fn from_u8(v: u8) -> Option<Self> {
        match v {
            0 => Some(Self::Filled),
            1 => Some(Self::Partial),
            2 => Some(Self::Cancelled),
            3 => Some(Self::Rejected),
            _ => None,
        }
    }
}

/// Liquidation tier of an order.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tier {
    /// Cancel-all before liquidating (tier 0).
    Cancel = 0,
    /// Partial liquidation.
    Partial = 1,
    /// Full liquidation.
    Full = 2,
    /// Taken over by the insurance fund at the bankruptcy price.
    Backstop = 3,
    /// Auto-deleveraging of an opposite position.
    Adl = 4,
}

impl Tier {
    /// Decodes a tier byte.
    pub const fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => Self::Cancel,
            1 => Self::Partial,
            2 => Self::Full,
            3 => Self::Backstop,
            4 => Self::Adl,
            _ => return None,
        })
    }

    /// Lower-case name as used in reports and `hotrisk risk --json`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Cancel => "cancel",
            Self::Partial => "partial",
            Self::Full => "full",
            Self::Backstop => "backstop",
            Self::Adl => "adl",
        }
    }
}

/// Time in force.
pub const TIF_IOC: u8 = 1;
/// `Order::flags` bit: reduce-only (always set on liquidation orders).
pub const FLAG_REDUCE_ONLY: u8 = 1;

/// A market-data or account-event record. See the module docs for the layout.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct Msg {
    /// Sequence number assigned by the producer of the stream (1-based, contiguous).
    pub seq: u64,
    /// Venue event time, ns since the Unix epoch (0 when unknown).
    pub exch_ts: i64,
    /// Capture host receive time, ns since the Unix epoch (0 when unknown).
    pub local_ts: i64,
    /// When the record was published into the ring, `CLOCK_MONOTONIC` ns.
    pub publish_ts: i64,
    /// [`MsgKind`] as a byte.
    pub kind: u8,
    /// Kind-specific: [`Side`], [`InstrumentStatus`], [`CollateralReason`] or [`AckStatus`].
    pub aux: u8,
    /// Instrument id (index into the instrument table).
    pub instrument: u16,
    /// Account id for account events, 0 for market data.
    pub account: u32,
    /// Kind-specific body; see [`MsgKind`].
    pub body: [i64; 3],
}

/// A liquidation order or a cancel-all. See the module docs for the layout.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct Order {
    /// Deterministic order id (a function of account, trigger sequence and attempt).
    pub order_id: u64,
    /// Sequence number of the market-data (or account-event) record that triggered the decision.
    pub trigger_seq: u64,
    /// `publish_ts` of the triggering record (`CLOCK_MONOTONIC` ns).
    pub trigger_publish_ts: i64,
    /// When the gateway published the order (`CLOCK_MONOTONIC` ns).
    pub emit_ts: i64,
    /// [`MsgKind::Order`] or [`MsgKind::CancelAll`].
    pub kind: u8,
    /// [`Side`] of the order.
    pub side: u8,
    /// Instrument id.
    pub instrument: u16,
    /// Account id.
    pub account: u32,
    /// Quantity, unsigned, E8.
    pub qty: i64,
    /// Limit price, E8.
    pub limit_price: i64,
    /// [`Tier`].
    pub tier: u8,
    /// Time in force ([`TIF_IOC`]).
    pub tif: u8,
    /// [`FLAG_REDUCE_ONLY`] and future bits.
    pub flags: u8,
    /// Attempt number for this account and trigger (0-based).
    pub attempt: u8,
    /// Zero.
    pub reserved: u32,
}

const _: () = assert!(core::mem::size_of::<Msg>() == MSG_SIZE);
const _: () = assert!(core::mem::size_of::<Order>() == MSG_SIZE);
const _: () = assert!(core::mem::offset_of!(Msg, kind) == 32);
const _: () = assert!(core::mem::offset_of!(Order, kind) == 32);
const _: () = assert!(
    cfg!(target_endian = "little"),
    "the wire format is little-endian"
);

impl Msg {
    /// A market-data record with the body zeroed.
    pub const fn market(kind: MsgKind, instrument: u16, exch_ts: i64, local_ts: i64) -> Self {
        Self {
            seq: 0,
            exch_ts,
            local_ts,
            publish_ts: 0,
            kind: kind as u8,
            aux: 0,
            instrument,
            account: 0,
            body: [0; 3],
        }
    }

    /// The decoded kind, `None` when the byte is unknown.
    pub const fn kind(&self) -> Option<MsgKind> {
        MsgKind::from_u8(self.kind)
    }

    /// Reinterprets the record as an [`Order`] (same bytes).
    pub fn as_order(&self) -> Order {
        bytemuck::cast(*self)
    }
}

impl Order {
    /// The decoded kind.
    pub const fn kind(&self) -> Option<MsgKind> {
        MsgKind::from_u8(self.kind)
    }

    /// The decoded tier.
    pub const fn tier(&self) -> Option<Tier> {
        Tier::from_u8(self.tier)
    }

    /// Reinterprets the order as a generic record (same bytes), e.g. to journal it.
    pub fn as_msg(&self) -> Msg {
        bytemuck::cast(*self)
    }
}

/// Deterministic order id: a 64-bit mix of `(account, trigger_seq, attempt)`.
///
/// The layout keeps the parts readable in hex: account in the top 24 bits (mod 2^24), the
/// trigger sequence in the next 32 (mod 2^32), the attempt in the low 8 bits. Distinct for any
/// account below 2^24 and trigger below 2^32 (one run); a replay of the same inputs reproduces it.
pub const fn order_id(account: u32, trigger_seq: u64, attempt: u8) -> u64 {
    (((account as u64) & 0xFF_FFFF) << 40) | ((trigger_seq & 0xFFFF_FFFF) << 8) | attempt as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for v in 0..=255u8 {
            if let Some(k) = MsgKind::from_u8(v) {
                assert_eq!(k as u8, v);
            }
        }
        assert_eq!(MsgKind::from_u8(0), None);
    }

    #[test]
    fn order_and_msg_share_bytes() {
        let o = Order {
            order_id: order_id(7, 42, 1),
            trigger_seq: 42,
            trigger_publish_ts: 5,
            emit_ts: 6,
            kind: MsgKind::Order as u8,
            side: Side::Sell as u8,
            instrument: 3,
            account: 7,
            qty: 100,
            limit_price: 200,
            tier: Tier::Partial as u8,
            tif: TIF_IOC,
            flags: FLAG_REDUCE_ONLY,
            attempt: 1,
            reserved: 0,
        };
        let m = o.as_msg();
        assert_eq!(m.kind(), Some(MsgKind::Order));
        assert_eq!(m.as_order(), o);
        assert_eq!(bytemuck::bytes_of(&o)[32], MsgKind::Order as u8);
    }

    #[test]
    fn order_ids_are_distinct_per_part() {
        let a = order_id(1, 1, 0);
        assert_ne!(a, order_id(2, 1, 0));
        assert_ne!(a, order_id(1, 2, 0));
        assert_ne!(a, order_id(1, 1, 1));
    }
}
