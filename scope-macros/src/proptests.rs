//! Property tests: both macros, fed random and mutated token streams, never
//! panic, and always produce either `compile_error!`s with a recovery
//! expansion, or a valid expansion; in both cases output that parses as the
//! macro's position requires (an expression for `scope!`, items for
//! `#[scoped]` when rustc could have handed it the item).

use proc_macro2::{Delimiter, Group, TokenStream, TokenTree};
use proptest::prelude::*;

/// Token fragments the generators draw from: the macros' own words, their
/// near misses, Rust keywords and punctuation, and literals of every kind.
const FRAGMENTS: &[&str] = &[
    "spawn",
    "critical",
    "optional",
    "critcal",
    "inline",
    "normal",
    "async",
    "move",
    "let",
    "h",
    "scope",
    "signal",
    "Ok",
    "Err",
    "return",
    "fn",
    "self",
    "crate",
    "policy",
    "name",
    "timeout_ms",
    "timeout",
    "grace_ms",
    "max_concurrency",
    "retain_failures",
    "grace",
    "limit",
    "polcy",
    "pub",
    "struct",
    "impl",
    "as",
    "await",
    "where",
    "mut",
    "_",
    "'a",
    "\"cancel\"",
    "\"supervise\"",
    "\"supervize\"",
    "\"\"",
    "\"a b\"",
    "0",
    "1",
    "500",
    "5s",
    "1.5",
    "-1",
    "99999999999999999999999",
    "b'x'",
    "'c'",
    "true",
    "=",
    "==",
    "=>",
    ",",
    ";",
    ":",
    "::",
    "|",
    "||",
    "?",
    ".",
    "!",
    "#",
    "&",
    "-",
    "<",
    ">",
    "->",
    "+",
    "*",
    "@",
    "..",
];

/// A generated token: a fragment, or a group of tokens.
#[derive(Clone, Debug)]
enum Tok {
    Fragment(&'static str),
    Group(Delimiter, Vec<Tok>),
}

fn delimiter() -> impl Strategy<Value = Delimiter> {
    prop_oneof![
        Just(Delimiter::Brace),
        Just(Delimiter::Parenthesis),
        Just(Delimiter::Bracket),
        Just(Delimiter::None),
    ]
}

/// Random token trees, nested a few levels deep.
fn tokens() -> impl Strategy<Value = Vec<Tok>> {
    let leaf = prop::sample::select(FRAGMENTS).prop_map(Tok::Fragment);
    let tree = leaf.prop_recursive(3, 48, 8, |inner| {
        (delimiter(), prop::collection::vec(inner, 0..8)).prop_map(|(d, toks)| Tok::Group(d, toks))
    });
    prop::collection::vec(tree, 0..24)
}

fn to_stream(toks: &[Tok]) -> TokenStream {
    toks.iter()
        .flat_map(|tok| match tok {
            // every fragment lexes on its own
            Tok::Fragment(f) => f.parse::<TokenStream>().unwrap_or_default(),
            Tok::Group(d, inner) => {
                TokenStream::from(TokenTree::Group(Group::new(*d, to_stream(inner))))
            }
        })
        .collect()
}

/// One step of a flattened token stream: a leaf, or a group's open or close.
#[derive(Clone, Debug)]
enum Event {
    Leaf(TokenTree),
    Open(Delimiter),
    Close,
}

fn flatten(stream: TokenStream, out: &mut Vec<Event>) {
    for tree in stream {
        match tree {
            TokenTree::Group(g) => {
                out.push(Event::Open(g.delimiter()));
                flatten(g.stream(), out);
                out.push(Event::Close);
            }
            leaf => out.push(Event::Leaf(leaf)),
        }
    }
}

/// Rebuilds a stream from events, dropping unmatched closes and closing
/// groups left open.
fn rebuild(events: &[Event]) -> TokenStream {
    let mut stack: Vec<(Delimiter, Vec<TokenTree>)> = vec![(Delimiter::None, Vec::new())];
    for event in events {
        match event {
            Event::Leaf(tree) => stack.last_mut().map_or((), |top| top.1.push(tree.clone())),
            Event::Open(d) => stack.push((*d, Vec::new())),
            Event::Close if stack.len() > 1 => close(&mut stack),
            Event::Close => {}
        }
    }
    while stack.len() > 1 {
        close(&mut stack);
    }
    stack
        .pop()
        .map(|(_, trees)| trees.into_iter().collect())
        .unwrap_or_default()
}

fn close(stack: &mut Vec<(Delimiter, Vec<TokenTree>)>) {
    if let Some((d, trees)) = stack.pop() {
        let group = Group::new(d, trees.into_iter().collect());
        if let Some(top) = stack.last_mut() {
            top.1.push(TokenTree::Group(group));
        }
    }
}

/// An edit of a flattened stream, positions taken modulo its length.
#[derive(Clone, Debug)]
enum Edit {
    Delete(usize),
    Duplicate(usize),
    Swap(usize, usize),
    Insert(usize, &'static str),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        any::<usize>().prop_map(Edit::Delete),
        any::<usize>().prop_map(Edit::Duplicate),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::Swap(a, b)),
        (any::<usize>(), prop::sample::select(FRAGMENTS)).prop_map(|(i, f)| Edit::Insert(i, f)),
    ];
    prop::collection::vec(edit, 1..6)
}

/// Applies `edits` to the tokens of `source`.
fn mutate(source: &str, edits: &[Edit]) -> TokenStream {
    let mut events = Vec::new();
    flatten(source.parse().unwrap_or_default(), &mut events);
    for edit in edits {
        let len = events.len().max(1);
        match *edit {
            Edit::Delete(i) if !events.is_empty() => {
                events.remove(i % len);
            }
            Edit::Duplicate(i) if !events.is_empty() => {
                let event = events[i % len].clone();
                events.insert(i % len, event);
            }
            Edit::Swap(a, b) if !events.is_empty() => events.swap(a % len, b % len),
            Edit::Insert(i, fragment) => {
                let at = i % (events.len() + 1);
                let mut new = Vec::new();
                flatten(fragment.parse().unwrap_or_default(), &mut new);
                events.splice(at..at, new);
            }
            _ => {}
        }
    }
    rebuild(&events)
}

const SCOPE_INPUTS: &[&str] = &[
    r#"policy = "supervise", name = "n", timeout_ms = 10, grace_ms = 0,
       max_concurrency = 2, retain_failures = 100, crate = "renamed";
       let a = 1;
       let h: TaskHandle<u8> = spawn { Ok(a) };
       let c = spawn critical |signal| { signal.cancelled().await; scope.cancel(); Ok(2) };
       spawn optional |_: CancellationToken| { Ok(()) }
       if a > 0 { println!("{scope:?}"); }
       Ok((h.await?, c.await?))"#,
    "spawn { Ok(()) } spawn critical { work().await }",
    r#"max_concurrency = 2;
       let mut handles = Vec::new();
       for u in &urls {
           let h = spawn inline { Ok(u.len()) };
           handles.push(h);
           if u.is_empty() { spawn inline critical |s| { s.cancelled().await; inline.spawn(f); Ok(()) } }
       }
       spawn inline optional { Ok(scope.is_cancelled()) }
       let o = spawn { Ok(1) };
       Ok(o.await?)"#,
];

const SCOPED_ARGS: &[&str] = &[
    r#"policy = "supervise", name = "n", timeout_ms = 10, crate = "renamed""#,
    r#"policy = "cancel","#,
    "grace_ms = 500, max_concurrency = 8usize, retain_failures = 0,",
];

const SCOPED_ITEMS: &[&str] = &[
    "pub async fn f<'a, T: Send>(&'a self, x: impl Fn() -> T) -> Result<&'a u8, E> where T: Clone {
         #![allow(unused)]
         let h = scope.spawn(move |_| async move { Ok::<_, E>(1) });
         if h.is_finished() { return Err(E); }
         Ok(&self.x)
     }",
    "async fn g() -> io::Result<()> { Ok(()) }",
];

fn has_compile_error(out: &TokenStream) -> bool {
    crate::diagnostics::mentions(out.clone(), "compile_error")
}

/// Runs `scope!` on `input`; its output must always be an expression.
fn check_scope(input: &TokenStream) -> Result<(), TestCaseError> {
    let out = crate::scope::scope(input.clone());
    prop_assert!(
        syn::parse2::<syn::Expr>(out.clone()).is_ok(),
        "input: {input}\noutput: {out}"
    );
    Ok(())
}

/// Runs `#[scoped]`; when rustc could have handed it the item (the item
/// parses), its output must be items.
fn check_scoped(args: &TokenStream, item: &TokenStream) -> Result<(), TestCaseError> {
    let out = crate::scoped::scoped(args.clone(), item.clone());
    if syn::parse2::<syn::Item>(item.clone()).is_ok() {
        prop_assert!(
            syn::parse2::<syn::File>(out.clone()).is_ok(),
            "args: {args}\nitem: {item}\noutput: {out}"
        );
    } else {
        prop_assert!(has_compile_error(&out), "item: {item}\noutput: {out}");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn scope_survives_random_tokens(toks in tokens()) {
        check_scope(&to_stream(&toks))?;
    }

    #[test]
    fn scope_survives_mutations(which in 0..SCOPE_INPUTS.len(), edits in edits()) {
        check_scope(&mutate(SCOPE_INPUTS[which], &edits))?;
    }

    #[test]
    fn scoped_survives_random_arguments(toks in tokens(), which in 0..SCOPED_ITEMS.len()) {
        check_scoped(&to_stream(&toks), &SCOPED_ITEMS[which].parse().unwrap_or_default())?;
    }

    #[test]
    fn scoped_survives_random_items(toks in tokens()) {
        check_scoped(&TokenStream::new(), &to_stream(&toks))?;
    }

    #[test]
    fn scoped_survives_mutations(
        args in 0..SCOPED_ARGS.len(),
        item in 0..SCOPED_ITEMS.len(),
        arg_edits in prop::option::of(edits()),
        item_edits in prop::option::of(edits()),
    ) {
        let args = match &arg_edits {
            Some(edits) => mutate(SCOPED_ARGS[args], edits),
            None => SCOPED_ARGS[args].parse().unwrap_or_default(),
        };
        let item = match &item_edits {
            Some(edits) => mutate(SCOPED_ITEMS[item], edits),
            None => SCOPED_ITEMS[item].parse().unwrap_or_default(),
        };
        check_scoped(&args, &item)?;
    }
}

#[test]
fn valid_inputs_expand_without_errors() {
    for input in SCOPE_INPUTS {
        let out = crate::scope::scope(input.parse().unwrap_or_default());
        assert!(!has_compile_error(&out), "{out}");
        assert!(syn::parse2::<syn::Expr>(out).is_ok());
    }
    for args in SCOPED_ARGS {
        for item in SCOPED_ITEMS {
            let out = crate::scoped::scoped(
                args.parse().unwrap_or_default(),
                item.parse().unwrap_or_default(),
            );
            assert!(!has_compile_error(&out), "{out}");
            let file = syn::parse2::<syn::File>(out).unwrap_or_else(|e| panic!("{e}"));
            assert!(matches!(file.items.as_slice(), [syn::Item::Fn(_)]));
        }
    }
}
