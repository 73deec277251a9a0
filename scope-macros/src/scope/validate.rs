//! Validation of `scope!`'s input: the options, each spawn's kind and
//! signal, and a body that is not empty. Every mistake is recorded and
//! replaced by a default (the option left out, a normal task, no signal), so
//! that the expansion still type-checks the rest.

use proc_macro2::{Ident, Span};
use quote::quote;

use super::parse::{Binding, BodyStmt, ScopeInput, Signal, SpawnStmt};
use crate::diagnostics::{closest, did_you_mean, one_of, Errors};
use crate::options::{self, Context, Options};

/// The words that may follow `spawn`.
const KINDS: &[&str] = &["critical", "optional"];

/// A task's kind; each maps onto one `Scope` method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TaskKind {
    /// `spawn { .. }` → `scope.spawn(..)`.
    Normal,
    /// `spawn critical { .. }` → `scope.spawn_critical(..)`.
    Critical,
    /// `spawn optional { .. }` → `scope.spawn_optional(..)`.
    Optional,
}

impl TaskKind {
    /// The name of the `Scope` method that spawns this kind.
    pub(crate) fn method(self) -> &'static str {
        match self {
            TaskKind::Normal => "spawn",
            TaskKind::Critical => "spawn_critical",
            TaskKind::Optional => "spawn_optional",
        }
    }
}

/// Validated input, ready to expand.
pub(crate) struct ValidScope {
    /// The options, with defaults in place of wrong ones.
    pub(crate) options: Options,
    /// The statements, without the tail.
    pub(crate) stmts: Vec<ValidStmt>,
    /// The tail expression: the body's result. `None`: the body ends with a
    /// statement and its result is `Ok(())`.
    pub(crate) tail: Option<syn::Expr>,
    /// The first `inline` of a `spawn inline` anywhere in the body (set for
    /// nested ones by [`super::nested`]), if any: the scope then runs as
    /// `run_inline`, and the `inline` it binds is located there.
    pub(crate) inline: Option<Span>,
}

/// A validated statement.
pub(crate) enum ValidStmt {
    /// A Rust statement, unchanged.
    Rust(Box<syn::Stmt>),
    /// A spawn.
    Spawn(Box<ValidSpawn>),
}

/// A validated spawn.
pub(crate) struct ValidSpawn {
    /// Outer attributes of the statement.
    pub(crate) attrs: Vec<syn::Attribute>,
    /// `let pat [: type] =`, when the handle is bound.
    pub(crate) binding: Option<Binding>,
    /// The `spawn` keyword; its span becomes the method's.
    pub(crate) spawn: Ident,
    /// The task's kind.
    pub(crate) kind: TaskKind,
    /// The word `inline` of an inline task (`spawn inline ..`): a call on
    /// the `Inline` handle instead of the `Scope`, spanned there.
    pub(crate) inline: Option<Ident>,
    /// The signal's pattern and type, if named.
    pub(crate) signal: Option<(syn::Pat, Option<syn::Type>)>,
    /// The task's block.
    pub(crate) block: syn::Block,
}

/// Validates `input`. `complete` is false for the statements parsed before a
/// structural error, which may be empty without being a mistake.
pub(crate) fn scope(input: ScopeInput, complete: bool, errors: &mut Errors) -> ValidScope {
    let ScopeInput {
        options: raw_options,
        stmts,
    } = input;
    let options_span = raw_options.as_ref().map(|o| o.span);
    let options = match raw_options {
        Some(raw) => options::validate(raw.raw, Context::Macro, errors),
        None => Options::default(),
    };
    if complete && stmts.is_empty() {
        let message = "empty `scope!`, expected statements such as `spawn { .. }`, and an optional tail expression";
        errors.error(options_span.unwrap_or_else(Span::call_site), message);
    }
    let mut stmts: Vec<ValidStmt> = stmts
        .into_iter()
        .map(|stmt| match stmt {
            BodyStmt::Rust(stmt) => ValidStmt::Rust(stmt),
            BodyStmt::Spawn(spawn) => ValidStmt::Spawn(Box::new(spawn_stmt(*spawn, errors))),
        })
        .collect();
    let tail = if complete {
        take_tail(&mut stmts)
    } else {
        None
    };
    let inline = stmts.iter().find_map(|stmt| match stmt {
        ValidStmt::Spawn(spawn) => spawn.inline.as_ref().map(Ident::span),
        ValidStmt::Rust(_) => None,
    });
    ValidScope {
        options,
        stmts,
        tail,
        inline,
    }
}

/// Validates one spawn.
pub(crate) fn spawn_stmt(spawn: SpawnStmt, errors: &mut Errors) -> ValidSpawn {
    let SpawnStmt {
        attrs,
        binding,
        spawn,
        kinds,
        signal,
        block,
    } = spawn;
    let mut kind: Option<(TaskKind, String)> = None;
    let mut inline: Option<Ident> = None;
    let mut keywords = Vec::new();
    for word in kinds {
        let text = word.to_string();
        // what the task is called so far, for the messages
        let written = if inline.is_some() {
            "spawn inline"
        } else {
            "spawn"
        };
        let this = match text.as_str() {
            "critical" => TaskKind::Critical,
            "optional" => TaskKind::Optional,
            "inline" => {
                if inline.is_some() {
                    errors.error(
                        word.span(),
                        "duplicate `inline`, write it once: `spawn inline { .. }`",
                    );
                } else {
                    if let Some((_, first)) = &kind {
                        let signal = if signal.is_some() { "|signal| " } else { "" };
                        errors.error(
                            word.span(),
                            format!(
                                "`inline` comes right after `spawn`, before the kind: write `spawn inline {first} {signal}{{ .. }}`"
                            ),
                        );
                    }
                    inline = Some(word);
                }
                continue;
            }
            "async" | "move" => {
                keywords.push(word);
                continue;
            }
            "normal" => {
                errors.error(
                    word.span(),
                    format!("`{written}` alone starts a normal task, remove `normal`"),
                );
                continue;
            }
            _ => {
                errors.error(word.span(), unknown_kind(&text, written));
                continue;
            }
        };
        match &kind {
            None => kind = Some((this, text)),
            Some((_, first)) if *first == text => {
                errors.error(word.span(), format!("duplicate task kind `{text}`"));
            }
            Some((_, first)) => errors.error(
                word.span(),
                format!("a task has one kind, found both `{first}` and `{text}`"),
            ),
        }
    }
    if !keywords.is_empty() {
        let written = if inline.is_some() {
            "spawn inline"
        } else {
            "spawn"
        };
        errors.error_spanned(
            quote!(#(#keywords)*),
            format!(
                "the task's block is already an `async move` block, write `{written} {{ .. }}`"
            ),
        );
    }
    let signal = match signal {
        Some(Signal::Named(pat_and_type)) => Some(*pat_and_type),
        Some(Signal::Empty(bars)) => {
            errors.error(
                bars,
                "expected the signal's name between the bars, such as `|signal|`, or no bars",
            );
            None
        }
        None => None,
    };
    ValidSpawn {
        attrs,
        binding,
        spawn,
        kind: kind.map_or(TaskKind::Normal, |(kind, _)| kind),
        inline,
        signal,
        block,
    }
}

/// The message for a word after `spawn` (`written`: `spawn` or
/// `spawn inline`) that is no kind.
fn unknown_kind(word: &str, written: &str) -> String {
    let hint = did_you_mean(word, KINDS);
    if hint.is_empty() && written == "spawn" && closest(word, &["inline"]).is_some() {
        return format!(
            "unknown word `{word}` after `spawn`, did you mean `inline`? (`spawn inline {{ .. }}` starts an inline task)"
        );
    }
    format!(
        "unknown task kind `{word}`, expected {} after `{written}`{hint}",
        one_of(KINDS)
    )
}

/// Removes and returns the tail expression, if the body ends with one. A
/// final `for`, `while` or `if` without `else` is a statement (its value is
/// `()`), so the body's result is then `Ok(())`.
fn take_tail(stmts: &mut Vec<ValidStmt>) -> Option<syn::Expr> {
    let Some(ValidStmt::Rust(last)) = stmts.last() else {
        return None;
    };
    let is_tail = match &**last {
        syn::Stmt::Expr(expr, None) => !matches!(
            expr,
            syn::Expr::ForLoop(_)
                | syn::Expr::While(_)
                | syn::Expr::If(syn::ExprIf {
                    else_branch: None,
                    ..
                })
        ),
        syn::Stmt::Macro(mac) => mac.semi_token.is_none(),
        _ => false,
    };
    if !is_tail {
        return None;
    }
    let Some(ValidStmt::Rust(last)) = stmts.pop() else {
        // `stmts.last()` was a Rust statement just above
        return None;
    };
    match *last {
        syn::Stmt::Expr(expr, None) => Some(expr),
        syn::Stmt::Macro(mac) => Some(syn::Expr::Macro(syn::ExprMacro {
            attrs: mac.attrs,
            mac: mac.mac,
        })),
        // `is_tail` was computed from this very statement
        other => {
            stmts.push(ValidStmt::Rust(Box::new(other)));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proc_macro2::TokenStream;

    fn check(tokens: TokenStream) -> (ValidScope, Vec<String>) {
        let input = super::super::parse::input(tokens).unwrap_or_else(|(err, _)| panic!("{err}"));
        let mut errors = Errors::default();
        let valid = scope(input, true, &mut errors);
        (valid, errors.messages())
    }

    fn kinds(valid: &ValidScope) -> Vec<TaskKind> {
        valid
            .stmts
            .iter()
            .filter_map(|s| match s {
                ValidStmt::Spawn(s) => Some(s.kind),
                ValidStmt::Rust(_) => None,
            })
            .collect()
    }

    #[test]
    fn maps_kinds() {
        let (valid, errors) = check(quote!(spawn {} spawn critical {} spawn optional {}));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            kinds(&valid),
            [TaskKind::Normal, TaskKind::Critical, TaskKind::Optional]
        );
        assert!(valid.tail.is_none());
    }

    #[test]
    fn reports_kind_mistakes_and_recovers() {
        let (valid, errors) = check(quote!(
            spawn critcal {}
            spawn critical optional {}
            spawn optional optional {}
            spawn normal {}
            spawn async move {}
            spawn || {}
        ));
        assert_eq!(
            errors,
            [
                "unknown task kind `critcal`, expected `critical` or `optional` after `spawn`, did you mean `critical`?",
                "a task has one kind, found both `critical` and `optional`",
                "duplicate task kind `optional`",
                "`spawn` alone starts a normal task, remove `normal`",
                "the task's block is already an `async move` block, write `spawn { .. }`",
                "expected the signal's name between the bars, such as `|signal|`, or no bars",
            ]
        );
        assert_eq!(
            kinds(&valid),
            [
                TaskKind::Normal,
                TaskKind::Critical,
                TaskKind::Optional,
                TaskKind::Normal,
                TaskKind::Normal,
                TaskKind::Normal
            ]
        );
    }

    fn inline(valid: &ValidScope) -> Vec<bool> {
        valid
            .stmts
            .iter()
            .filter_map(|s| match s {
                ValidStmt::Spawn(s) => Some(s.inline.is_some()),
                ValidStmt::Rust(_) => None,
            })
            .collect()
    }

    #[test]
    fn maps_inline_kinds() {
        let (valid, errors) = check(quote!(
            spawn inline {}
            spawn inline critical |s| {}
            let h = spawn inline optional {};
            spawn critical {}
        ));
        assert!(errors.is_empty(), "{errors:?}");
        assert!(valid.inline.is_some());
        assert_eq!(inline(&valid), [true, true, true, false]);
        assert_eq!(
            kinds(&valid),
            [
                TaskKind::Normal,
                TaskKind::Critical,
                TaskKind::Optional,
                TaskKind::Critical
            ]
        );
        assert!(check(quote!(spawn critical {} let inline = 1;))
            .0
            .inline
            .is_none());
    }

    #[test]
    fn reports_inline_mistakes_and_recovers() {
        let (valid, errors) = check(quote!(
            spawn inline critcal {}
            spawn inline inline {}
            spawn critical inline {}
            spawn optional inline |s| {}
            spawn inlne {}
            spawn inline normal {}
            spawn inline async {}
        ));
        assert_eq!(
            errors,
            [
                "unknown task kind `critcal`, expected `critical` or `optional` after `spawn inline`, did you mean `critical`?",
                "duplicate `inline`, write it once: `spawn inline { .. }`",
                "`inline` comes right after `spawn`, before the kind: write `spawn inline critical { .. }`",
                "`inline` comes right after `spawn`, before the kind: write `spawn inline optional |signal| { .. }`",
                "unknown word `inlne` after `spawn`, did you mean `inline`? (`spawn inline { .. }` starts an inline task)",
                "`spawn inline` alone starts a normal task, remove `normal`",
                "the task's block is already an `async move` block, write `spawn inline { .. }`",
            ]
        );
        assert_eq!(inline(&valid), [true, true, true, true, false, true, true]);
        assert_eq!(kinds(&valid)[2], TaskKind::Critical);
    }

    #[test]
    fn finds_the_tail() {
        assert!(check(quote!(let a = 1; Ok(a))).0.tail.is_some());
        assert!(check(quote!(if a { Ok(1) } else { Ok(2) }))
            .0
            .tail
            .is_some());
        assert!(check(quote!(m! { x })).0.tail.is_some());
        assert!(check(quote!(let a = 1; Ok(a);)).0.tail.is_none());
        assert!(check(quote!(for x in y {})).0.tail.is_none());
        assert!(check(quote!(if a {})).0.tail.is_none());
        assert!(check(quote!(spawn {})).0.tail.is_none());
    }

    #[test]
    fn rejects_an_empty_body() {
        assert_eq!(check(quote!()).1.len(), 1);
        assert_eq!(check(quote!(policy = "cancel";)).1.len(), 1);
        assert_eq!(check(quote!(;)).1.len(), 1);
    }
}
