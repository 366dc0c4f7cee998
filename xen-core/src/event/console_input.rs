//! Console input: where a key typed on the hypervisor's serial console
//! goes. As on Xen, pressing Ctrl-A three times in a row switches input
//! between the hypervisor's debug keys and domain 0; domain 0's input is
//! kept in a fixed ring, read with `CONSOLEIO_read` and announced with
//! `VIRQ_CONSOLE`. (Xen gives domain 0 the input from the end of boot;
//! xen-core starts with the debug keys, so `m` and `q` work at once.)

/// Bytes of domain 0 input kept; more are dropped until it reads.
pub const RING: usize = 128;

/// Ctrl-A.
const CTRL_A: u8 = 0x01;

/// What a key means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    /// A debug key for the hypervisor.
    Debug(u8),
    /// Stored for domain 0: send it `VIRQ_CONSOLE`.
    ToDom0,
    /// Input switched: now to domain 0 (true) or the debug keys.
    Switched(bool),
    /// Consumed (a Ctrl-A of the switch sequence, or a full ring).
    Nothing,
}

/// The input state.
pub struct ConsoleInput {
    ring: [u8; RING],
    prod: usize,
    cons: usize,
    to_dom0: bool,
    ctrl_a: u8,
}

impl Default for ConsoleInput {
    fn default() -> Self {
        Self::new()
    }
}

impl ConsoleInput {
    /// Input to the debug keys, nothing buffered.
    pub const fn new() -> ConsoleInput {
        ConsoleInput { ring: [0; RING], prod: 0, cons: 0, to_dom0: false, ctrl_a: 0 }
    }

    /// Whether input goes to domain 0.
    pub fn to_dom0(&self) -> bool {
        self.to_dom0
    }

    /// Routes key `b`.
    pub fn key(&mut self, b: u8) -> Key {
        if b == CTRL_A {
            self.ctrl_a += 1;
            if self.ctrl_a == 3 {
                self.ctrl_a = 0;
                self.to_dom0 = !self.to_dom0;
                return Key::Switched(self.to_dom0);
            }
            return Key::Nothing;
        }
        self.ctrl_a = 0;
        if !self.to_dom0 {
            return Key::Debug(b);
        }
        if self.prod - self.cons == RING {
            return Key::Nothing;
        }
        self.ring[self.prod % RING] = b;
        self.prod += 1;
        Key::ToDom0
    }

    /// Takes up to `buf.len()` buffered bytes.
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let mut n = 0;
        while n < buf.len() && self.cons != self.prod {
            buf[n] = self.ring[self.cons % RING];
            self.cons += 1;
            n += 1;
        }
        n
    }

    /// Puts back the last `n` bytes taken (a copy to the guest faulted).
    pub fn unread(&mut self, n: usize) {
        self.cons -= n.min(self.cons);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_go_to_the_debug_handlers_until_three_ctrl_a_switch_to_domain_0_and_back() {
        let mut c = ConsoleInput::new();
        assert_eq!(c.key(b'm'), Key::Debug(b'm'));
        assert_eq!(c.key(CTRL_A), Key::Nothing);
        assert_eq!(c.key(CTRL_A), Key::Nothing);
        assert_eq!(c.key(b'x'), Key::Debug(b'x'), "the sequence must be unbroken");
        for _ in 0..2 {
            assert_eq!(c.key(CTRL_A), Key::Nothing);
        }
        assert_eq!(c.key(CTRL_A), Key::Switched(true));
        assert_eq!(c.key(b'h'), Key::ToDom0);
        assert_eq!(c.key(b'i'), Key::ToDom0);
        let mut buf = [0u8; 8];
        assert_eq!(c.read(&mut buf), 2);
        assert_eq!(&buf[..2], b"hi");
        assert_eq!(c.read(&mut buf), 0);
        for _ in 0..3 {
            c.key(CTRL_A);
        }
        assert!(!c.to_dom0());
        assert_eq!(c.key(b'q'), Key::Debug(b'q'));
    }

    #[test]
    fn a_full_ring_drops_input_and_a_faulted_read_can_be_put_back() {
        let mut c = ConsoleInput::new();
        for _ in 0..3 {
            c.key(CTRL_A);
        }
        for i in 0..RING + 5 {
            let k = c.key(b'a' + (i % 26) as u8);
            assert_eq!(k, if i < RING { Key::ToDom0 } else { Key::Nothing });
        }
        let mut buf = [0u8; 4];
        assert_eq!(c.read(&mut buf), 4);
        c.unread(4);
        let mut all = [0u8; RING * 2];
        assert_eq!(c.read(&mut all), RING);
        assert_eq!(&all[..4], b"abcd");
    }
}
