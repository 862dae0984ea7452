//! COM1: a 16550 UART (vm-superio) whose output is the guest console and
//! whose interrupt is IRQ 4 through an irqfd.

use vm_superio::{Serial, Trigger};
use vmm_sys_util::eventfd::EventFd;

use super::Console;

/// Raises the UART's interrupt line by signalling its irqfd.
pub struct IrqTrigger(pub EventFd);

impl Trigger for IrqTrigger {
    type E = std::io::Error;

    fn trigger(&self) -> std::io::Result<()> {
        self.0.write(1)
    }
}

pub struct SerialDevice {
    uart: Serial<IrqTrigger, vm_superio::serial::NoEvents, Console>,
}

impl SerialDevice {
    /// Number of I/O ports the UART decodes.
    pub const PORTS: u16 = 8;

    pub fn new(irq: EventFd, console: Console) -> Self {
        Self { uart: Serial::new(IrqTrigger(irq), console) }
    }

    /// A guest write to register `offset`. Output errors are the console's
    /// business (it records them); interrupt errors cannot hurt the guest.
    pub fn write(&mut self, offset: u16, value: u8) {
        let _ = self.uart.write(offset as u8, value);
    }

    pub fn read(&mut self, offset: u16) -> u8 {
        self.uart.read(offset as u8)
    }

    /// The console the UART writes to (the kernel's line-at-a-time console
    /// port writes there too).
    pub fn console_mut(&mut self) -> &mut Console {
        self.uart.writer_mut()
    }

    pub fn into_console(self) -> Console {
        self.uart.into_writer()
    }
}
