//! `console_io` writes of a domain other than the hardware domain: whole
//! lines, filtered, bounded.

use super::*;
use crate::console::LINE_MAX;
use crate::mm::tests::world::{D0, D1};
use abi::console::CONSOLEIO_WRITE;
use abi::hypercall::HypercallNr as N;

/// Writes `text` as domain `dom` in one `console_io`; returns the output.
fn write(dom: DomId, text: &[u8]) -> Vec<u8> {
    let mut w = World::new(16);
    let g = FakeGuest::new(4096);
    g.put(BASE, text);
    let mut out = Sink::default();
    let (rax, _) = run(&mut w, dom, &g, &mut out, N::CONSOLE_IO.0, &[CONSOLEIO_WRITE, text.len() as u64, BASE]);
    assert_eq!(rax, 0);
    out.0
}

#[test]
fn a_domu_line_of_300_characters_is_written_whole() {
    // Regression: lines were cut at 127 characters, mid-word.
    let mut text: Vec<u8> = (0..300u32).map(|i| b'a' + (i % 26) as u8).collect();
    text.push(b'\n');
    assert_eq!(write(D1, &text), text);
}

#[test]
fn a_domu_line_longer_than_line_max_is_broken_there() {
    let text = vec![b'q'; LINE_MAX + 5];
    let mut want = vec![b'q'; LINE_MAX];
    want.push(b'\n');
    assert_eq!(write(D1, &text), want, "the last 5 wait for their newline");
}

#[test]
fn a_domu_cannot_send_control_characters_to_the_serial_console() {
    assert_eq!(write(D1, b"ok\x1b[2J\0\r\x07!\n"), b"ok[2J!\n");
}

#[test]
fn the_hardware_domain_writes_straight_through_as_on_xen() {
    let text = b"raw\x1b[1m no newline";
    assert_eq!(write(D0, text), text);
}
