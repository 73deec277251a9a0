//! Expansion of `scope!`, from validated input only: it cannot fail.
//!
//! ```text
//! with_scope(|scope| async move {                   // or Scope::builder()...run(..)
//!     if let Some(r) = None::<Result<_, BoxError>> { return r; }   // fixes the body's error type
//!     let a = 1;                                    // Rust statements, unchanged
//!     let h = scope.spawn(move |_| async move { .. });             // let h = spawn { .. };
//!     scope.spawn_critical({
//!         let scope = Clone::clone(&scope);         // only when the block names `scope`
//!         move |signal| async move { .. }           // spawn critical |signal| { .. }
//!     });
//!     Ok(h.await?)                                  // the tail, or Ok(()) without one
//! })
//! .await
//! ```
//!
//! A body with at least one `spawn inline` (at any depth) runs as
//! `run_inline`, its body a block that borrows, not a `move` one: it takes
//! the two handles by value and borrows everything else it needs from the
//! code around the macro, which its inline tasks may then borrow too.
//!
//! ```text
//! with_scope_inline(|scope, inline| async {         // or Scope::builder()...run_inline(..)
//!     let scope = scope;                            // only when something names `scope`
//!     let inline = inline;                          // by-value uses: the block owns the handles
//!     if let Some(r) = None::<Result<_, BoxError>> { return r; }
//!     for u in &urls {                              // borrowed from outside the macro
//!         let h = inline.spawn(move |_| async move { .. });        // let h = spawn inline { .. };
//!         handles.push(h);
//!     }
//!     inline.spawn_critical({
//!         let inline = Clone::clone(&inline);       // only when the block names `inline`
//!         move |signal| async move { .. }           // spawn inline critical |signal| { .. }
//!     });
//!     let o = scope.spawn(move |_| async move { .. });             // ordinary spawns mix in
//!     Ok(..)
//! })
//! .await
//! ```

use proc_macro2::{Delimiter, Group, Ident, Span, TokenStream, TokenTree};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;

use super::validate::{ValidScope, ValidSpawn, ValidStmt};
use crate::diagnostics::{uses_inline, uses_scope};

/// Macros that cannot return from, or otherwise fix the type of, the block
/// they are called in (see [`spares_error_type`]).
const TRANSPARENT_MACROS: &[&str] = &[
    "assert",
    "assert_eq",
    "assert_ne",
    "cfg",
    "column",
    "concat",
    "dbg",
    "debug",
    "debug_assert",
    "debug_assert_eq",
    "debug_assert_ne",
    "env",
    "eprint",
    "eprintln",
    "error",
    "event",
    "file",
    "format",
    "format_args",
    "include_bytes",
    "include_str",
    "info",
    "join",
    "line",
    "matches",
    "module_path",
    "option_env",
    "panic",
    "pin",
    "print",
    "println",
    "select",
    "span",
    "stringify",
    "todo",
    "trace",
    "try_join",
    "unimplemented",
    "unreachable",
    "vec",
    "warn",
    "write",
    "writeln",
];

/// Returns the identifier `scope`, as the user's code sees it.
fn scope_ident() -> Ident {
    Ident::new("scope", Span::call_site())
}

/// Returns the type hint that fixes an async block's error type to
/// `BoxError` before its first `?` (as async-trait does for its bodies).
fn box_error_hint(krate: &syn::Path) -> TokenStream {
    let result = Ident::new("__async_scope_result", Span::mixed_site());
    quote! {
        if let ::core::option::Option::Some(#result) =
            ::core::option::Option::None::<::core::result::Result<_, #krate::BoxError>>
        {
            return #result;
        }
    }
}

/// Expands validated input into the `.await`ed run of a scope.
pub(crate) fn expand(scope: &ValidScope) -> TokenStream {
    let ValidScope {
        options,
        stmts,
        tail,
        inline,
    } = scope;
    let tail = tail.as_ref().map_or_else(
        || quote!(::core::result::Result::Ok(())),
        ToTokens::to_token_stream,
    );
    let body = body(stmts, &tail, &options.krate, false, *inline);
    let run = if inline.is_some() {
        options.run_inline(&body)
    } else {
        options.run(&body)
    };
    quote!(#run.await)
}

/// Returns the closure that is the scope's body: `|scope| async move { .. }`,
/// or with `inline`, `|scope, inline| async { let scope = scope; let inline =
/// inline; .. }`: a block that borrows what the code around the macro owns
/// and takes only the two handles by value, so that inline tasks may
/// borrow from there. With `typed`, the closure is one that is not passed to
/// the engine (the recovery expansion): its parameter is written
/// `scope: Scope`, and `inline` is a placeholder of type `Inline<'_>`.
pub(crate) fn body(
    stmts: &[ValidStmt],
    tail: &TokenStream,
    krate: &syn::Path,
    typed: bool,
    inline: Option<Span>,
) -> TokenStream {
    let scope = scope_ident();
    let names_scope = uses_scope(tail.clone())
        || stmts.iter().any(|stmt| match stmt {
            ValidStmt::Spawn(spawn) => {
                spawn.inline.is_none() || uses_scope(spawn.block.to_token_stream())
            }
            ValidStmt::Rust(stmt) => uses_scope(stmt.to_token_stream()),
        });
    let mut param = if names_scope {
        scope.to_token_stream()
    } else {
        quote!(_)
    };
    if typed {
        param.extend(quote!(: #krate::Scope));
    }
    let hint = box_error_hint(krate);
    let stmts = stmts.iter().map(|stmt| match stmt {
        ValidStmt::Rust(stmt) => rust_stmt(stmt),
        ValidStmt::Spawn(spawn) => spawn_stmt(spawn, &scope, krate),
    });
    let Some(first) = inline else {
        return quote! {
            |#param| async move {
                #hint
                #(#stmts)*
                #tail
            }
        };
    };
    // The handle is located at the first `spawn inline`: rustc's errors on
    // what inline tasks borrow (from the body itself) land there.
    let located = Span::call_site().located_at(first);
    let inline = Ident::new("inline", located);
    // by-value uses, so that the block owns the handles and borrows the rest
    let take_scope = names_scope.then(|| quote!(let #scope = #scope;));
    let (params, take_inline) = if typed {
        (
            param,
            quote!(let #inline: #krate::Inline<'_> = ::core::unreachable!();),
        )
    } else {
        (
            quote!(#param, #inline),
            quote_spanned!(located=> let #inline = #inline;),
        )
    };
    quote! {
        |#params| async {
            #take_scope
            #take_inline
            #hint
            #(#stmts)*
            #tail
        }
    }
}

/// Returns a Rust statement as written, with a `;` added when it is an
/// expression that needs one to be followed by more statements (the parser
/// only lets such an expression through as the tail, or in recovery).
fn rust_stmt(stmt: &syn::Stmt) -> TokenStream {
    let needs_semi = match stmt {
        syn::Stmt::Expr(expr, None) => !matches!(
            expr,
            syn::Expr::If(_)
                | syn::Expr::Match(_)
                | syn::Expr::Block(_)
                | syn::Expr::Unsafe(_)
                | syn::Expr::While(_)
                | syn::Expr::Loop(_)
                | syn::Expr::ForLoop(_)
                | syn::Expr::TryBlock(_)
                | syn::Expr::Const(_)
        ),
        syn::Stmt::Macro(mac) => {
            mac.semi_token.is_none() && !matches!(mac.mac.delimiter, syn::MacroDelimiter::Brace(_))
        }
        syn::Stmt::Local(_) | syn::Stmt::Item(_) | syn::Stmt::Expr(_, Some(_)) => false,
    };
    let mut tokens = stmt.to_token_stream();
    if needs_semi {
        tokens.extend(quote!(;));
    }
    tokens
}

/// Returns a spawn's attributes, binding and call.
fn spawn_parts<'a>(
    spawn: &'a ValidSpawn,
    scope: &Ident,
    krate: &syn::Path,
) -> (
    &'a [syn::Attribute],
    Option<&'a super::parse::Binding>,
    TokenStream,
) {
    let ValidSpawn {
        attrs,
        binding,
        spawn,
        kind,
        inline,
        signal,
        block,
    } = spawn;
    // The method carries the span of `spawn`, the task that of the block:
    // rustc's errors on the task's bounds (`Send`, its output) land there.
    let method = Ident::new(kind.method(), spawn.span());
    // An inline task's call carries the span of its `inline` (with the
    // hygiene of the `inline` the body binds): rustc's errors on what the
    // task borrows land there.
    let located = inline
        .as_ref()
        .map(|word| Span::call_site().located_at(word.span()));
    let receiver = match located {
        Some(span) => Ident::new("inline", span),
        None => scope.clone(),
    };
    let signal = match signal {
        Some((pat, Some(ty))) => quote!(#pat: #ty),
        Some((pat, None)) => pat.to_token_stream(),
        None => quote!(_),
    };
    let mut stmts = TokenStream::new();
    if spares_error_type(block) {
        stmts.extend(box_error_hint(krate));
    }
    for stmt in &block.stmts {
        stmt.to_tokens(&mut stmts);
    }
    let mut group = Group::new(Delimiter::Brace, stmts);
    group.set_span(block.brace_token.span.join());
    let task = quote_spanned!(block.span()=> move |#signal| async move #group);
    // A task that names a handle gets its own clone of it; only an inline
    // task can hold the `Inline` handle (its lifetime is the scope's).
    let mut clones = TokenStream::new();
    if uses_scope(block.to_token_stream()) {
        clones.extend(quote!(let #scope = ::core::clone::Clone::clone(&#scope);));
    }
    if inline.is_some() && uses_inline(block.to_token_stream()) {
        clones.extend(quote!(let #receiver = ::core::clone::Clone::clone(&#receiver);));
    }
    let task = if clones.is_empty() {
        task
    } else {
        quote!({
            #clones
            #task
        })
    };
    let call = match located {
        Some(span) => quote_spanned!(span=> #receiver.#method(#task)),
        None => quote!(#receiver.#method(#task)),
    };
    (attrs, binding.as_ref(), call)
}

/// Expands one spawn into its call, `scope.spawn_kind(move |signal| async move { .. })`
/// (`inline.spawn_kind(..)` for an inline task), without its attributes or
/// binding.
pub(crate) fn spawn_call(spawn: &ValidSpawn, scope: &Ident, krate: &syn::Path) -> TokenStream {
    spawn_parts(spawn, scope, krate).2
}

/// Expands one spawn into `[let pat =] scope.spawn_kind(move |signal| async move { .. });`.
fn spawn_stmt(spawn: &ValidSpawn, scope: &Ident, krate: &syn::Path) -> TokenStream {
    let (attrs, binding, call) = spawn_parts(spawn, scope, krate);
    if let Some(binding) = binding {
        let pat = &binding.pat;
        let ty = binding.ty.as_ref().map(|ty| quote!(: #ty));
        quote!(#(#attrs)* let #pat #ty = #call;)
    } else {
        quote!(#(#attrs)* #call;)
    }
}

/// Returns whether the task's error type can be fixed to `BoxError` without
/// changing the meaning of any program that compiles without the macro.
///
/// A block whose value is `Ok(..)` (a bare `Ok` call as its tail) and which
/// has no `return` leaves its error type to be inferred from nothing: `?`
/// and `Scope::spawn`'s `E: Into<BoxError>` bound never pick one type, so
/// written by hand it fails with "type annotations needed". Fixing the type
/// there only turns that error into working code. A macro could hide a
/// `return` (`anyhow::bail!`), so any macro outside [`TRANSPARENT_MACROS`]
/// keeps the block as written.
pub(crate) fn spares_error_type(block: &syn::Block) -> bool {
    let ends_in_ok = match block.stmts.last() {
        Some(syn::Stmt::Expr(syn::Expr::Call(call), None)) => match &*call.func {
            syn::Expr::Path(path) => {
                path.qself.is_none() && path.attrs.is_empty() && path.path.is_ident("Ok")
            }
            _ => false,
        },
        _ => false,
    };
    ends_in_ok && transparent(block.to_token_stream())
}

/// Returns whether `tokens` contain no `return` and call only transparent macros.
fn transparent(tokens: TokenStream) -> bool {
    let trees: Vec<TokenTree> = tokens.into_iter().collect();
    trees.iter().enumerate().all(|(i, tree)| match tree {
        TokenTree::Ident(ident) => {
            let is_macro = matches!(trees.get(i + 1), Some(TokenTree::Punct(p)) if p.as_char() == '!')
                && matches!(trees.get(i + 2), Some(TokenTree::Group(_)));
            ident != "return"
                && (!is_macro || TRANSPARENT_MACROS.iter().any(|name| ident == name))
        }
        TokenTree::Group(group) => transparent(group.stream()),
        TokenTree::Punct(_) | TokenTree::Literal(_) => true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn expand_str(tokens: TokenStream) -> String {
        let input = super::super::parse::input(tokens).unwrap_or_else(|(err, _)| panic!("{err}"));
        let mut errors = crate::diagnostics::Errors::default();
        let mut valid = super::super::validate::scope(input, true, &mut errors);
        super::super::nested::expand_nested(&mut valid, &mut errors);
        assert!(errors.is_empty());
        expand(&valid).to_string()
    }

    #[test]
    fn runs_inline_scopes_with_a_borrowing_body() {
        let hint = box_error_hint(&parse_quote!(::async_scope));
        let out = expand_str(quote!(
            for u in &urls {
                spawn inline { Ok(u.len()) }
            }
        ));
        let expected = quote!(::async_scope::with_scope_inline(|_, inline| async {
            let inline = inline;
            #hint
            for u in &urls {
                {
                    inline.spawn(move |_| async move { #hint Ok(u.len()) });
                }
            }
            ::core::result::Result::Ok(())
        })
        .await);
        assert_eq!(out, expected.to_string());
        // `scope` is taken when used; handles go to tasks that name them
        let out = expand_str(quote!(
            timeout_ms = 5;
            let h = spawn inline critical |s| { inline.spawn(f); Ok(scope.is_cancelled()) };
            spawn optional { Ok(()) }
            h.await
        ));
        assert!(out.contains(". run_inline (| scope , inline | async { let scope = scope ; let inline = inline ;"), "{out}");
        assert!(out.contains("let h = inline . spawn_critical ({ let scope = :: core :: clone :: Clone :: clone (& scope) ; let inline = :: core :: clone :: Clone :: clone (& inline) ; move | s | async move"), "{out}");
        assert!(
            out.contains("scope . spawn_optional (move | _ | async move"),
            "{out}"
        );
        // without `spawn inline`, the body is a `move` block as before
        let out = expand_str(quote!(let inline = 1; spawn { Ok(inline) }));
        assert!(out.contains("with_scope (| scope | async move {"), "{out}");
    }

    #[test]
    fn spares_only_blocks_with_an_unconstrained_error_type() {
        let spares = |block: syn::Block| spares_error_type(&block);
        assert!(spares(parse_quote!({ Ok(1) })));
        assert!(spares(parse_quote!({
            let x = f()?;
            println!("{x}");
            Ok(x)
        })));
        assert!(spares(parse_quote!({
            if a != b {
                Err(E)?
            }
            Ok(())
        })));
        assert!(!spares(parse_quote!({ f().await })));
        assert!(!spares(parse_quote!({ Ok::<_, E>(1) })));
        assert!(!spares(parse_quote!({
            if x {
                return Err(E);
            }
            Ok(1)
        })));
        assert!(!spares(parse_quote!({
            bail!("no");
            Ok(1)
        })));
        assert!(!spares(parse_quote!({
            Ok(1);
        })));
        assert!(!spares(parse_quote!({})));
    }
}
