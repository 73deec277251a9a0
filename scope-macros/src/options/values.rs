//! The values of the options: `policy`'s word, the string options, and the
//! integer options (`timeout_ms`, `grace_ms`, `max_concurrency`,
//! `retain_failures`) with what each one's messages say. Each validator
//! records its mistakes and returns `None`, so that the option falls back to
//! its default and the macro still expands.

use proc_macro2::Span;
use syn::{Expr, Ident, Lit};

use super::{Policy, POLICIES};
use crate::diagnostics::{did_you_mean, one_of, Errors};

/// Integer suffixes accepted on the integer options; the suffix is dropped
/// and the value becomes the type the builder takes (`u64` milliseconds or a
/// `usize` count).
const INTEGER_SUFFIXES: &[&str] = &[
    "", "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize",
];

/// Validates the value of `policy`.
pub(super) fn policy(value: &Expr, errors: &mut Errors) -> Option<Policy> {
    match value {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(lit), ..
        }) => match lit.value().as_str() {
            "cancel" => Some(Policy::Cancel),
            "supervise" => Some(Policy::Supervise),
            other => {
                errors.error(
                    lit.span(),
                    format!(
                        "unknown policy `{other}`, expected {}{}",
                        one_of(POLICIES),
                        did_you_mean(other, POLICIES)
                    ),
                );
                None
            }
        },
        Expr::Path(path) => {
            // `policy = supervise` or `policy = Policy::Supervise`
            let word = path
                .path
                .segments
                .last()
                .map(|s| s.ident.to_string().to_lowercase())
                .unwrap_or_default();
            let suggestion = crate::diagnostics::closest(&word, POLICIES).unwrap_or("supervise");
            errors.error_spanned(
                value,
                format!(
                    "expected a string literal, a policy is written `policy = \"{suggestion}\"`"
                ),
            );
            None
        }
        _ => {
            errors.error_spanned(
                value,
                format!(
                    "expected {} as the `policy`",
                    one_of(&["\"cancel\"", "\"supervise\""])
                ),
            );
            None
        }
    }
}

/// Validates a value that must be a string literal.
pub(super) fn string(
    value: &Expr,
    key: &str,
    example: &str,
    errors: &mut Errors,
) -> Option<syn::LitStr> {
    match value {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(lit), ..
        }) => Some(lit.clone()),
        Expr::Path(path) if path.path.get_ident().is_some() => {
            let word = path
                .path
                .get_ident()
                .map(Ident::to_string)
                .unwrap_or_default();
            errors.error_spanned(
                value,
                format!("expected a string literal, write `{key} = \"{word}\"`"),
            );
            None
        }
        _ => {
            errors.error_spanned(
                value,
                format!("expected a string literal, such as `{key} = {example}`"),
            );
            None
        }
    }
}

/// An option whose value is an integer literal: what its messages say.
pub(super) struct IntegerOption {
    /// The key.
    key: &'static str,
    /// What the number counts, plural: "milliseconds", "tasks".
    unit: &'static str,
    /// A value for examples in messages.
    example: u64,
    /// When zero is refused: what to say after "must be at least 1".
    zero: Option<&'static str>,
    /// The type the value must fit in, as the builder takes it.
    ty: &'static str,
    /// The largest value of that type.
    max: u64,
}

/// `timeout_ms = N`, `N >= 1`: `.timeout(Duration::from_millis(N))`.
pub(super) const TIMEOUT_MS: IntegerOption = IntegerOption {
    key: "timeout_ms",
    unit: "milliseconds",
    example: 500,
    zero: Some("a scope without a timeout leaves `timeout_ms` out"),
    ty: "u64",
    max: u64::MAX,
};

/// `grace_ms = N`, `N >= 0`: `.grace(Duration::from_millis(N))`.
pub(super) const GRACE_MS: IntegerOption = IntegerOption {
    key: "grace_ms",
    unit: "milliseconds",
    example: 500,
    zero: None,
    ty: "u64",
    max: u64::MAX,
};

/// `max_concurrency = N`, `N >= 1`: `.max_concurrency(N)`.
pub(super) const MAX_CONCURRENCY: IntegerOption = IntegerOption {
    key: "max_concurrency",
    unit: "tasks",
    example: 8,
    zero: Some("a scope without a limit leaves `max_concurrency` out"),
    ty: "usize",
    max: usize::MAX as u64,
};

/// `retain_failures = N`, `N >= 0` (0 keeps none): `.retain_failures(N)`.
pub(super) const RETAIN_FAILURES: IntegerOption = IntegerOption {
    key: "retain_failures",
    unit: "failures",
    example: 100,
    zero: None,
    ty: "usize",
    max: usize::MAX as u64,
};

/// Validates the value of an integer option: an integer literal, with an
/// integer suffix or none, that fits the option's type and is at least 1
/// when the option refuses zero.
pub(super) fn integer(
    value: &Expr,
    option: &IntegerOption,
    errors: &mut Errors,
) -> Option<(u64, Span)> {
    let IntegerOption {
        key,
        unit,
        example,
        zero,
        ty,
        max,
    } = *option;
    let expected = if zero.is_some() {
        format!("expected a positive whole number of {unit}, such as `{key} = {example}`")
    } else {
        format!("expected a whole number of {unit}, such as `{key} = {example}`")
    };
    let lit = match value {
        Expr::Lit(syn::ExprLit { lit, .. }) => lit,
        Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Neg(_),
            ..
        }) => {
            let message = if zero.is_some() {
                format!("`{key}` must be positive")
            } else {
                format!("`{key}` cannot be negative")
            };
            errors.error_spanned(value, message);
            return None;
        }
        _ => {
            errors.error_spanned(value, expected);
            return None;
        }
    };
    match lit {
        Lit::Int(int) => {
            let suffix = int.suffix();
            if !INTEGER_SUFFIXES.contains(&suffix) {
                errors.error(
                    int.span(),
                    format!("unexpected suffix `{suffix}`, `{key}` is a plain number of {unit}"),
                );
                return None;
            }
            match (int.base10_parse::<u64>(), zero) {
                (Ok(0), Some(why)) => {
                    errors.error(int.span(), format!("`{key}` must be at least 1, {why}"));
                    None
                }
                (Ok(n), _) if n <= max => Some((n, int.span())),
                _ => {
                    errors.error(
                        int.span(),
                        format!("`{key}` is too large, it must fit in a `{ty}`"),
                    );
                    None
                }
            }
        }
        Lit::Str(s) => {
            let least = u64::from(zero.is_some());
            let hint = match s.value().trim().parse::<u64>() {
                Ok(n) if n >= least && n <= max => format!(", write `{key} = {n}`"),
                _ => String::new(),
            };
            errors.error(s.span(), format!("expected an integer, not a string{hint}"));
            None
        }
        Lit::Float(f) => {
            errors.error(
                f.span(),
                format!("expected a whole number of {unit}, not a float"),
            );
            None
        }
        other => {
            errors.error(other.span(), expected);
            None
        }
    }
}
