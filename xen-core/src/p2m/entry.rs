//! One p2m entry: the machine frame a guest frame maps to, what kind of
//! memory it is, and what the guest may do with it.

use abi::Mfn;

/// What a guest frame is backed by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum P2mType {
    /// The domain's own RAM (owned by it, counted in its pages).
    Ram,
    /// Another domain's frame, through a grant (or a foreign mapping by a
    /// privileged domain).
    Grant,
    /// Device memory (not RAM of the frame table, or owned by `DOMID_IO`);
    /// only for a domain with I/O resources.
    Mmio,
}

impl P2mType {
    /// Whether the entry holds a general reference on its frame.
    pub const fn holds_reference(self) -> bool {
        matches!(self, P2mType::Ram | P2mType::Grant)
    }

    /// A 3-bit code for the nested tables' software bits.
    pub const fn code(self) -> u64 {
        match self {
            P2mType::Ram => 1,
            P2mType::Grant => 2,
            P2mType::Mmio => 3,
        }
    }

    /// The type of a software-bit code.
    pub const fn from_code(code: u64) -> Option<P2mType> {
        match code {
            1 => Some(P2mType::Ram),
            2 => Some(P2mType::Grant),
            3 => Some(P2mType::Mmio),
            _ => None,
        }
    }
}

/// Access rights beyond read (a present entry can always be read).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rights {
    /// The guest may write.
    pub write: bool,
    /// The guest may execute.
    pub exec: bool,
}

impl Rights {
    /// Read, write and execute.
    pub const RWX: Rights = Rights { write: true, exec: true };
    /// Read and execute.
    pub const RX: Rights = Rights { write: false, exec: true };
    /// Read and write, no execute.
    pub const RW: Rights = Rights { write: true, exec: false };
    /// Read only.
    pub const R: Rights = Rights { write: false, exec: false };

    /// The rights both allow.
    pub const fn and(self, other: Rights) -> Rights {
        Rights { write: self.write && other.write, exec: self.exec && other.exec }
    }

    /// Whether these rights allow nothing `other` does not.
    pub const fn within(self, other: Rights) -> bool {
        (!self.write || other.write) && (!self.exec || other.exec)
    }
}

/// What one guest frame maps to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct P2mEntry {
    /// The machine frame.
    pub mfn: Mfn,
    /// Its kind.
    pub ty: P2mType,
    /// What the guest may do with it.
    pub rights: Rights,
}

impl P2mEntry {
    /// The entry for frame `i` of a 2 MiB entry whose first frame is `self`.
    pub const fn nth(self, i: u64) -> P2mEntry {
        P2mEntry { mfn: Mfn(self.mfn.0 + i), ..self }
    }
}

/// The size of a p2m entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Order {
    /// 4 KiB: one frame.
    Page4K,
    /// 2 MiB: 512 frames, guest and machine frame both 512-aligned.
    Page2M,
}

impl Order {
    /// Frames covered.
    pub const fn frames(self) -> u64 {
        match self {
            Order::Page4K => 1,
            Order::Page2M => 512,
        }
    }

    /// The memory-op extent order (0 or 9).
    pub const fn extent_order(self) -> u32 {
        match self {
            Order::Page4K => 0,
            Order::Page2M => 9,
        }
    }

    /// Whether frame number `n` is aligned for this size.
    pub const fn aligned(self, n: u64) -> bool {
        n.is_multiple_of(self.frames())
    }
}
