//! The options of a scope, shared by `#[scoped(...)]` and `scope! { ...; }`:
//! `policy = "cancel" | "supervise"`, `name = "..."`, `timeout_ms = N`
//! (`N >= 1`), `grace_ms = N`, `max_concurrency = N` (`N >= 1`),
//! `retain_failures = N` and `crate = "path"`. Each becomes one call on the
//! engine's `ScopeBuilder`: `policy`, `name`, `timeout`, `grace`,
//! `max_concurrency`, `retain_failures`; `crate` is the path they go through.
//!
//! [`parse`] reads `key = value, ...` and stops at the first structural
//! mistake; [`validate`] then checks every pair on its own, records each
//! mistake and falls back to the default for that option, so that the macro
//! can still expand (recovery) while reporting all of them at once.

use std::collections::HashSet;

use proc_macro2::{Literal, Span, TokenStream};
use quote::quote;
use syn::ext::IdentExt;
use syn::parse::ParseStream;
use syn::{Expr, Ident, Token};

use crate::diagnostics::{did_you_mean, one_of, Errors};
use crate::krate;

mod values;

use self::values::{
    integer, policy, string, GRACE_MS, MAX_CONCURRENCY, RETAIN_FAILURES, TIMEOUT_MS,
};

/// The option keys, in the order the documentation lists them.
pub(crate) const KEYS: &[&str] = &[
    "policy",
    "name",
    "timeout_ms",
    "grace_ms",
    "max_concurrency",
    "retain_failures",
    "crate",
];

/// The values of `policy`.
const POLICIES: &[&str] = &["cancel", "supervise"];

/// Old or guessed spellings of a key, with the key they mean.
const ALIASES: &[(&str, &str)] = &[
    ("timeout", "timeout_ms"),
    ("timeout_millis", "timeout_ms"),
    ("timeout_secs", "timeout_ms"),
    ("deadline", "timeout_ms"),
    ("grace", "grace_ms"),
    ("grace_period", "grace_ms"),
    ("grace_period_ms", "grace_ms"),
    ("grace_millis", "grace_ms"),
    ("grace_secs", "grace_ms"),
    ("concurrency", "max_concurrency"),
    ("max_concurrent", "max_concurrency"),
    ("concurrency_limit", "max_concurrency"),
    ("limit", "max_concurrency"),
    ("max_tasks", "max_concurrency"),
    ("retain", "retain_failures"),
    ("max_failures", "retain_failures"),
    ("keep_failures", "retain_failures"),
    ("retain_errors", "retain_failures"),
    ("krate", "crate"),
    ("crate_path", "crate"),
    ("path", "crate"),
    ("label", "name"),
];

/// Which macro the options belong to; it decides the words of messages.
#[derive(Clone, Copy)]
pub(crate) enum Context {
    /// The arguments of `#[scoped(...)]`.
    Attribute,
    /// The leading options statement of `scope! { ...; }`.
    Macro,
}

impl Context {
    /// What one `key = value` pair is called.
    fn noun(self) -> &'static str {
        match self {
            Context::Attribute => "argument",
            Context::Macro => "option",
        }
    }

    /// What may follow a value.
    fn separators(self) -> &'static str {
        match self {
            Context::Attribute => "`,`",
            Context::Macro => "`,` or `;`",
        }
    }
}

/// One `key = value` pair as written, before validation.
pub(crate) struct RawOption {
    /// The key; any identifier, keywords (`crate`) included.
    pub(crate) key: Ident,
    /// The `=` after the key.
    pub(crate) eq: Token![=],
    /// The value; `None` when nothing follows the `=`.
    pub(crate) value: Option<Expr>,
}

/// A scope's policy, as chosen by `policy = "..."`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Policy {
    /// `policy = "cancel"`.
    Cancel,
    /// `policy = "supervise"`.
    Supervise,
}

/// Validated options. An option that was not given is `None` (or the default
/// path), and the expansion then leaves the engine's default alone.
pub(crate) struct Options {
    /// `policy = "..."`.
    pub(crate) policy: Option<Policy>,
    /// `name = "..."`, kept as the literal so that its span survives.
    pub(crate) name: Option<syn::LitStr>,
    /// `timeout_ms = N`: the value, and the span of the literal.
    pub(crate) timeout_ms: Option<(u64, Span)>,
    /// `grace_ms = N`: the value, and the span of the literal.
    pub(crate) grace_ms: Option<(u64, Span)>,
    /// `max_concurrency = N`: the value, and the span of the literal.
    pub(crate) max_concurrency: Option<(u64, Span)>,
    /// `retain_failures = N`: the value, and the span of the literal.
    pub(crate) retain_failures: Option<(u64, Span)>,
    /// `crate = "..."`, or `::async_scope`.
    pub(crate) krate: syn::Path,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            policy: None,
            name: None,
            timeout_ms: None,
            grace_ms: None,
            max_concurrency: None,
            retain_failures: None,
            krate: krate::default_path(),
        }
    }
}

/// Returns whether `key` names an option, or is a likely misspelling of one.
pub(crate) fn is_option_like(key: &str) -> bool {
    KEYS.contains(&key)
        || ALIASES.iter().any(|&(alias, _)| alias == key)
        || crate::diagnostics::closest(key, KEYS).is_some()
}

/// Parses `key = value, ...` (a trailing comma is allowed) up to the end of
/// `input`. Stops at the first structural mistake: a missing key, `=` or
/// separator.
pub(crate) fn parse(input: ParseStream<'_>, context: Context) -> syn::Result<Vec<RawOption>> {
    let mut options = Vec::new();
    while !input.is_empty() {
        if !input.peek(Ident::peek_any) {
            return Err(input.error(format!(
                "expected `key = value`, where the key is {}",
                one_of(KEYS)
            )));
        }
        let key = input.call(Ident::parse_any)?;
        if !input.peek(Token![=]) || input.peek(Token![==]) || input.peek(Token![=>]) {
            let word = key.to_string();
            let message = if POLICIES.contains(&word.as_str()) {
                format!("expected `policy = \"{word}\"`, a policy is given as a string")
            } else {
                format!("expected `=` after `{word}`")
            };
            return Err(if input.is_empty() {
                syn::Error::new(key.span(), message)
            } else {
                input.error(message)
            });
        }
        let eq: Token![=] = input.parse()?;
        let value = if input.is_empty() || input.peek(Token![,]) {
            None
        } else {
            Some(input.parse::<Expr>()?)
        };
        options.push(RawOption { key, eq, value });
        if input.is_empty() {
            break;
        }
        if !input.peek(Token![,]) {
            return Err(input.error(format!(
                "expected {} after the value of `{}`",
                context.separators(),
                options
                    .last()
                    .map_or_else(String::new, |o| o.key.to_string())
            )));
        }
        input.parse::<Token![,]>()?;
    }
    Ok(options)
}

/// Checks every pair on its own and returns the options, with the default in
/// place of each one that is wrong; every mistake goes to `errors`.
pub(crate) fn validate(raw: Vec<RawOption>, context: Context, errors: &mut Errors) -> Options {
    let mut options = Options::default();
    let mut seen = HashSet::new();
    for RawOption { key, eq, value } in raw {
        let word = key.to_string();
        if !KEYS.contains(&word.as_str()) {
            errors.error(key.span(), unknown_key(&word, context));
            continue;
        }
        if !seen.insert(word.clone()) {
            errors.error(key.span(), format!("duplicate `{word}` {}", context.noun()));
            continue;
        }
        let Some(value) = value else {
            errors.error_spanned(quote!(#key #eq), missing_value(&word));
            continue;
        };
        match word.as_str() {
            "policy" => options.policy = policy(&value, errors),
            "name" => options.name = string(&value, "name", "\"fetch\"", errors),
            "timeout_ms" => options.timeout_ms = integer(&value, &TIMEOUT_MS, errors),
            "grace_ms" => options.grace_ms = integer(&value, &GRACE_MS, errors),
            "max_concurrency" => {
                options.max_concurrency = integer(&value, &MAX_CONCURRENCY, errors);
            }
            "retain_failures" => {
                options.retain_failures = integer(&value, &RETAIN_FAILURES, errors);
            }
            _ => {
                if let Some(lit) = string(&value, "crate", "\"async_scope\"", errors) {
                    match krate::parse(&lit) {
                        Ok(path) => options.krate = path,
                        Err(err) => errors.push(err),
                    }
                }
            }
        }
    }
    options
}

/// The message for a key that is not an option.
fn unknown_key(word: &str, context: Context) -> String {
    let hint = ALIASES
        .iter()
        .find(|&&(alias, _)| alias == word)
        .map_or_else(
            || did_you_mean(word, KEYS),
            |&(_, key)| format!(", did you mean `{key}`?"),
        );
    let extra = if POLICIES.contains(&word) {
        format!(", did you mean `policy = \"{word}\"`?")
    } else {
        hint
    };
    format!(
        "unknown {} `{word}`, expected {}{extra}",
        context.noun(),
        one_of(KEYS)
    )
}

/// The message for `key =` with nothing after it.
fn missing_value(word: &str) -> String {
    let expected = match word {
        "policy" => "`\"cancel\"` or `\"supervise\"`",
        "timeout_ms" | "grace_ms" => "a number of milliseconds",
        "max_concurrency" => "a number of tasks",
        "retain_failures" => "a number of failures",
        "name" => "a string literal",
        _ => "a path in a string literal",
    };
    format!("expected {expected} after `{word} =`")
}

impl Options {
    /// Returns the call that runs `body` (a closure taking the `Scope`) in a
    /// scope with these options: `with_scope(body)` when no option is set,
    /// else `Scope::builder()`, one setter per option, then `.run(body)`.
    /// The result is a future; the caller adds `.await`.
    pub(crate) fn run(&self, body: &TokenStream) -> TokenStream {
        self.run_with(body, false)
    }

    /// As [`Options::run`], for a body that takes the `Scope` and the
    /// `Inline` handle: `with_scope_inline(body)` or `.run_inline(body)`.
    pub(crate) fn run_inline(&self, body: &TokenStream) -> TokenStream {
        self.run_with(body, true)
    }

    /// [`Options::run`] or, with `inline`, [`Options::run_inline`].
    fn run_with(&self, body: &TokenStream, inline: bool) -> TokenStream {
        let krate = &self.krate;
        let (function, method) = if inline {
            (quote!(with_scope_inline), quote!(run_inline))
        } else {
            (quote!(with_scope), quote!(run))
        };
        if self.policy.is_none()
            && self.name.is_none()
            && self.timeout_ms.is_none()
            && self.grace_ms.is_none()
            && self.max_concurrency.is_none()
            && self.retain_failures.is_none()
        {
            return quote!(#krate::#function(#body));
        }
        let mut chain = quote!(#krate::Scope::builder());
        if let Some(policy) = self.policy {
            let variant = match policy {
                Policy::Cancel => quote!(Cancel),
                Policy::Supervise => quote!(Supervise),
            };
            chain.extend(quote!(.policy(#krate::Policy::#variant)));
        }
        if let Some(name) = &self.name {
            chain.extend(quote!(.name(#name)));
        }
        if let Some(ms) = self.timeout_ms.map(literal) {
            chain.extend(quote!(.timeout(::core::time::Duration::from_millis(#ms))));
        }
        if let Some(ms) = self.grace_ms.map(literal) {
            chain.extend(quote!(.grace(::core::time::Duration::from_millis(#ms))));
        }
        if let Some(limit) = self.max_concurrency.map(literal) {
            chain.extend(quote!(.max_concurrency(#limit)));
        }
        if let Some(limit) = self.retain_failures.map(literal) {
            chain.extend(quote!(.retain_failures(#limit)));
        }
        quote!(#chain.#method(#body))
    }
}

/// An unsuffixed literal of `value` at the user's literal, so that rustc
/// infers the setter's type and points at the user's tokens.
fn literal((value, span): (u64, Span)) -> Literal {
    let mut lit = Literal::u64_unsuffixed(value);
    lit.set_span(span);
    lit
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse::Parser;

    /// Parses and validates `src`; returns the options, or every message.
    fn check(src: &str) -> Result<Options, Vec<String>> {
        let tokens: TokenStream = src.parse().expect("test input lexes");
        let raw = (|input: ParseStream<'_>| parse(input, Context::Attribute))
            .parse2(tokens)
            .map_err(|e| e.into_iter().map(|e| e.to_string()).collect::<Vec<_>>())?;
        let mut errors = Errors::default();
        let options = validate(raw, Context::Attribute, &mut errors);
        if errors.is_empty() {
            Ok(options)
        } else {
            Err(errors.messages())
        }
    }

    fn err(src: &str) -> String {
        match check(src) {
            Ok(_) => panic!("`{src}` was accepted"),
            Err(messages) => messages.join("\n"),
        }
    }

    #[test]
    fn accepts_every_option() {
        let o = check(r#"policy = "supervise", name = "n", timeout_ms = 250, crate = "renamed","#)
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(o.policy, Some(Policy::Supervise));
        assert_eq!(o.name.map(|n| n.value()).as_deref(), Some("n"));
        assert_eq!(o.timeout_ms.map(|t| t.0), Some(250));
        let krate = &o.krate;
        assert_eq!(quote!(#krate).to_string(), "renamed");
        let o =
            check(r#"policy = "cancel", timeout_ms = 1u64"#).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(o.policy, Some(Policy::Cancel));
        assert!(check("").is_ok());
    }

    #[test]
    fn accepts_the_long_lived_options() {
        let o = check("grace_ms = 500, max_concurrency = 8, retain_failures = 100")
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(o.grace_ms.map(|g| g.0), Some(500));
        assert_eq!(o.max_concurrency.map(|m| m.0), Some(8));
        assert_eq!(o.retain_failures.map(|r| r.0), Some(100));
        // zero is a grace period of none and keeps no failure; suffixes go
        let o = check("grace_ms = 0, retain_failures = 0usize, max_concurrency = 1u32")
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(o.grace_ms.map(|g| g.0), Some(0));
        assert_eq!(o.retain_failures.map(|r| r.0), Some(0));
        assert_eq!(o.max_concurrency.map(|m| m.0), Some(1));
        let o =
            check(&format!("max_concurrency = {}", usize::MAX)).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(o.max_concurrency.map(|m| m.0), Some(usize::MAX as u64));
    }

    #[test]
    fn reports_bad_long_lived_values() {
        assert_eq!(
            err("max_concurrency = 0"),
            "`max_concurrency` must be at least 1, a scope without a limit leaves `max_concurrency` out"
        );
        assert!(err("max_concurrency = -1").contains("`max_concurrency` must be positive"));
        assert!(err("grace_ms = -1").contains("`grace_ms` cannot be negative"));
        assert!(err("retain_failures = -1").contains("`retain_failures` cannot be negative"));
        assert!(err(r#"grace_ms = "500""#)
            .contains("expected an integer, not a string, write `grace_ms = 500`"));
        assert!(err(r#"grace_ms = "0""#).contains("write `grace_ms = 0`"));
        assert!(err(r#"max_concurrency = "8""#).contains("write `max_concurrency = 8`"));
        assert_eq!(
            err(r#"max_concurrency = "0""#),
            "expected an integer, not a string"
        );
        assert!(err(r#"retain_failures = "all""#).ends_with("expected an integer, not a string"));
        assert!(err("retain_failures = 1.5")
            .contains("expected a whole number of failures, not a float"));
        assert!(err("grace_ms = 5s")
            .contains("unexpected suffix `s`, `grace_ms` is a plain number of milliseconds"));
        assert!(err("max_concurrency = true")
            .contains("expected a positive whole number of tasks, such as `max_concurrency = 8`"));
        assert!(err("retain_failures = LIMIT")
            .contains("expected a whole number of failures, such as `retain_failures = 100`"));
        assert!(err("grace_ms = 99999999999999999999999")
            .contains("`grace_ms` is too large, it must fit in a `u64`"));
        assert!(err("retain_failures = 99999999999999999999999")
            .contains("`retain_failures` is too large, it must fit in a `usize`"));
        assert!(err("max_concurrency =")
            .contains("expected a number of tasks after `max_concurrency =`"));
        assert!(err("retain_failures =")
            .contains("expected a number of failures after `retain_failures =`"));
        assert!(err("grace_ms =").contains("expected a number of milliseconds after `grace_ms =`"));
    }

    #[test]
    fn reports_bad_values() {
        assert!(err(r#"policy = "supervize""#)
            .contains("unknown policy `supervize`, expected `cancel` or `supervise`, did you mean `supervise`?"));
        assert!(err(r#"policy = "fast""#)
            .contains("unknown policy `fast`, expected `cancel` or `supervise`"));
        assert!(err("policy = supervise").contains(r#"policy = "supervise""#));
        assert!(err("timeout_ms = 0").contains("must be at least 1"));
        assert!(err("timeout_ms = 5s").contains("unexpected suffix `s`"));
        assert!(err("timeout_ms = 1.5").contains("not a float"));
        assert!(err(r#"timeout_ms = "100""#).contains("write `timeout_ms = 100`"));
        assert!(err("timeout_ms = -1").contains("must be positive"));
        assert!(err("timeout_ms = 99999999999999999999999").contains("too large"));
        assert!(err("name = fetch").contains(r#"name = "fetch""#));
        assert!(err(r#"crate = "a b""#).contains("invalid `crate` path `a b`"));
        assert!(err("crate = renamed").contains(r#"crate = "renamed""#));
        assert!(err("policy =").contains("after `policy =`"));
        assert!(err("policy = , name = \"x\"").contains("after `policy =`"));
    }

    #[test]
    fn reports_keys() {
        assert!(err(r#"polcy = "cancel""#).contains("unknown argument `polcy`, expected `policy`, `name`, `timeout_ms`, `grace_ms`, `max_concurrency`, `retain_failures` or `crate`, did you mean `policy`?"));
        assert!(err("timeout = 5").contains("did you mean `timeout_ms`?"));
        assert_eq!(
            err("foo = 5"),
            "unknown argument `foo`, expected `policy`, `name`, `timeout_ms`, `grace_ms`, `max_concurrency`, `retain_failures` or `crate`"
        );
        let dup = err(r#"policy = "cancel", policy = "supervise""#);
        assert!(dup.contains("duplicate `policy` argument"), "{dup}");
        let dup = err("max_concurrency = 1, grace_ms = 1, max_concurrency = 2");
        assert_eq!(dup, "duplicate `max_concurrency` argument");
        for (guess, key) in [
            ("grace", "grace_ms"),
            ("grace_period_ms", "grace_ms"),
            ("grace_m", "grace_ms"),
            ("concurrency", "max_concurrency"),
            ("max_concurrent", "max_concurrency"),
            ("limit", "max_concurrency"),
            ("max_concurency", "max_concurrency"),
            ("retain", "retain_failures"),
            ("max_failures", "retain_failures"),
            ("keep_failures", "retain_failures"),
            ("retain_failure", "retain_failures"),
        ] {
            let message = err(&format!("{guess} = 5"));
            assert!(
                message.ends_with(&format!(", did you mean `{key}`?")),
                "{guess}: {message}"
            );
            assert!(is_option_like(guess), "{guess}");
        }
        // every alias names a key
        assert!(ALIASES.iter().all(|(_, key)| KEYS.contains(key)));
    }

    #[test]
    fn reports_structure() {
        assert!(err("policy").contains("expected `=` after `policy`"));
        assert!(err("supervise").contains(r#"expected `policy = "supervise"`"#));
        assert!(err(r#"policy "x""#).contains("expected `=` after `policy`"));
        assert!(err(r#""supervise""#).contains("expected `key = value`"));
        assert!(err(r#"policy = "cancel" name = "x""#)
            .contains("expected `,` after the value of `policy`"));
        assert!(err("policy == 1").contains("expected `=` after `policy`"));
    }

    #[test]
    fn reports_independent_mistakes_together() {
        let all = check(r#"polcy = "x", timeout_ms = 0, policy = "supervize", policy = "cancel""#)
            .err()
            .unwrap_or_default();
        assert_eq!(all.len(), 4, "{all:#?}");
    }

    #[test]
    fn runs_through_with_scope_or_the_builder() {
        let o = check("").unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            o.run(&quote!(body)).to_string(),
            quote!(::async_scope::with_scope(body)).to_string()
        );
        let o = check(r#"crate = "renamed", timeout_ms = 7, policy = "supervise", name = "n""#)
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            o.run(&quote!(body)).to_string(),
            quote!(renamed::Scope::builder()
                .policy(renamed::Policy::Supervise)
                .name("n")
                .timeout(::core::time::Duration::from_millis(7))
                .run(body))
            .to_string()
        );
        let o = check("retain_failures = 0, max_concurrency = 3usize, grace_ms = 250")
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            o.run(&quote!(body)).to_string(),
            quote!(::async_scope::Scope::builder()
                .grace(::core::time::Duration::from_millis(250))
                .max_concurrency(3)
                .retain_failures(0)
                .run(body))
            .to_string()
        );
        assert_eq!(
            o.run_inline(&quote!(body)).to_string(),
            quote!(::async_scope::Scope::builder()
                .grace(::core::time::Duration::from_millis(250))
                .max_concurrency(3)
                .retain_failures(0)
                .run_inline(body))
            .to_string()
        );
        let o = check("").unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            o.run_inline(&quote!(body)).to_string(),
            quote!(::async_scope::with_scope_inline(body)).to_string()
        );
    }
}
