#![doc = include_str!("../README.md")]
#![doc(test(attr(deny(warnings))))]

#[doc(inline)]
pub use scope_core::*;

#[doc(inline)]
pub use scope_macros::{scope, scoped};

pub mod guide;

/// What the macros' expansions name. Not public API: it may change in any release.
#[doc(hidden)]
pub mod __private {
    /// The error a `#[scoped]` body reports to its scope when it returns its
    /// own `Err`; the expansion hands the original error back to the caller.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct BodyError;

    impl core::fmt::Display for BodyError {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.write_str("the body returned an error")
        }
    }

    impl std::error::Error for BodyError {}
}
