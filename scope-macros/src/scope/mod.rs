//! `scope!`: parse → validate → expand, with a recovery expansion on error.

mod expand;
mod mark;
mod nested;
mod parse;
mod validate;

use proc_macro2::TokenStream;
use quote::quote;

use crate::diagnostics::Errors;

/// Expands `scope! { tokens }`. Never panics: on any mistake the result is a
/// block holding the `compile_error!`s and a recovery expansion.
///
/// Recovery: mistakes that leave the input's shape clear (options, kinds,
/// signals) still expand fully, with defaults in their place. After a
/// structural mistake, the statements parsed before it go into a closure
/// that is never called, so that they are still type-checked, and the macro
/// evaluates to a placeholder of type `Result<_, ScopeError>` whose success
/// type the surrounding code infers: no error cascades from the macro's type.
pub(crate) fn scope(tokens: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let expansion = match parse::input(tokens) {
        Ok(input) => {
            let mut valid = validate::scope(input, true, &mut errors);
            nested::expand_nested(&mut valid, &mut errors);
            if valid.stmts.is_empty() && valid.tail.is_none() {
                placeholder(&valid)
            } else {
                expand::expand(&valid)
            }
        }
        Err((err, partial)) => {
            errors.push(err);
            let mut valid = validate::scope(partial, false, &mut errors);
            nested::expand_nested(&mut valid, &mut errors);
            placeholder(&valid)
        }
    };
    if errors.is_empty() {
        expansion
    } else {
        let errors = errors.to_compile_errors();
        quote!({ #errors #expansion })
    }
}

/// The recovery expansion after a structural mistake (see [`scope`]).
fn placeholder(valid: &validate::ValidScope) -> TokenStream {
    let krate = &valid.options.krate;
    let checked = if valid.stmts.is_empty() {
        TokenStream::new()
    } else {
        let ok = quote!(::core::result::Result::Ok(()));
        let body = expand::body(&valid.stmts, &ok, krate, true, valid.inline);
        quote! {
            #[allow(unused, unreachable_code, clippy::all)]
            let _ = #body;
        }
    };
    quote!({
        #checked
        ::core::option::Option::<::core::result::Result<_, #krate::ScopeError>>::None.unwrap()
    })
}
