//! Parsing of `scope! { [options;] statements }` into a typed input that keeps
//! every span.
//!
//! The grammar, at the top level of the macro's body:
//!
//! ```text
//! input    := [options ";"] stmt*
//! options  := key "=" value ("," key "=" value)* [","]      (see crate::options)
//! stmt     := attr* ["let" pat [":" type] "="] "spawn" kind* [signal] block [";"]
//!           | any Rust statement, or a tail expression at the end
//! kind     := identifier                  ("inline", then "critical" or "optional"; checked later)
//! signal   := "|" pat [":" type] "|"  |  "||"
//! ```
//!
//! A first statement is read as options when it starts with `key =` and the
//! key is an option (`policy`, `name`, `timeout_ms`, `grace_ms`,
//! `max_concurrency`, `retain_failures`, `crate`), or a likely misspelling of
//! one followed by a literal. A statement is a spawn when it
//! starts with `spawn` followed by a block, a `|`, a `;`, the end, or an
//! identifier other than `as`: `spawn(..)`, `spawn!(..)` or `spawn.x` are
//! ordinary Rust.
//!
//! Spawns below the top level (in `for`, `if`, `match`, blocks...) are first
//! wrapped in a marker macro ([`super::mark`]) so that the code around them
//! parses as Rust; [`super::nested`] expands them after validation.
//!
//! Mistakes inside a spawn that leave its shape clear (its kind words, empty
//! signal bars) are kept for [`super::validate`]; anything else stops parsing
//! with an error, and the statements parsed so far go to the recovery
//! expansion.

use proc_macro2::{Delimiter, Ident, Spacing, Span, TokenStream, TokenTree};
use syn::ext::IdentExt;
use syn::parse::discouraged::Speculative;
use syn::parse::{ParseStream, Parser};
use syn::{token, Token};

use super::mark::mark_nested;
use crate::options::{self, Context, RawOption};

/// The typed input of `scope!`.
#[derive(Default)]
pub(crate) struct ScopeInput {
    /// The leading options, when there is an options statement.
    pub(crate) options: Option<Options>,
    /// The statements of the body, in order.
    pub(crate) stmts: Vec<BodyStmt>,
}

/// The leading options statement.
pub(crate) struct Options {
    /// The `key = value` pairs.
    pub(crate) raw: Vec<RawOption>,
    /// The span of the whole statement, for "nothing after the options".
    pub(crate) span: Span,
}

/// One top-level statement of the body.
pub(crate) enum BodyStmt {
    /// A Rust statement, passed through unchanged.
    Rust(Box<syn::Stmt>),
    /// A `spawn` statement.
    Spawn(Box<SpawnStmt>),
}

/// `[#[attr]*] [let pat [: type] =] spawn kind* [signal] { .. } [;]`
pub(crate) struct SpawnStmt {
    /// Outer attributes of the statement (`#[cfg(..)]`, `#[allow(..)]`).
    pub(crate) attrs: Vec<syn::Attribute>,
    /// `let pat [: type] =`, when the handle is bound.
    pub(crate) binding: Option<Binding>,
    /// The `spawn` keyword.
    pub(crate) spawn: Ident,
    /// The words between `spawn` and the signal or block, unchecked.
    pub(crate) kinds: Vec<Ident>,
    /// The signal's name, if given.
    pub(crate) signal: Option<Signal>,
    /// The task's block.
    pub(crate) block: syn::Block,
}

/// `let pat [: type] =` in front of a spawn.
pub(crate) struct Binding {
    /// The pattern that binds the handle.
    pub(crate) pat: syn::Pat,
    /// The handle's type, if written.
    pub(crate) ty: Option<syn::Type>,
}

/// The task's signal parameter.
pub(crate) enum Signal {
    /// `|pat|` or `|pat: Type|`.
    Named(Box<(syn::Pat, Option<syn::Type>)>),
    /// `||`: bars with no name in them.
    Empty(Span),
}

/// Parses the input of `scope!`. On a structural mistake, returns the error
/// with what was parsed before it.
pub(crate) fn input(tokens: TokenStream) -> Result<ScopeInput, (syn::Error, ScopeInput)> {
    let mut parsed = ScopeInput::default();
    let (options, body) = split_options(tokens);
    if let Some((options_tokens, span)) = options {
        let parser = |input: ParseStream<'_>| options::parse(input, Context::Macro);
        match parser.parse2(options_tokens) {
            Ok(raw) => parsed.options = Some(Options { raw, span }),
            Err(err) => return Err((err, parsed)),
        }
    }
    let body = mark_nested(body, true).0;
    let stmts = &mut parsed.stmts;
    let parser = |input: ParseStream<'_>| {
        while !input.is_empty() {
            if input.peek(Token![;]) {
                input.parse::<Token![;]>()?;
            } else if let Some(spawn) = spawn_stmt(input)? {
                stmts.push(BodyStmt::Spawn(Box::new(spawn)));
            } else {
                stmts.push(BodyStmt::Rust(Box::new(stmt(input)?)));
            }
        }
        Ok(())
    };
    match parser.parse2(body) {
        Ok(()) => Ok(parsed),
        Err(err) => Err((err, parsed)),
    }
}

/// Splits off the leading options statement: its tokens (without the `;`)
/// and its span, then the rest.
fn split_options(tokens: TokenStream) -> (Option<(TokenStream, Span)>, TokenStream) {
    let trees: Vec<TokenTree> = tokens.into_iter().collect();
    let is_options = match trees.as_slice() {
        [TokenTree::Ident(key), TokenTree::Punct(eq), rest @ ..]
            if eq.as_char() == '=' && eq.spacing() == Spacing::Alone =>
        {
            let key = key.to_string();
            let known = options::KEYS.contains(&key.as_str());
            let literal_follows = matches!(rest.first(), Some(TokenTree::Literal(_)));
            known || (literal_follows && options::is_option_like(&key))
        }
        _ => false,
    };
    if !is_options {
        return (None, trees.into_iter().collect());
    }
    let end = trees
        .iter()
        .position(|tree| matches!(tree, TokenTree::Punct(p) if p.as_char() == ';'))
        .unwrap_or(trees.len());
    let span = trees.first().map_or_else(Span::call_site, TokenTree::span);
    let mut trees = trees.into_iter();
    let options: TokenStream = trees.by_ref().take(end).collect();
    // the `;` itself, if any
    trees.next();
    (Some((options, span)), trees.collect())
}

/// Returns whether `input` starts a spawn statement: `spawn` followed by a
/// block, `|`, `;`, the end, or an identifier other than `as`.
fn at_spawn(input: ParseStream<'_>) -> bool {
    let Some((ident, next)) = input.cursor().ident() else {
        return false;
    };
    if ident != "spawn" {
        return false;
    }
    if next.eof() || next.group(Delimiter::Brace).is_some() {
        return true;
    }
    if let Some((punct, _)) = next.punct() {
        return matches!(punct.as_char(), '|' | ';');
    }
    matches!(next.ident(), Some((word, _)) if word != "as")
}

/// Parses a spawn statement if `input` starts one, with or without `let`
/// and outer attributes.
fn spawn_stmt(input: ParseStream<'_>) -> syn::Result<Option<SpawnStmt>> {
    let fork = input.fork();
    let Ok(attrs) = fork.call(syn::Attribute::parse_outer) else {
        return Ok(None);
    };
    let binding = if fork.peek(Token![let]) {
        match binding(&fork) {
            Ok(binding) if at_spawn(&fork) => Some(binding),
            _ => return Ok(None),
        }
    } else if at_spawn(&fork) {
        None
    } else {
        return Ok(None);
    };
    input.advance_to(&fork);
    spawn_rest(input, attrs, binding).map(Some)
}

/// Parses `let pat [: type] =`.
fn binding(input: ParseStream<'_>) -> syn::Result<Binding> {
    input.parse::<Token![let]>()?;
    let pat = syn::Pat::parse_single(input)?;
    let ty = if input.peek(Token![:]) {
        input.parse::<Token![:]>()?;
        Some(input.parse()?)
    } else {
        None
    };
    input.parse::<Token![=]>()?;
    Ok(Binding { pat, ty })
}

/// Parses the tokens of a marker (`spawn kind* [signal] { .. }`) as a spawn
/// without a binding.
pub(crate) fn marked_spawn(tokens: TokenStream) -> syn::Result<SpawnStmt> {
    let parser = |input: ParseStream<'_>| {
        let spawn = spawn_rest(input, Vec::new(), None)?;
        if !input.is_empty() {
            return Err(input.error("unexpected tokens after the spawn's block"));
        }
        Ok(spawn)
    };
    parser.parse2(tokens)
}

/// Parses a spawn from its `spawn` keyword on.
fn spawn_rest(
    input: ParseStream<'_>,
    attrs: Vec<syn::Attribute>,
    binding: Option<Binding>,
) -> syn::Result<SpawnStmt> {
    let spawn = input.call(Ident::parse_any)?;
    let mut kinds = Vec::new();
    while input.peek(Ident::peek_any) {
        let word = input.call(Ident::parse_any)?;
        if input.peek(token::Paren)
            || input.peek(Token![.])
            || input.peek(Token![::])
            || input.peek(Token![!])
            || input.peek(Token![?])
        {
            return Err(syn::Error::new(
                word.span(),
                format!("`spawn` takes a block, such as `spawn {{ {word}(..).await }}`"),
            ));
        }
        kinds.push(word);
    }
    let signal = signal(input)?;
    if input.peek(Ident::peek_any) {
        let word = input.call(Ident::parse_any)?;
        let message = if word == "inline" {
            let kinds = kinds
                .iter()
                .map(|kind| format!("{kind} "))
                .collect::<String>();
            format!("`inline` comes right after `spawn`, before the signal: `spawn inline {kinds}|signal| {{ .. }}`")
        } else if word == "critical" || word == "optional" {
            let inline = if kinds.iter().any(|kind| kind == "inline") {
                "inline "
            } else {
                ""
            };
            format!("the kind comes before the signal: `spawn {inline}{word} |signal| {{ .. }}`")
        } else {
            format!("expected a block after the signal, found `{word}`")
        };
        return Err(syn::Error::new(word.span(), message));
    }
    if !input.peek(token::Brace) {
        let written = std::iter::once(spawn.to_string())
            .chain(kinds.iter().map(Ident::to_string))
            .collect::<Vec<_>>()
            .join(" ");
        let message = format!("expected a block after `{written}`, such as `{written} {{ .. }}`");
        let tokens = quote::quote!(#spawn #(#kinds)*);
        return Err(if input.is_empty() || input.peek(Token![;]) {
            syn::Error::new_spanned(tokens, message)
        } else {
            input.error(message)
        });
    }
    let block: syn::Block = input.parse()?;
    if input.peek(Token![;]) {
        input.parse::<Token![;]>()?;
    } else if binding.is_some() {
        return Err(syn::Error::new(
            block.brace_token.span.close(),
            "expected `;` after the spawn's block",
        ));
    } else if input.peek(Token![.]) || input.peek(Token![?]) {
        return Err(input.error(
            "a `spawn` statement ends after its block; to use the handle, bind it: `let handle = spawn { .. };`",
        ));
    }
    Ok(SpawnStmt {
        attrs,
        binding,
        spawn,
        kinds,
        signal,
        block,
    })
}

/// Parses the optional signal: `|pat [: type]|` or `||`.
fn signal(input: ParseStream<'_>) -> syn::Result<Option<Signal>> {
    if input.peek(Token![||]) {
        let bars: Token![||] = input.parse()?;
        return Ok(Some(Signal::Empty(bars.spans[0])));
    }
    if !input.peek(Token![|]) {
        return Ok(None);
    }
    let open: Token![|] = input.parse()?;
    if input.peek(Token![|]) {
        input.parse::<Token![|]>()?;
        return Ok(Some(Signal::Empty(open.span)));
    }
    let pat = syn::Pat::parse_single(input)?;
    let ty = if input.peek(Token![:]) {
        input.parse::<Token![:]>()?;
        Some(input.parse()?)
    } else {
        None
    };
    if !input.peek(Token![|]) {
        return Err(
            input.error("expected `|` after the signal, a task takes one signal: `|signal|`")
        );
    }
    input.parse::<Token![|]>()?;
    Ok(Some(Signal::Named(Box::new((pat, ty)))))
}

/// Parses one Rust statement, or the tail expression (an expression that
/// ends the input without a `;`).
fn stmt(input: ParseStream<'_>) -> syn::Result<syn::Stmt> {
    let fork = input.fork();
    let err = match fork.parse::<syn::Stmt>() {
        Ok(stmt) => {
            input.advance_to(&fork);
            return Ok(stmt);
        }
        Err(err) => err,
    };
    let tail = input.fork();
    match tail.parse::<syn::Expr>() {
        // A tail must also read back as one in the expansion's block
        // (`crate` alone parses as a path, but not as a statement).
        Ok(expr)
            if tail.is_empty() && syn::parse2::<syn::Block>(quote::quote!({ #expr })).is_ok() =>
        {
            input.advance_to(&tail);
            Ok(syn::Stmt::Expr(expr, None))
        }
        _ => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::mark::MARKER;
    use quote::quote;

    fn parse(tokens: TokenStream) -> Result<ScopeInput, String> {
        input(tokens).map_err(|(err, _)| err.to_string())
    }

    fn spawns(input: &ScopeInput) -> Vec<&SpawnStmt> {
        input
            .stmts
            .iter()
            .filter_map(|s| match s {
                BodyStmt::Spawn(s) => Some(&**s),
                BodyStmt::Rust(_) => None,
            })
            .collect()
    }

    #[test]
    fn parses_every_form() {
        let input = parse(quote! {
            policy = "supervise", timeout_ms = 5;
            let a = 1;
            let h = spawn { Ok(a) };
            let h2: TaskHandle<u8> = spawn critical |sig| { sig.cancelled().await; Ok(1) };
            spawn optional |_: CancellationToken| { Ok(()) }
            spawn { Ok(()) };
            Ok((h.await?, h2.await?))
        })
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(input.options.as_ref().map(|o| o.raw.len()), Some(2));
        assert_eq!(input.stmts.len(), 6);
        let spawns = spawns(&input);
        assert_eq!(spawns.len(), 4);
        assert!(spawns[0].binding.is_some() && spawns[0].kinds.is_empty());
        assert!(spawns[1].binding.as_ref().is_some_and(|b| b.ty.is_some()));
        assert_eq!(spawns[1].kinds.len(), 1);
        assert!(matches!(&spawns[1].signal, Some(Signal::Named(s)) if s.1.is_none()));
        assert!(matches!(&spawns[2].signal, Some(Signal::Named(s)) if s.1.is_some()));
        assert!(matches!(input.stmts.first(), Some(BodyStmt::Rust(_))));
        assert!(matches!(
            input.stmts.last(),
            Some(BodyStmt::Rust(s)) if matches!(**s, syn::Stmt::Expr(_, None))
        ));
    }

    #[test]
    fn keeps_attributes_on_spawns() {
        let input = parse(quote! {
            #[allow(unused)]
            let h = spawn { Ok(1) };
            #[cfg(test)]
            spawn critical {}
            #[allow(unused)]
            let x = 1;
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let spawns = spawns(&input);
        assert_eq!(spawns.len(), 2);
        assert!(spawns.iter().all(|s| s.attrs.len() == 1));
        assert!(matches!(input.stmts.last(), Some(BodyStmt::Rust(_))));
    }

    #[test]
    fn tells_spawn_statements_from_rust() {
        let input = parse(quote! {
            spawn(x);
            spawn!(x);
            let s = spawn.clone();
            let n = spawn as u8;
            spawn = 3;
        })
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(spawns(&input).is_empty());
        assert_eq!(input.stmts.len(), 5);
    }

    #[test]
    fn tells_options_from_statements() {
        let with = |tokens| parse(tokens).map(|i| i.options.is_some());
        assert_eq!(with(quote!(policy = "cancel"; Ok(()))), Ok(true));
        assert_eq!(with(quote!(crate = "x"; Ok(()))), Ok(true));
        assert_eq!(with(quote!(polcy = "cancel"; Ok(()))), Ok(true));
        assert_eq!(with(quote!(counter = 1; Ok(()))), Ok(false));
        assert_eq!(with(quote!(grace_ms = 0; Ok(()))), Ok(true));
        assert_eq!(with(quote!(max_concurrency = n; Ok(()))), Ok(true));
        assert_eq!(with(quote!(retain_failures = 1; Ok(()))), Ok(true));
        // a guess followed by a literal is read as options, to be reported
        assert_eq!(with(quote!(grace = 5; Ok(()))), Ok(true));
        assert_eq!(with(quote!(concurrency = 2, name = "x"; Ok(()))), Ok(true));
        assert_eq!(with(quote!(grace = delay; Ok(()))), Ok(false));
        assert_eq!(with(quote!(polcy = x; Ok(()))), Ok(false));
        assert_eq!(with(quote!(policy == x; Ok(()))), Ok(false));
        assert_eq!(with(quote!(policy = "cancel")), Ok(true));
    }

    #[test]
    fn keeps_kind_words_for_validation() {
        let input = parse(quote!(spawn critcal optional {})).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(spawns(&input)[0].kinds.len(), 2);
        let input = parse(quote!(spawn async move {})).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(spawns(&input)[0].kinds.len(), 2);
        let input = parse(quote!(spawn || {})).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(spawns(&input)[0].signal, Some(Signal::Empty(_))));
    }

    #[test]
    fn reports_structural_mistakes() {
        let err = |tokens| parse(tokens).err().unwrap_or_default();
        assert!(err(quote!(spawn critical;)).contains("expected a block after `spawn critical`"));
        assert!(err(quote!(spawn)).contains("expected a block after `spawn`"));
        assert!(err(quote!(spawn fetch();)).contains("`spawn` takes a block"));
        assert!(err(quote!(spawn {}.await;)).contains("bind it"));
        assert!(err(quote!(let h = spawn {} h)).contains("expected `;`"));
        assert!(err(quote!(spawn | a, b | {})).contains("a task takes one signal"));
        assert!(err(quote!(spawn | s | critical {})).contains("the kind comes before the signal"));
        assert!(err(quote!(spawn inline | s | critical {}))
            .contains("the kind comes before the signal: `spawn inline critical |signal|"));
        assert!(err(quote!(spawn critical | s | inline {}))
            .contains("before the signal: `spawn inline critical |signal|"));
        assert!(err(quote!(spawn inline;)).contains("expected a block after `spawn inline`"));
        assert!(err(quote!(let x = 1; x y)).contains("expected semicolon"));
        assert!(err(quote!(policy = "cancel" spawn {};)).contains("expected `,` or `;`"));
    }

    #[test]
    fn marks_spawns_below_the_top_level() {
        for nested in [
            quote!(if true { spawn { Ok(()) } } Ok(())),
            quote!(if true { spawn critical { Ok(()) } } Ok(())),
            quote!(for i in 0..3 {
                let h = spawn | s | { Ok(i) };
            }),
            quote!(let x = async { spawn optional |s| {} };),
            quote!(match x {
                1 => spawn || {},
                _ => {}
            }),
        ] {
            let input = parse(nested).unwrap_or_else(|e| panic!("{e}"));
            assert!(spawns(&input).is_empty());
            let all: TokenStream = input
                .stmts
                .iter()
                .map(|s| match s {
                    BodyStmt::Rust(s) => quote::ToTokens::to_token_stream(s),
                    BodyStmt::Spawn(_) => TokenStream::new(),
                })
                .collect();
            assert!(all.to_string().contains(MARKER), "{all}");
        }
        // names, methods, paths and macros are not marked
        let (tokens, changed) = mark_nested(
            quote!({ spawn(x); x.spawn {}; tokio::spawn(f); let s = spawn as u8; m! { spawn {} } }),
            true,
        );
        assert!(!changed, "{tokens}");
    }

    #[test]
    fn keeps_what_parsed_before_a_mistake() {
        let (_, partial) = input(quote!(let a = 1; spawn {}; spawn critical;))
            .err()
            .unwrap_or_else(|| panic!("accepted"));
        assert_eq!(partial.stmts.len(), 2);
    }
}
