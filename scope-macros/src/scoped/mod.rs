//! `#[scoped]`: parse → validate → expand, with a recovery expansion on error.

mod expand;
mod parse;
mod validate;

use proc_macro2::TokenStream;

use crate::diagnostics::Errors;
use crate::options::{self, Context, Options};

/// Expands `#[scoped(args)] item`. Never panics: on any mistake the result is
/// the `compile_error!`s followed by a recovery expansion.
pub(crate) fn scoped(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let options = match parse::args(args) {
        Ok(raw) => options::validate(raw, Context::Attribute, &mut errors),
        Err(err) => {
            errors.push(err);
            Options::default()
        }
    };
    let expanded = match parse::item(item.clone()) {
        Ok(parse::Item::Fn(f)) => match validate::function(f, &mut errors) {
            Ok(f) => expand::expand(f, &options),
            Err(f) => expand::fallback(f, &options),
        },
        Ok(parse::Item::Declaration(span)) => {
            errors.error(
                span,
                "`#[scoped]` requires a function body, put it on the function's definition",
            );
            item
        }
        Ok(parse::Item::Other(what, span)) => {
            errors.error(
                span,
                format!("`#[scoped]` requires an `async fn`, found {what}"),
            );
            item
        }
        Err(err) => {
            errors.push(err);
            item
        }
    };
    let errors = errors.to_compile_errors();
    quote::quote!(#errors #expanded)
}
