//! The 8250/16550 UART on COM1, polled: the kernel console.

use crate::arch::cpu::{inb, outb};
use shared::ports::SERIAL_COM1;

const THR: u16 = 0; // transmit holding register (DLAB = 0)
const IER: u16 = 1;
const FCR: u16 = 2;
const LCR: u16 = 3;
const MCR: u16 = 4;
const LSR: u16 = 5;
const DLL: u16 = 0; // divisor latch (DLAB = 1)
const DLM: u16 = 1;

const LSR_THRE: u8 = 0x20;
const FIFO_SIZE: usize = 16;

pub struct Serial {
    base: u16,
}

impl Serial {
    pub const fn com1() -> Self {
        Self { base: SERIAL_COM1 }
    }

    /// 115200 8N1, FIFOs on, interrupts off (the console polls).
    pub fn init(&mut self) {
        outb(self.base + IER, 0);
        outb(self.base + LCR, 0x80);
        outb(self.base + DLL, 1);
        outb(self.base + DLM, 0);
        outb(self.base + LCR, 0x03);
        outb(self.base + FCR, 0xc7);
        outb(self.base + MCR, 0x0b);
    }

    /// Writes `bytes`, waiting for the transmitter once per FIFO-full
    /// (every port access is a VM exit, so polling per byte would double
    /// the cost of the console).
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(FIFO_SIZE) {
            while inb(self.base + LSR) & LSR_THRE == 0 {
                core::hint::spin_loop();
            }
            for &b in chunk {
                outb(self.base + THR, b);
            }
        }
    }
}
