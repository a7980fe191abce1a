//! Compile tests of `#[tool]`: signatures it accepts (`ui/pass`, built and run) and the errors it
//! gives for those it rejects (`ui/fail`, compared with the `.stderr` files next to them).
//!
//! After a deliberate change of message, regenerate the `.stderr` files with
//! `TRYBUILD=overwrite cargo test -p minimalagent-tools --test ui` and review the diff.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}
