//! The sync decision for one path, pure: given what the local index, the
//! peer's index and the base (what both had when they last agreed) hold,
//! and whether this is the first sync, [`decide`] says what to do:
//!
//! - both sides hold the same thing: nothing to send, that becomes the base;
//! - only one side changed since the base: that side's version goes over;
//! - both changed differently: the local version wins, and when both are
//!   files the peer's is first kept beside it as
//!   `NAME.berth-conflict-TIMESTAMP`;
//! - a deletion on one side against a change on the other: the change is
//!   kept;
//! - on the first sync there is no base: local wins without conflict
//!   copies, and what only the peer has comes back (a merge that deletes
//!   nothing).

use crate::scan::{Entry, Kind};

/// What to do with one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision<'a> {
    /// Both sides hold the same thing: it becomes the base.
    Agree,
    /// The peer's version comes here.
    Pull(&'a Entry),
    /// The peer deleted what this side had unchanged: it goes here too.
    RemoveHere,
    /// This side's version goes over (a removal when this side has none).
    Push,
    /// Both changed a file differently: the peer's version (this one) is
    /// saved beside ours under a conflict name, then ours goes over.
    ConflictCopy(&'a Entry),
}

/// Decides what to do with a path that `local` and `remote` hold as they
/// do (`None`: not there), with `base` what both held when they last
/// agreed. `first`: the first sync, which has no base yet.
pub fn decide<'a>(
    local: Option<&Entry>,
    remote: Option<&'a Entry>,
    base: Option<&Entry>,
    first: bool,
) -> Decision<'a> {
    if same(local, remote) {
        return Decision::Agree;
    }
    let local_changed = !same(local, base);
    let remote_changed = !same(remote, base);
    if !local_changed && remote_changed {
        return match remote {
            Some(remote) => Decision::Pull(remote),
            None => Decision::RemoveHere,
        };
    }
    if local_changed && !remote_changed {
        return Decision::Push;
    }
    // Both changed.
    match (local, remote) {
        // Deleted here, changed there: the change is kept.
        (None, Some(remote)) => Decision::Pull(remote),
        (Some(local), Some(remote))
            if local.kind == Kind::File && remote.kind == Kind::File && !first =>
        {
            Decision::ConflictCopy(remote)
        }
        _ => Decision::Push,
    }
}

/// Whether two entries hold the same thing (times do not matter; for a
/// file, its content and whether it is executable).
pub fn same(a: Option<&Entry>, b: Option<&Entry>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            a.kind == b.kind
                && match a.kind {
                    Kind::File => {
                        a.hash == b.hash && (a.mode & 0o111 != 0) == (b.mode & 0o111 != 0)
                    }
                    Kind::Dir => true,
                    Kind::Symlink => a.target == b.target,
                }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(hash: &str, mode: u32, mtime: i64) -> Entry {
        Entry {
            kind: Kind::File,
            size: 1,
            mtime_ns: mtime,
            mode,
            hash: Some(hash.into()),
            target: None,
        }
    }

    fn dir() -> Entry {
        Entry {
            kind: Kind::Dir,
            size: 0,
            mtime_ns: 1,
            mode: 0o755,
            hash: None,
            target: None,
        }
    }

    fn link(target: &str) -> Entry {
        Entry {
            kind: Kind::Symlink,
            size: 0,
            mtime_ns: 1,
            mode: 0o777,
            hash: None,
            target: Some(target.into()),
        }
    }

    #[test]
    fn sameness_ignores_times_but_not_the_executable_bit() {
        assert!(same(Some(&file("a", 0o644, 1)), Some(&file("a", 0o600, 2))));
        assert!(!same(
            Some(&file("a", 0o644, 1)),
            Some(&file("a", 0o755, 1))
        ));
        assert!(!same(
            Some(&file("a", 0o644, 1)),
            Some(&file("b", 0o644, 1))
        ));
        assert!(!same(Some(&file("a", 0o644, 1)), None));
    }

    /// What a row is about; local, remote and base; first sync; the decision.
    type Row<'a> = (
        &'a str,
        Option<&'a Entry>,
        Option<&'a Entry>,
        Option<&'a Entry>,
        bool,
        Decision<'a>,
    );

    #[test]
    fn decisions() {
        let a = file("a", 0o644, 1);
        let a_later = file("a", 0o644, 2);
        let a_exec = file("a", 0o755, 1);
        let b = file("b", 0o644, 1);
        let c = file("c", 0o644, 1);
        let d = dir();
        let x = link("x");
        let y = link("y");
        let z = link("z");
        use Decision::*;
        #[rustfmt::skip]
        let table: &[Row<'_>] = &[
            // what,                                 local,        remote,          base,     first, decision
            ("unchanged on both sides",              Some(&a),     Some(&a),        Some(&a), false, Agree),
            ("changed the same way on both sides",   Some(&b),     Some(&b),        Some(&a), false, Agree),
            ("only the times differ",                Some(&a),     Some(&a_later),  Some(&a), false, Agree),
            ("deleted on both sides",                None,         None,            Some(&a), false, Agree),
            ("the same on both sides, no base",      Some(&a),     Some(&a),        None,     true,  Agree),
            ("changed here",                         Some(&b),     Some(&a),        Some(&a), false, Push),
            ("changed there",                        Some(&a),     Some(&b),        Some(&a), false, Pull(&b)),
            ("made executable there",                Some(&a),     Some(&a_exec),   Some(&a), false, Pull(&a_exec)),
            ("made here",                            Some(&a),     None,            None,     false, Push),
            ("made there",                           None,         Some(&a),        None,     false, Pull(&a)),
            ("deleted here",                         None,         Some(&a),        Some(&a), false, Push),
            ("deleted there",                        Some(&a),     None,            Some(&a), false, RemoveHere),
            ("deleted here, changed there",          None,         Some(&c),        Some(&a), false, Pull(&c)),
            ("changed here, deleted there",          Some(&b),     None,            Some(&a), false, Push),
            ("both changed a file",                  Some(&b),     Some(&c),        Some(&a), false, ConflictCopy(&c)),
            ("both made a file, after the first",    Some(&b),     Some(&c),        None,     false, ConflictCopy(&c)),
            ("a file here, a folder there",          Some(&b),     Some(&d),        Some(&a), false, Push),
            ("both changed a link",                  Some(&x),     Some(&y),        Some(&z), false, Push),
            ("first sync: both have a file",         Some(&b),     Some(&c),        None,     true,  Push),
            ("first sync: only here",                Some(&a),     None,            None,     true,  Push),
            ("first sync: only there",               None,         Some(&a),        None,     true,  Pull(&a)),
            ("first sync: a folder and a file",      Some(&d),     Some(&a),        None,     true,  Push),
        ];
        for (what, local, remote, base, first, expected) in table {
            assert_eq!(decide(*local, *remote, *base, *first), *expected, "{what}");
        }
    }
}
