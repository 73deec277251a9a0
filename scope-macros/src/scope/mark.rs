//! Marking the spawns written below the top level of a `scope!` body: each
//! becomes a call of a marker macro, `__async_scope_nested_spawn!(spawn ..)`,
//! so that the `for`, `if`, `match` or block around it parses as ordinary
//! Rust; [`super::nested`] finds the markers and expands them as spawns.

use proc_macro2::{Delimiter, Group, Ident, Punct, Spacing, TokenStream, TokenTree};

/// The name of the marker macro that stands for a spawn written below the
/// body's top level, until [`super::nested`] expands it.
pub(crate) const MARKER: &str = "__async_scope_nested_spawn";

/// Wraps every spawn written below the top level (inside any group but a
/// macro's) in a marker macro call, `__async_scope_nested_spawn!(spawn ..)`,
/// so that the statements around it parse as Rust. A spawn there is `spawn`
/// (not after `.`, `::` or `fn`), words, an optional signal, then a block.
/// Also returns whether anything was marked; groups with nothing marked in
/// them are kept as they were, with their spans.
pub(crate) fn mark_nested(tokens: TokenStream, top: bool) -> (TokenStream, bool) {
    let trees: Vec<TokenTree> = tokens.into_iter().collect();
    let mut out: Vec<TokenTree> = Vec::with_capacity(trees.len());
    let mut changed = false;
    let mut i = 0;
    while i < trees.len() {
        match &trees[i] {
            TokenTree::Group(group) => {
                let is_macro =
                    matches!(out.last(), Some(TokenTree::Punct(p)) if p.as_char() == '!');
                out.push(if is_macro {
                    trees[i].clone()
                } else {
                    mark_group(group, &mut changed)
                });
                i += 1;
            }
            TokenTree::Ident(ident) if !top && ident == "spawn" => {
                let after_path = match out.last() {
                    Some(TokenTree::Punct(p)) => matches!(p.as_char(), '.' | ':'),
                    Some(TokenTree::Ident(prev)) => prev == "fn",
                    _ => false,
                };
                match (!after_path).then(|| spawn_end(&trees, i + 1)).flatten() {
                    Some(end) => {
                        changed = true;
                        let inner: TokenStream = trees[i..=end]
                            .iter()
                            .map(|tree| match tree {
                                TokenTree::Group(group) => mark_group(group, &mut changed),
                                other => other.clone(),
                            })
                            .collect();
                        let marker = Ident::new(MARKER, ident.span());
                        let mut bang = Punct::new('!', Spacing::Alone);
                        bang.set_span(ident.span());
                        let mut args = Group::new(Delimiter::Parenthesis, inner);
                        args.set_span(ident.span());
                        out.push(TokenTree::Ident(marker));
                        out.push(TokenTree::Punct(bang));
                        out.push(TokenTree::Group(args));
                        i = end + 1;
                    }
                    None => {
                        out.push(trees[i].clone());
                        i += 1;
                    }
                }
            }
            other => {
                out.push(other.clone());
                i += 1;
            }
        }
    }
    (out.into_iter().collect(), changed)
}

/// Marks the spawns inside `group`; keeps it as it was when there are none.
fn mark_group(group: &Group, changed: &mut bool) -> TokenTree {
    let (stream, inner_changed) = mark_nested(group.stream(), false);
    if !inner_changed {
        return TokenTree::Group(group.clone());
    }
    *changed = true;
    let mut new = Group::new(group.delimiter(), stream);
    new.set_span(group.span());
    TokenTree::Group(new)
}

/// Returns the index of the block that ends a spawn whose words start at
/// `start`: identifiers (not `as`), an optional `|..|` or `||`, then a block.
fn spawn_end(trees: &[TokenTree], start: usize) -> Option<usize> {
    let mut i = start;
    while let Some(TokenTree::Ident(word)) = trees.get(i) {
        if word == "as" {
            return None;
        }
        i += 1;
    }
    if let Some(TokenTree::Punct(p)) = trees.get(i) {
        if p.as_char() != '|' {
            return None;
        }
        let joint_pair = p.spacing() == Spacing::Joint
            && matches!(trees.get(i + 1), Some(TokenTree::Punct(q)) if q.as_char() == '|');
        i += 1;
        if !joint_pair {
            while !matches!(trees.get(i), Some(TokenTree::Punct(q)) if q.as_char() == '|') {
                if trees.get(i).is_none()
                    || matches!(trees.get(i), Some(TokenTree::Punct(q)) if q.as_char() == ';')
                {
                    return None;
                }
                i += 1;
            }
        }
        i += 1;
    }
    match trees.get(i) {
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace => Some(i),
        _ => None,
    }
}
