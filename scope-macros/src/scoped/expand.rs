//! Expansion of `#[scoped]`, from validated input only: it cannot fail.
//!
//! ```text
//! #vis async fn f(args) -> Result<T, E> {
//!     let mut slot = None;                        // the body's own error, if it returns one
//!     match Scope::builder()...run(|scope| {      // or with_scope(..) without options
//!         let slot = &mut slot;
//!         async move {
//!             match async move { body }.await {   // `return` and `?` as in the original fn
//!                 Ok(value) => Ok(value),
//!                 Err(error) => { *slot = Some(error); Err(BodyError) }
//!             }
//!         }
//!     }).await {
//!         Ok(value) => Ok(value),
//!         Err(scope_error) => match slot {
//!             // the body failed the scope: its own error, unchanged
//!             Some(error) if matches!(scope_error.reason(), Reason::BodyFailed(_)) => Err(error),
//!             // the scope failed first (or on its own): its error, converted
//!             _ => Err(From::from(scope_error)),
//!         },
//!     }
//! }
//! ```

use proc_macro2::{Delimiter, Group, Ident, Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;

use super::validate::{has_impl_trait, is_scoped, ScopedFn};
use crate::diagnostics::{mentions, uses_scope};
use crate::options::Options;

/// Returns an identifier that user code cannot see (`macro_rules!` hygiene).
fn private(name: &str) -> Ident {
    Ident::new(name, Span::mixed_site())
}

/// Splits a function's attributes into outer ones (`#[..]`, before the
/// function) and inner ones (`#![..]`, first in its body), which `syn` keeps
/// in one list.
fn split_attrs<'a>(
    attrs: impl Iterator<Item = &'a syn::Attribute>,
) -> (Vec<&'a syn::Attribute>, Vec<&'a syn::Attribute>) {
    attrs.partition(|attr| matches!(attr.style, syn::AttrStyle::Outer))
}

/// Expands a validated function.
pub(crate) fn expand(f: ScopedFn, options: &Options) -> TokenStream {
    let ScopedFn { item, ret } = f;
    let syn::ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = *item;
    let (outer, inner) = split_attrs(attrs.iter());
    let krate = &options.krate;
    let slot = private("__async_scope_slot");
    let slot_ref = private("__async_scope_slot_ref");
    let value = private("__async_scope_value");
    let error = private("__async_scope_error");
    let scope_error = private("__async_scope_scope_error");

    // `scope` is visible to the body; `_` when the body never names it, so
    // that no unused-variable warning points at the user's code.
    let scope = if uses_scope(block.to_token_stream()) {
        Ident::new("scope", Span::call_site()).into_token_stream()
    } else {
        quote!(_)
    };
    // Fixes the body's type before its first `?`, as async-trait does, so
    // that `?` converts into the function's error type.
    let hint = if has_impl_trait(&ret) {
        TokenStream::new()
    } else {
        quote! {
            if let ::core::option::Option::Some(#value) = ::core::option::Option::None::<#ret> {
                return #value;
            }
        }
    };
    // The user's statements go straight into the block that holds the hint,
    // whose braces keep the span of the user's braces.
    let mut stmts = hint;
    for stmt in &block.stmts {
        stmt.to_tokens(&mut stmts);
    }
    let mut braces = Group::new(Delimiter::Brace, stmts);
    braces.set_span(block.brace_token.span.join());
    let body = quote_spanned!(block.span()=> async move #braces);
    let run = options.run(&quote! {
        |#scope| {
            let #slot_ref = &mut #slot;
            async move {
                match #body.await {
                    ::core::result::Result::Ok(#value) => ::core::result::Result::Ok(#value),
                    ::core::result::Result::Err(#error) => {
                        *#slot_ref = ::core::option::Option::Some(#error);
                        ::core::result::Result::Err(#krate::__private::BodyError)
                    }
                }
            }
        }
    });
    // Spanned on the return type: a missing `From<ScopeError>` is blamed
    // there. rustc blames the call's argument, so it carries that span too;
    // its block holds no user code, so the name it binds is seen by none.
    let at_ret = Ident::new("scope_error", ret.span());
    let convert = quote_spanned! {ret.span()=>
        {
            let #at_ret = #scope_error;
            ::core::result::Result::Err(::core::convert::From::from(#at_ret))
        }
    };
    quote! {
        #(#outer)*
        #vis #sig {
            #(#inner)*
            let mut #slot = ::core::option::Option::None;
            match #run.await {
                ::core::result::Result::Ok(#value) => ::core::result::Result::Ok(#value),
                ::core::result::Result::Err(#scope_error) => match #slot {
                    ::core::option::Option::Some(#error)
                        if ::core::matches!(#scope_error.reason(), #krate::Reason::BodyFailed(_)) =>
                    {
                        ::core::result::Result::Err(#error)
                    }
                    _ => #convert,
                },
            }
        }
    }
}

/// The recovery expansion for a function that failed validation: the
/// function as written, minus any repeated `#[scoped]`, with `scope` declared
/// (unless a parameter has that name) so that its body raises no error of
/// its own about `scope`. The compile error already stops the build, so the
/// declaration never runs.
pub(crate) fn fallback(item: Box<syn::ItemFn>, options: &Options) -> TokenStream {
    let syn::ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = *item;
    let (outer, inner) = split_attrs(attrs.iter().filter(|attr| !is_scoped(attr)));
    let has_scope_param = sig.inputs.iter().any(|input| match input {
        syn::FnArg::Typed(typed) => mentions(typed.pat.to_token_stream(), "scope"),
        syn::FnArg::Receiver(_) => false,
    });
    let krate = &options.krate;
    let scope = Ident::new("scope", Span::call_site());
    let declare = if has_scope_param {
        TokenStream::new()
    } else {
        quote! {
            #[allow(unused_variables)]
            let #scope: #krate::Scope = ::core::option::Option::None.unwrap();
        }
    };
    quote! {
        #(#outer)*
        #vis #sig {
            #(#inner)*
            #declare
            #block
        }
    }
}
