//! Spawns below the body's top level: inside the blocks of `for`, `while`,
//! `loop`, `if`/`else`, `match` arms and plain blocks, at any depth.
//!
//! The parser wraps each of them in a marker macro call (see
//! [`super::mark::mark_nested`]) so that the statements around them parse
//! as Rust. This walk replaces every marker in statement position of the
//! body's own control flow by the expansion of its spawn, exactly as a
//! top-level one; a marker inside a closure, an `async` block (a task's block
//! is one), an item, or where a statement cannot stand is reported, and
//! replaced by an expression that fits anywhere. Nested `scope!` bodies are
//! never marked: their spawns are that macro's.

use proc_macro2::{Group, Ident, Span, TokenStream, TokenTree};
use quote::{quote, quote_spanned};

use super::expand;
use super::mark::MARKER;
use super::parse;
use super::validate::{self, ValidScope, ValidStmt};
use crate::diagnostics::Errors;

/// Where the walk stands.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    /// The body's own control flow: spawns expand here.
    Flow,
    /// Inside a closure.
    Closure,
    /// Inside an `async` block.
    Async,
}

/// Expands or reports every marked spawn of `scope`.
pub(crate) fn expand_nested(scope: &mut ValidScope, errors: &mut Errors) {
    let mut walk = Walk {
        krate: scope.options.krate.clone(),
        errors,
        inline: None,
    };
    for stmt in &mut scope.stmts {
        match stmt {
            ValidStmt::Rust(stmt) => walk.stmt(stmt, Ctx::Flow),
            ValidStmt::Spawn(spawn) => {
                walk.found(spawn.inline.as_ref().map(Ident::span));
                walk.block(&mut spawn.block, Ctx::Async);
            }
        }
    }
    if let Some(tail) = &mut scope.tail {
        walk.expr(tail, Ctx::Flow);
    }
    // A misplaced `spawn inline` counts too: its message tells to call
    // `inline.spawn(..)`, which then names the scope's handle.
    scope.inline = walk.inline.or(scope.inline);
}

/// The walk's state.
struct Walk<'a> {
    /// The crate's path, for the expansion.
    krate: syn::Path,
    /// Where mistakes go.
    errors: &'a mut Errors,
    /// The first `inline` of a `spawn inline`, top-level or marked, in
    /// the order of the source.
    inline: Option<Span>,
}

/// Returns the marker's tokens when `expr` is a marker call.
fn marker(expr: &syn::Expr) -> Option<&syn::Macro> {
    match expr {
        syn::Expr::Macro(mac) if mac.mac.path.is_ident(MARKER) => Some(&mac.mac),
        _ => None,
    }
}

/// Returns the span of `inline` when a marker's tokens (`spawn words..
/// [signal] { .. }`) are those of a `spawn inline`, `inline` standing among
/// its words.
fn inline_word(tokens: &TokenStream) -> Option<Span> {
    tokens
        .clone()
        .into_iter()
        .skip(1)
        .map_while(|tree| match tree {
            TokenTree::Ident(word) => Some(word),
            _ => None,
        })
        .find(|word| word == "inline")
        .map(|word| word.span())
}

/// The message for a spawn written where it cannot stand, in `ctx` (not
/// [`Ctx::Flow`]); `inline` for a `spawn inline`.
fn misplaced_message(ctx: Ctx, inline: bool) -> String {
    let (written, handle) = if inline {
        ("spawn inline", "inline")
    } else {
        ("spawn", "scope")
    };
    let (place, clone) = match ctx {
        Ctx::Closure => ("a closure", String::new()),
        Ctx::Async | Ctx::Flow => (
            "an `async` block (a task's block is one)",
            format!(", with a clone of `{handle}`"),
        ),
    };
    format!(
        "`{written}` statements of `scope!` cannot stand inside {place}: the task would not belong to this scope's body; call `{handle}.spawn(move |_| async move {{ .. }})` there instead{clone}"
    )
}

impl Walk<'_> {
    /// Records the `inline` of a `spawn inline`, if `word` is one, and
    /// returns whether it is.
    fn found(&mut self, word: Option<Span>) -> bool {
        self.inline = self.inline.or(word);
        word.is_some()
    }

    /// Returns the expansion of a marked spawn as a call expression, or, on
    /// a mistake, an expression of any type.
    fn spawn_call(&mut self, mac: &syn::Macro, ctx: Ctx) -> TokenStream {
        let span = mac
            .path
            .segments
            .first()
            .map_or_else(Span::call_site, |s| s.ident.span());
        let inline = self.found(inline_word(&mac.tokens));
        if ctx != Ctx::Flow {
            self.errors.error(span, misplaced_message(ctx, inline));
            return quote_spanned!(span=> ::core::unreachable!());
        }
        match parse::marked_spawn(mac.tokens.clone()) {
            Ok(spawn) => {
                let mut valid = validate::spawn_stmt(spawn, self.errors);
                self.block(&mut valid.block, Ctx::Async);
                let scope = Ident::new("scope", Span::call_site());
                expand::spawn_call(&valid, &scope, &self.krate)
            }
            Err(err) => {
                self.errors.push(err);
                quote_spanned!(span=> ::core::unreachable!())
            }
        }
    }

    /// Reports a marker that stands where a statement cannot.
    fn misplaced(&mut self, mac: &syn::Macro, ctx: Ctx) -> TokenStream {
        if ctx != Ctx::Flow {
            return self.spawn_call(mac, ctx);
        }
        let span = mac
            .path
            .segments
            .first()
            .map_or_else(Span::call_site, |s| s.ident.span());
        let written = if self.found(inline_word(&mac.tokens)) {
            "spawn inline"
        } else {
            "spawn"
        };
        self.errors.error(
            span,
            format!("a `{written}` of `scope!` is a statement: write `{written} {{ .. }};` or `let handle = {written} {{ .. }};` on its own"),
        );
        quote_spanned!(span=> ::core::unreachable!())
    }

    fn block(&mut self, block: &mut syn::Block, ctx: Ctx) {
        for stmt in &mut block.stmts {
            self.stmt(stmt, ctx);
        }
    }

    fn stmt(&mut self, stmt: &mut syn::Stmt, ctx: Ctx) {
        match stmt {
            syn::Stmt::Local(local) => {
                if let Some(init) = &mut local.init {
                    if let (Some(mac), None) = (marker(&init.expr), &init.diverge) {
                        let mac = mac.clone();
                        let call = self.spawn_call(&mac, ctx);
                        *init.expr = syn::Expr::Verbatim(call);
                    } else {
                        self.expr(&mut init.expr, ctx);
                        if let Some((_, diverge)) = &mut init.diverge {
                            self.expr(diverge, ctx);
                        }
                    }
                }
            }
            syn::Stmt::Macro(mac) if mac.mac.path.is_ident(MARKER) => {
                let inner = mac.mac.clone();
                let call = self.spawn_call(&inner, ctx);
                *stmt = syn::Stmt::Expr(syn::Expr::Verbatim(quote!({ #call; })), None);
            }
            syn::Stmt::Expr(expr, _) => {
                if let Some(mac) = marker(expr) {
                    let mac = mac.clone();
                    let call = self.spawn_call(&mac, ctx);
                    *expr = syn::Expr::Verbatim(quote!({ #call; }));
                } else {
                    self.expr(expr, ctx);
                }
            }
            syn::Stmt::Item(item) => {
                let tokens = self.item(quote::ToTokens::to_token_stream(item));
                *item = syn::Item::Verbatim(tokens);
            }
            syn::Stmt::Macro(_) => {}
        }
    }

    /// Reports every spawn inside an item (a `fn`, an `impl`) of the body,
    /// where `scope` is not in scope, and returns the item with each marker
    /// replaced by an expression of any type.
    fn item(&mut self, tokens: TokenStream) -> TokenStream {
        let trees: Vec<TokenTree> = tokens.into_iter().collect();
        let mut out = TokenStream::new();
        let mut skip = 0;
        for (i, tree) in trees.iter().cloned().enumerate() {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            match tree {
                TokenTree::Ident(ident) if ident == MARKER => {
                    let word = match trees.get(i + 2) {
                        Some(TokenTree::Group(args)) => inline_word(&args.stream()),
                        _ => None,
                    };
                    let message = if self.found(word) {
                        "`spawn inline` statements of `scope!` cannot stand inside an item (a `fn`, an `impl`): `inline` is not in scope there; pass the handle in and call `inline.spawn(..)`"
                    } else {
                        "`spawn` statements of `scope!` cannot stand inside an item (a `fn`, an `impl`): `scope` is not in scope there; pass the scope in and call `scope.spawn(..)`"
                    };
                    self.errors.error(ident.span(), message);
                    out.extend(quote_spanned!(ident.span()=> ::core::unreachable!()));
                    // the marker's `!` and its group
                    skip = 2;
                }
                TokenTree::Group(group) => {
                    let mut new = Group::new(group.delimiter(), self.item(group.stream()));
                    new.set_span(group.span());
                    out.extend([TokenTree::Group(new)]);
                }
                other => out.extend([other]),
            }
        }
        out
    }

    /// Walks an expression in which a marker may stand as a whole only where
    /// a statement can (a match arm's body).
    fn expr(&mut self, expr: &mut syn::Expr, ctx: Ctx) {
        use syn::Expr as E;
        if let Some(mac) = marker(expr) {
            let mac = mac.clone();
            *expr = E::Verbatim(self.misplaced(&mac, ctx));
            return;
        }
        match expr {
            E::Block(e) => self.block(&mut e.block, ctx),
            E::Unsafe(e) => self.block(&mut e.block, ctx),
            E::Loop(e) => self.block(&mut e.body, ctx),
            E::While(e) => {
                self.expr(&mut e.cond, ctx);
                self.block(&mut e.body, ctx);
            }
            E::ForLoop(e) => {
                self.expr(&mut e.expr, ctx);
                self.block(&mut e.body, ctx);
            }
            E::If(e) => {
                self.expr(&mut e.cond, ctx);
                self.block(&mut e.then_branch, ctx);
                if let Some((_, other)) = &mut e.else_branch {
                    self.expr(other, ctx);
                }
            }
            E::Match(e) => {
                self.expr(&mut e.expr, ctx);
                for arm in &mut e.arms {
                    if let Some((_, guard)) = &mut arm.guard {
                        self.expr(guard, ctx);
                    }
                    if let Some(mac) = marker(&arm.body) {
                        let mac = mac.clone();
                        let call = self.spawn_call(&mac, ctx);
                        *arm.body = E::Verbatim(quote!({ #call; }));
                    } else {
                        self.expr(&mut arm.body, ctx);
                    }
                }
            }
            E::Closure(e) => self.expr(&mut e.body, Ctx::Closure),
            E::Async(e) => self.block(&mut e.block, Ctx::Async),
            E::TryBlock(e) => self.block(&mut e.block, ctx),
            E::Const(e) => self.block(&mut e.block, ctx),
            E::Array(e) => e.elems.iter_mut().for_each(|x| self.expr(x, ctx)),
            E::Tuple(e) => e.elems.iter_mut().for_each(|x| self.expr(x, ctx)),
            E::Call(e) => {
                self.expr(&mut e.func, ctx);
                e.args.iter_mut().for_each(|x| self.expr(x, ctx));
            }
            E::MethodCall(e) => {
                self.expr(&mut e.receiver, ctx);
                e.args.iter_mut().for_each(|x| self.expr(x, ctx));
            }
            E::Assign(e) => {
                self.expr(&mut e.left, ctx);
                self.expr(&mut e.right, ctx);
            }
            E::Binary(e) => {
                self.expr(&mut e.left, ctx);
                self.expr(&mut e.right, ctx);
            }
            E::Index(e) => {
                self.expr(&mut e.expr, ctx);
                self.expr(&mut e.index, ctx);
            }
            E::Range(e) => {
                if let Some(x) = &mut e.start {
                    self.expr(x, ctx);
                }
                if let Some(x) = &mut e.end {
                    self.expr(x, ctx);
                }
            }
            E::Repeat(e) => {
                self.expr(&mut e.expr, ctx);
                self.expr(&mut e.len, ctx);
            }
            E::Struct(e) => {
                for field in &mut e.fields {
                    self.expr(&mut field.expr, ctx);
                }
                if let Some(rest) = &mut e.rest {
                    self.expr(rest, ctx);
                }
            }
            E::Await(e) => self.expr(&mut e.base, ctx),
            E::Cast(e) => self.expr(&mut e.expr, ctx),
            E::Field(e) => self.expr(&mut e.base, ctx),
            E::Group(e) => self.expr(&mut e.expr, ctx),
            E::Let(e) => self.expr(&mut e.expr, ctx),
            E::Paren(e) => self.expr(&mut e.expr, ctx),
            E::Reference(e) => self.expr(&mut e.expr, ctx),
            E::Try(e) => self.expr(&mut e.expr, ctx),
            E::Unary(e) => self.expr(&mut e.expr, ctx),
            E::Break(e) => {
                if let Some(x) = &mut e.expr {
                    self.expr(x, ctx);
                }
            }
            E::Return(e) => {
                if let Some(x) = &mut e.expr {
                    self.expr(x, ctx);
                }
            }
            E::Yield(e) => {
                if let Some(x) = &mut e.expr {
                    self.expr(x, ctx);
                }
            }
            _ => {}
        }
    }
}
