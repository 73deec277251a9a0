//! The path expansions use to reach the engine: `::async_scope`, or the one
//! given by `crate = "path"` (as `#[tokio::main(crate = "...")]` does).

/// Returns the default path of the engine crate, `::async_scope`.
pub(crate) fn default_path() -> syn::Path {
    syn::parse_quote!(::async_scope)
}

/// Parses the string literal of a `crate = "..."` argument into a path whose
/// tokens all carry the literal's span, so that rustc blames the literal when
/// the path does not resolve.
pub(crate) fn parse(lit: &syn::LitStr) -> syn::Result<syn::Path> {
    lit.parse_with(syn::Path::parse_mod_style).map_err(|_| {
        syn::Error::new(
            lit.span(),
            format!(
                "invalid `crate` path `{}`, expected a path such as `async_scope` or `::deps::async_scope`",
                lit.value()
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proc_macro2::Span;
    use quote::ToTokens;

    fn path(s: &str) -> Result<String, String> {
        let lit = syn::LitStr::new(s, Span::call_site());
        parse(&lit)
            .map(|p| p.into_token_stream().to_string())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn parses_paths() {
        assert_eq!(path("renamed").unwrap(), "renamed");
        assert_eq!(path("::a::b").unwrap(), ":: a :: b");
        assert_eq!(path("crate::engine").unwrap(), "crate :: engine");
    }

    #[test]
    fn rejects_non_paths() {
        for bad in ["", "a b", "a::", "1", "a<T>", "\"x\"", "(", "a-b"] {
            let err = path(bad).unwrap_err();
            assert!(err.starts_with("invalid `crate` path"), "{bad}: {err}");
        }
    }
}
