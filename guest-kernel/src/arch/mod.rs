//! Architecture support. Generic kernel code uses only what this module
//! re-exports; all inline assembly and privileged instructions live below
//! it, so another platform can be added beside `x86_64` without touching
//! `mm`.

pub mod x86_64;
pub use self::x86_64::*;
