//! Compile-time tests of the macros, with trybuild: every case under
//! `ui-tests/scoped/` and `ui-tests/scope/` must fail to compile with the
//! `.stderr` snapshot beside it; every case under `ui-tests/pass/` must
//! compile and run. See `ui-tests/README.md` to add cases or regenerate the
//! snapshots.

#[test]
#[cfg_attr(miri, ignore)]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui-tests/scoped/*.rs");
    t.compile_fail("ui-tests/scope/*.rs");
    t.pass("ui-tests/pass/*.rs");
}
