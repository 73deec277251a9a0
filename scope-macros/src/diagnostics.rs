//! Error accumulation and close-match suggestions shared by both macros.
//!
//! Messages follow one shape (STYLE.md 2.4): lowercase, no trailing period,
//! code in backticks, and they say what was expected. Independent mistakes
//! are all reported in one compile through [`Errors`]; a structural parse
//! error stops parsing at once.

use std::fmt::Display;

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::ToTokens;

/// An accumulator of independent errors, merged with `syn::Error::combine`.
#[derive(Default)]
pub(crate) struct Errors {
    /// The first error, with every later one combined into it (in order).
    first: Option<syn::Error>,
}

impl Errors {
    /// Records `err`.
    pub(crate) fn push(&mut self, err: syn::Error) {
        match &mut self.first {
            Some(first) => first.combine(err),
            None => self.first = Some(err),
        }
    }

    /// Records an error with `message` at `span`.
    pub(crate) fn error(&mut self, span: Span, message: impl Display) {
        self.push(syn::Error::new(span, message));
    }

    /// Records an error with `message` spanning all of `tokens`.
    pub(crate) fn error_spanned(&mut self, tokens: impl ToTokens, message: impl Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    /// Returns whether no error was recorded.
    pub(crate) fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    /// Returns every message, in order.
    #[cfg(test)]
    pub(crate) fn messages(&self) -> Vec<String> {
        self.first
            .clone()
            .into_iter()
            .flatten()
            .map(|e| e.to_string())
            .collect()
    }

    /// Returns the errors as `compile_error!` invocations (empty when there is none).
    pub(crate) fn to_compile_errors(&self) -> TokenStream {
        self.first
            .as_ref()
            .map(syn::Error::to_compile_error)
            .unwrap_or_default()
    }
}

/// Returns the candidate that `word` most likely misspells, if any.
///
/// Case is ignored, so `Supervise` suggests `supervise`. A candidate is close
/// when at most a third of its letters (and at least one) must be inserted,
/// deleted, replaced or swapped with a neighbour to reach it.
pub(crate) fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let word = word.to_lowercase();
    candidates
        .iter()
        .map(|&candidate| (distance(&word, candidate), candidate))
        .filter(|&(d, candidate)| d <= (candidate.chars().count() / 3).max(1))
        .min_by_key(|&(d, _)| d)
        .map(|(_, candidate)| candidate)
}

/// Formats `candidates` as `` `a` ``, `` `a` or `b` `` or `` `a`, `b` or `c` ``.
pub(crate) fn one_of(candidates: &[&str]) -> String {
    let quoted: Vec<String> = candidates.iter().map(|c| format!("`{c}`")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// Returns `"; did you mean `x`?"` when `word` is close to a candidate, else `""`.
pub(crate) fn did_you_mean(word: &str, candidates: &[&str]) -> String {
    closest(word, candidates)
        .map(|c| format!(", did you mean `{c}`?"))
        .unwrap_or_default()
}

/// The optimal string alignment distance between `a` and `b`: the number of
/// single-character insertions, deletions, substitutions and adjacent
/// transpositions that turn one into the other.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // rows[i][j]: distance between a[..i] and b[..j]
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

/// Returns whether `tokens` mention the identifier `name` anywhere, including
/// inside string literals (format strings capture variables by name).
pub(crate) fn mentions(tokens: TokenStream, name: &str) -> bool {
    tokens.into_iter().any(|tree| match tree {
        TokenTree::Ident(ident) => ident == name,
        TokenTree::Group(group) => mentions(group.stream(), name),
        TokenTree::Literal(lit) => lit.to_string().contains(name),
        TokenTree::Punct(_) => false,
    })
}

/// Returns whether `tokens` may use the variable `scope`: as [`mentions`],
/// except that a nested `scope! { .. }` (which binds its own) is no use.
pub(crate) fn uses_scope(tokens: TokenStream) -> bool {
    let trees: Vec<TokenTree> = tokens.into_iter().collect();
    trees.iter().enumerate().any(|(i, tree)| match tree {
        TokenTree::Ident(ident) => {
            let is_macro = matches!(trees.get(i + 1), Some(TokenTree::Punct(p)) if p.as_char() == '!')
                && matches!(trees.get(i + 2), Some(TokenTree::Group(_)));
            ident == "scope" && !is_macro
        }
        TokenTree::Group(group) => uses_scope(group.stream()),
        TokenTree::Literal(lit) => lit.to_string().contains("scope"),
        TokenTree::Punct(_) => false,
    })
}

/// Returns whether `tokens` may use the variable `inline`: as [`mentions`],
/// except in attributes (`#[inline]`), and in string literals only as a
/// format argument (`{inline}`), as the word is common in prose.
pub(crate) fn uses_inline(tokens: TokenStream) -> bool {
    let mut after_pound = false;
    tokens.into_iter().any(|tree| {
        let attribute = after_pound;
        // `#` or `#!` before an attribute's brackets
        after_pound = matches!(&tree, TokenTree::Punct(p)
            if p.as_char() == '#' || (attribute && p.as_char() == '!'));
        match tree {
            TokenTree::Ident(ident) => ident == "inline",
            TokenTree::Group(group) => !attribute && uses_inline(group.stream()),
            TokenTree::Literal(lit) => lit.to_string().contains("{inline"),
            TokenTree::Punct(_) => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_finds_typos() {
        assert_eq!(
            closest("supervize", &["cancel", "supervise"]),
            Some("supervise")
        );
        assert_eq!(
            closest("Supervise", &["cancel", "supervise"]),
            Some("supervise")
        );
        assert_eq!(closest("cancle", &["cancel", "supervise"]), Some("cancel"));
        assert_eq!(
            closest("critcal", &["critical", "optional"]),
            Some("critical")
        );
        assert_eq!(
            closest("optinal", &["critical", "optional"]),
            Some("optional")
        );
        assert_eq!(closest("polcy", &["policy", "name"]), Some("policy"));
        assert_eq!(closest("nmae", &["policy", "name"]), Some("name"));
        assert_eq!(closest("fetch", &["critical", "optional"]), None);
        assert_eq!(closest("", &["name"]), None);
        assert_eq!(closest("x", &["name"]), None);
    }

    #[test]
    fn one_of_lists() {
        assert_eq!(one_of(&[]), "");
        assert_eq!(one_of(&["a"]), "`a`");
        assert_eq!(one_of(&["a", "b"]), "`a` or `b`");
        assert_eq!(one_of(&["a", "b", "c"]), "`a`, `b` or `c`");
    }

    #[test]
    fn distance_counts_edits() {
        assert_eq!(distance("", ""), 0);
        assert_eq!(distance("abc", "abc"), 0);
        assert_eq!(distance("abc", "acb"), 1);
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("", "abc"), 3);
    }

    #[test]
    fn mentions_looks_into_groups_and_literals() {
        let tokens: TokenStream = syn::parse_quote!(a(b { scope.spawn() }));
        assert!(mentions(tokens, "scope"));
        let tokens: TokenStream = syn::parse_quote!(println!("{scope:?}"));
        assert!(mentions(tokens, "scope"));
        let tokens: TokenStream = syn::parse_quote!(scoped + scopes);
        assert!(!mentions(tokens, "scope"));
    }

    #[test]
    fn uses_inline_skips_attributes_and_prose() {
        assert!(uses_inline(syn::parse_quote!(inline.spawn(f))));
        assert!(uses_inline(syn::parse_quote!(g(|| { inline.clone() }))));
        assert!(uses_inline(syn::parse_quote!(println!("{inline:?}"))));
        assert!(!uses_inline(syn::parse_quote!(
            #[inline]
            fn f() {}
        )));
        assert!(!uses_inline(syn::parse_quote!(#![inline] x)));
        assert!(!uses_inline(syn::parse_quote!(println!("an inline task"))));
        assert!(!uses_inline(syn::parse_quote!(inlined + x)));
    }

    #[test]
    fn uses_scope_skips_nested_scope_macros() {
        assert!(!uses_scope(syn::parse_quote!(scope! { spawn {} })));
        assert!(uses_scope(
            syn::parse_quote!(scope! { spawn {} }; scope.cancel())
        ));
        assert!(uses_scope(syn::parse_quote!(if scope != other {})));
        assert!(uses_scope(syn::parse_quote!(println!("{scope:?}"))));
    }
}
