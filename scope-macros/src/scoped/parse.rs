//! Parsing of `#[scoped(...)]`: its arguments, and the item it is applied to.

use proc_macro2::{Span, TokenStream};
use syn::parse::{ParseStream, Parser};
use syn::spanned::Spanned;

use crate::options::{self, Context, RawOption};

/// The item `#[scoped]` is applied to.
pub(crate) enum Item {
    /// A function with a body: a free function, a method, a trait's default method.
    Fn(Box<syn::ItemFn>),
    /// A function without a body, such as a method declared in a trait; the
    /// span is its closing `;`.
    Declaration(Span),
    /// Any other item: what it is, and the span of its keyword.
    Other(&'static str, Span),
}

/// Parses the attribute's arguments, `key = value, ...`.
pub(crate) fn args(args: TokenStream) -> syn::Result<Vec<RawOption>> {
    (|input: ParseStream<'_>| options::parse(input, Context::Attribute)).parse2(args)
}

/// Parses the item the attribute is applied to.
pub(crate) fn item(tokens: TokenStream) -> syn::Result<Item> {
    let item = syn::parse2::<syn::Item>(tokens)?;
    Ok(match item {
        syn::Item::Fn(f) => Item::Fn(Box::new(f)),
        syn::Item::Verbatim(tokens) => declaration(tokens.clone()).map_or_else(
            || Item::Other("this item", tokens.span()),
            Item::Declaration,
        ),
        other => {
            let (what, span) = describe(&other);
            Item::Other(what, span)
        }
    })
}

/// Returns the span of the `;` when `tokens` are a function without a body.
fn declaration(tokens: TokenStream) -> Option<Span> {
    if let Ok(f) = syn::parse2::<syn::ForeignItemFn>(tokens.clone()) {
        return Some(f.semi_token.span);
    }
    syn::parse2::<syn::TraitItemFn>(tokens)
        .ok()
        .and_then(|f| f.semi_token)
        .map(|semi| semi.span)
}

/// Names an item that is not a function, and returns the span of its keyword.
fn describe(item: &syn::Item) -> (&'static str, Span) {
    use syn::Item as I;
    match item {
        I::Const(i) => ("a `const`", i.const_token.span),
        I::Enum(i) => ("an `enum`", i.enum_token.span),
        I::ExternCrate(i) => ("an `extern crate`", i.extern_token.span),
        I::ForeignMod(i) => ("an `extern` block", i.abi.extern_token.span),
        I::Impl(i) => ("an `impl` block", i.impl_token.span),
        I::Macro(i) => ("a macro invocation", i.mac.path.span()),
        I::Mod(i) => ("a `mod`", i.mod_token.span),
        I::Static(i) => ("a `static`", i.static_token.span),
        I::Struct(i) => ("a `struct`", i.struct_token.span),
        I::Trait(i) => ("a `trait`", i.trait_token.span),
        I::TraitAlias(i) => ("a trait alias", i.trait_token.span),
        I::Type(i) => ("a type alias", i.type_token.span),
        I::Union(i) => ("a `union`", i.union_token.span),
        I::Use(i) => ("a `use`", i.use_token.span),
        other => ("this item", other.span()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    #[test]
    fn recognises_items() {
        assert!(matches!(
            item(quote!(
                async fn f() {}
            )),
            Ok(Item::Fn(_))
        ));
        assert!(matches!(
            item(quote!(
                pub async fn f(&self) {}
            )),
            Ok(Item::Fn(_))
        ));
        assert!(matches!(
            item(quote!(
                async fn f(&self);
            )),
            Ok(Item::Declaration(_))
        ));
        assert!(matches!(
            item(quote!(
                pub fn f();
            )),
            Ok(Item::Declaration(_))
        ));
        assert!(matches!(
            item(quote!(
                struct S;
            )),
            Ok(Item::Other("a `struct`", _))
        ));
        assert!(matches!(
            item(quote!(impl S {})),
            Ok(Item::Other("an `impl` block", _))
        ));
        assert!(item(quote!(fn)).is_err());
        assert!(item(quote!()).is_err());
    }
}
