//! Validation of the function `#[scoped]` is applied to (tokio's `build()`):
//! it must be an `async fn` returning a `Result`, and must not hide the
//! `scope` the macro binds. Each mistake is reported on its own.

use quote::ToTokens;
use syn::{Attribute, FnArg, Pat, ReturnType, Type};

use crate::diagnostics::Errors;

/// A function that passed validation: everything [`super::expand`] needs.
pub(crate) struct ScopedFn {
    /// The function as written (attributes, signature and body).
    pub(crate) item: Box<syn::ItemFn>,
    /// Its return type, `Result<T, E>` (or an alias whose name ends in `Result`).
    pub(crate) ret: Type,
}

/// Checks `item`; returns it unchanged, as `Err`, when a mistake was recorded
/// in `errors`.
pub(crate) fn function(
    item: Box<syn::ItemFn>,
    errors: &mut Errors,
) -> Result<ScopedFn, Box<syn::ItemFn>> {
    let mut ok = true;
    let sig = &item.sig;
    if sig.asyncness.is_none() {
        // `#[tokio::test]` above `#[scoped]` hands it a non-async test fn.
        let message = if item.attrs.iter().any(|attr| last_segment_is(attr, "test")) {
            "`#[scoped]` requires an `async fn`; put `#[scoped]` above `#[tokio::test]`, which makes the function non-async"
        } else {
            "`#[scoped]` requires an `async fn`"
        };
        errors.error(sig.fn_token.span, message);
        ok = false;
    }
    let ret = match &sig.output {
        ReturnType::Type(_, ty) if is_result(ty) => Some((**ty).clone()),
        ReturnType::Type(_, ty) => {
            errors.error_spanned(
                ty,
                "`#[scoped]` requires a `Result<T, E>` return type, where `E: From<ScopeError>`",
            );
            None
        }
        ReturnType::Default => {
            errors.error(
                sig.paren_token.span.close(),
                "`#[scoped]` requires a return type `Result<T, E>`, where `E: From<ScopeError>`",
            );
            None
        }
    };
    for input in &sig.inputs {
        if let FnArg::Typed(typed) = input {
            if let Pat::Ident(pat) = &*typed.pat {
                if pat.ident == "scope" {
                    errors.error(
                        pat.ident.span(),
                        "this parameter would be hidden by the `scope` that `#[scoped]` binds in the body, rename it",
                    );
                    ok = false;
                }
            }
        }
    }
    for attr in item.attrs.iter().filter(|attr| is_scoped(attr)) {
        errors.error_spanned(attr, "`#[scoped]` is applied more than once");
        ok = false;
    }
    match ret {
        Some(ret) if ok => Ok(ScopedFn { item, ret }),
        _ => Err(item),
    }
}

/// Returns whether `attr` is another `#[scoped]` (or `#[some::path::scoped]`).
pub(crate) fn is_scoped(attr: &Attribute) -> bool {
    last_segment_is(attr, "scoped")
}

/// Returns whether the last segment of `attr`'s path is `name`.
fn last_segment_is(attr: &Attribute, name: &str) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|segment| segment.ident == name)
}

/// Returns whether `ty` names a `Result`: a path whose last segment is
/// `Result` or ends in `Result` (`io::Result<T>`, `AppResult<T>`). Any other
/// alias cannot be told apart from a type that is not a `Result`.
fn is_result(ty: &Type) -> bool {
    match ty {
        Type::Path(path) if path.qself.is_none() => path
            .path
            .segments
            .last()
            .is_some_and(|segment| segment.ident.to_string().ends_with("Result")),
        Type::Paren(paren) => is_result(&paren.elem),
        Type::Group(group) => is_result(&group.elem),
        _ => false,
    }
}

/// Returns whether `ty` contains `impl Trait`, which cannot be named in the
/// type hint the expansion writes.
pub(crate) fn has_impl_trait(ty: &Type) -> bool {
    crate::diagnostics::mentions(ty.to_token_stream(), "impl")
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn check(item: syn::ItemFn) -> Vec<String> {
        let mut errors = Errors::default();
        let result = function(Box::new(item), &mut errors);
        assert_eq!(result.is_ok(), errors.is_empty());
        errors.messages()
    }

    #[test]
    fn accepts_async_fns_returning_results() {
        assert!(check(parse_quote!(
            async fn f() -> Result<(), E> {}
        ))
        .is_empty());
        assert!(check(parse_quote!(
            async fn f(&self) -> io::Result<()> {}
        ))
        .is_empty());
        assert!(check(parse_quote!(
            async fn f() -> (AppResult<u8>) {}
        ))
        .is_empty());
        assert!(check(parse_quote!(
            async fn f<'a>(x: &'a str) -> std::result::Result<&'a str, E> {}
        ))
        .is_empty());
    }

    #[test]
    fn reports_each_mistake() {
        assert_eq!(
            check(parse_quote!(
                fn f() {}
            )),
            [
                "`#[scoped]` requires an `async fn`",
                "`#[scoped]` requires a return type `Result<T, E>`, where `E: From<ScopeError>`"
            ]
        );
        assert_eq!(
            check(parse_quote!(
                async fn f() -> Option<u8> {}
            ))
            .len(),
            1
        );
        assert_eq!(
            check(parse_quote!(
                async fn f() -> <X as Y>::Result {}
            ))
            .len(),
            1
        );
        assert_eq!(
            check(parse_quote!(
                async fn f() -> () {}
            ))
            .len(),
            1
        );
        assert_eq!(
            check(parse_quote!(
                async fn f(scope: u8) -> Result<(), E> {}
            ))
            .len(),
            1
        );
        assert_eq!(
            check(parse_quote!(
                #[async_scope::scoped]
                async fn f() -> Result<(), E> {}
            )),
            ["`#[scoped]` is applied more than once"]
        );
    }

    #[test]
    fn finds_impl_trait() {
        assert!(has_impl_trait(&parse_quote!(Result<impl Display, E>)));
        assert!(!has_impl_trait(&parse_quote!(Result<Implement, E>)));
    }
}
