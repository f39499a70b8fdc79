//! The seccomp deny list as one compact classic-BPF program.
//!
//! Not seccompiler's output: the kernel JIT-compiles every filter a
//! process installs, and that cost grows with the program. seccompiler
//! spends five instructions on each unconditional syscall and repeats the
//! whole compare-and-return sequence for every condition, 375 instructions
//! for our list plus a second program for the prelude; installing both
//! took ~1 ms of each sandboxed spawn on a loaded 2-core box (issue 12).
//! Here an unconditional syscall is one jump to a shared return, and the
//! whole list is ~100 instructions in a single program. seccompiler stays
//! as the reference: a test runs both through a BPF interpreter over every
//! syscall number and the interesting argument values, and they must
//! agree.

use crate::seccomp::{Deny, When};

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 62 | 0x8000_0000 | 0x4000_0000;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 183 | 0x8000_0000 | 0x4000_0000;
#[cfg(target_arch = "riscv64")]
const AUDIT_ARCH: u32 = 243 | 0x8000_0000 | 0x4000_0000;

pub(crate) const LD_W_ABS: u16 = 0x20;
pub(crate) const ALU_AND_K: u16 = 0x54;
pub(crate) const JA: u16 = 0x05;
pub(crate) const JEQ_K: u16 = 0x15;
pub(crate) const JGE_K: u16 = 0x35;
pub(crate) const JSET_K: u16 = 0x45;
pub(crate) const RET_K: u16 = 0x06;
/// `struct seccomp_data`: nr, arch, instruction pointer, then the six
/// 64-bit args; every supported arch is little-endian, so an arg's low
/// 32 bits (all the rules compare) sit at its own offset.
pub(crate) const NR: u32 = 0;
pub(crate) const ARCH: u32 = 4;
pub(crate) fn arg(i: u8) -> u32 {
    16 + 8 * u32::from(i)
}

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

/// Where a conditional jump goes, before offsets are known.
#[derive(Clone, Copy)]
enum Target {
    Next,
    Deny,
    /// The end of the current rule (it did not match).
    RuleEnd,
}

struct Asm {
    out: Vec<libc::sock_filter>,
    /// (index, jt, jf) of conditional jumps to patch.
    jumps: Vec<(usize, Target, Target, usize)>,
    /// Unconditional jumps to the shared deny return.
    to_deny: Vec<usize>,
}

impl Asm {
    fn stmt(&mut self, code: u16, k: u32) {
        self.out.push(stmt(code, k));
    }

    /// A conditional jump; `rule` is the index of the current rule so
    /// RuleEnd can be patched when the rule ends.
    fn jump(&mut self, code: u16, k: u32, jt: Target, jf: Target, rule: usize) {
        self.jumps.push((self.out.len(), jt, jf, rule));
        self.out.push(stmt(code, k));
    }

    fn ja_deny(&mut self) {
        self.to_deny.push(self.out.len());
        self.out.push(stmt(JA, 0));
    }
}

fn offset(from: usize, to: usize) -> Result<u8, &'static str> {
    u8::try_from(to - from - 1).map_err(|_| "seccomp program too long for a short jump")
}

/// The deny list, merged per syscall (an unconditional entry wins over
/// conditions; conditions for one syscall OR together), as one program:
/// arch check (anything else is killed), x32 numbers refused, clone3
/// ENOSYS (its flags sit behind a pointer; libc falls back to clone,
/// whose flags are checked), then the list, EPERM on a match.
pub(crate) fn assemble(list: &[Deny]) -> Result<Vec<libc::sock_filter>, &'static str> {
    let mut always: Vec<i64> = Vec::new();
    let mut conditional: Vec<(i64, Vec<&When>)> = Vec::new();
    for d in list {
        if d.when == When::Always {
            if !always.contains(&d.nr) {
                always.push(d.nr);
            }
            conditional.retain(|(nr, _)| *nr != d.nr);
        } else if !always.contains(&d.nr) {
            match conditional.iter_mut().find(|(nr, _)| *nr == d.nr) {
                Some((_, whens)) => whens.push(&d.when),
                None => conditional.push((d.nr, vec![&d.when])),
            }
        }
    }
    let mut a = Asm {
        out: Vec::new(),
        jumps: Vec::new(),
        to_deny: Vec::new(),
    };
    let errno = |e: i32| libc::SECCOMP_RET_ERRNO | (e as u32 & 0xffff);
    // Prelude: arch, x32, clone3.
    a.out.push(libc::sock_filter {
        code: JEQ_K,
        jt: 1,
        jf: 0,
        k: AUDIT_ARCH,
    });
    a.out.insert(0, stmt(LD_W_ABS, ARCH));
    a.stmt(RET_K, libc::SECCOMP_RET_KILL_PROCESS);
    a.stmt(LD_W_ABS, NR);
    // x32 numbers (bit 30) share x86_64's arch value and would slip past
    // every rule keyed on a 64-bit number; no other arch has such numbers.
    a.out.push(libc::sock_filter {
        code: JGE_K,
        jt: 0,
        jf: 1,
        k: 0x4000_0000,
    });
    a.stmt(RET_K, errno(libc::EPERM));
    a.out.push(libc::sock_filter {
        code: JEQ_K,
        jt: 0,
        jf: 1,
        k: libc::SYS_clone3 as u32,
    });
    a.stmt(RET_K, errno(libc::ENOSYS));
    for nr in &always {
        a.jump(JEQ_K, *nr as u32, Target::Deny, Target::Next, 0);
    }
    // Conditional syscalls: compare the number, then the block of rules,
    // which jumps to deny on a match and ends in allow.
    let mut rule = 0;
    for (nr, whens) in &conditional {
        let skip_at = a.out.len();
        a.out.push(stmt(JEQ_K, *nr as u32));
        for when in whens {
            rule += 1;
            let start = a.out.len();
            match when {
                When::Always => {}
                When::AnyBit(i, bits) => {
                    a.stmt(LD_W_ABS, arg(*i));
                    for b in *bits {
                        a.jump(JSET_K, *b as u32, Target::Deny, Target::Next, rule);
                    }
                }
                When::NotIn(i, values) => {
                    a.stmt(LD_W_ABS, arg(*i));
                    for v in *values {
                        a.jump(JEQ_K, *v as u32, Target::RuleEnd, Target::Next, rule);
                    }
                    a.ja_deny();
                }
                When::MaskedIn(i, mask, values) => {
                    a.stmt(LD_W_ABS, arg(*i));
                    a.stmt(ALU_AND_K, *mask as u32);
                    for v in *values {
                        a.jump(JEQ_K, *v as u32, Target::Deny, Target::Next, rule);
                    }
                }
                When::In(i, values) => {
                    a.stmt(LD_W_ABS, arg(*i));
                    for v in *values {
                        a.jump(JEQ_K, *v as u32, Target::Deny, Target::Next, rule);
                    }
                }
            }
            let end = a.out.len();
            // A rule that did not match falls through to the next one.
            for j in a.jumps.iter_mut().filter(|j| j.3 == rule && j.0 >= start) {
                if let Target::RuleEnd = j.1 {
                    j.1 = Target::Next;
                    a.out[j.0].jt = offset(j.0, end)?;
                }
            }
        }
        a.stmt(RET_K, libc::SECCOMP_RET_ALLOW);
        // Not this syscall: skip its block (also the final return).
        let past = a.out.len();
        a.out[skip_at] = libc::sock_filter {
            code: JEQ_K,
            jt: 0,
            jf: offset(skip_at, past)?,
            k: *nr as u32,
        };
    }
    a.stmt(RET_K, libc::SECCOMP_RET_ALLOW);
    let deny = a.out.len();
    a.stmt(RET_K, errno(libc::EPERM));
    for (at, jt, jf, _) in std::mem::take(&mut a.jumps) {
        if let Target::Deny = jt {
            a.out[at].jt = offset(at, deny)?;
        }
        if let Target::Deny = jf {
            a.out[at].jf = offset(at, deny)?;
        }
    }
    for at in std::mem::take(&mut a.to_deny) {
        a.out[at].k = (deny - at - 1) as u32;
    }
    Ok(a.out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seccomp::deny_list;
    use seccompiler::{
        SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
        SeccompRule, TargetArch,
    };
    use std::collections::BTreeMap;

    #[cfg(target_arch = "x86_64")]
    const TARGET: TargetArch = TargetArch::x86_64;
    #[cfg(target_arch = "aarch64")]
    const TARGET: TargetArch = TargetArch::aarch64;
    #[cfg(target_arch = "riscv64")]
    const TARGET: TargetArch = TargetArch::riscv64;

    /// The deny list through seccompiler, as the layer shipped before.
    fn reference(net: bool) -> Vec<libc::sock_filter> {
        let cond = |arg: u8, op, v| SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, v);
        let mut merged: BTreeMap<i64, Option<Vec<SeccompRule>>> = BTreeMap::new();
        for d in deny_list(net) {
            let rules: Vec<SeccompRule> = match &d.when {
                When::Always => Vec::new(),
                When::AnyBit(a, bits) => bits
                    .iter()
                    .map(|b| {
                        SeccompRule::new(vec![cond(*a, SeccompCmpOp::MaskedEq(*b), *b).unwrap()])
                            .unwrap()
                    })
                    .collect(),
                When::NotIn(a, values) => vec![SeccompRule::new(
                    values
                        .iter()
                        .map(|v| cond(*a, SeccompCmpOp::Ne, *v).unwrap())
                        .collect(),
                )
                .unwrap()],
                When::MaskedIn(a, mask, values) => values
                    .iter()
                    .map(|v| {
                        SeccompRule::new(vec![cond(*a, SeccompCmpOp::MaskedEq(*mask), *v).unwrap()])
                            .unwrap()
                    })
                    .collect(),
                When::In(a, values) => values
                    .iter()
                    .map(|v| {
                        SeccompRule::new(vec![cond(*a, SeccompCmpOp::Eq, *v).unwrap()]).unwrap()
                    })
                    .collect(),
            };
            let entry = merged.entry(d.nr).or_insert_with(|| Some(Vec::new()));
            match (entry.as_mut(), d.when == When::Always) {
                (_, true) => *entry = None,
                (Some(existing), false) => existing.extend(rules),
                (None, false) => {}
            }
        }
        let map = merged
            .into_iter()
            .map(|(nr, rules)| (nr, rules.unwrap_or_default()))
            .collect();
        let filter = SeccompFilter::new(
            map,
            SeccompAction::Allow,
            SeccompAction::Errno(libc::EPERM as u32),
            TARGET,
        )
        .unwrap();
        let prog: seccompiler::BpfProgram = filter.try_into().unwrap();
        prog.into_iter()
            .map(|i| libc::sock_filter {
                code: i.code,
                jt: i.jt,
                jf: i.jf,
                k: i.k,
            })
            .collect()
    }

    /// The old hand-written prelude, installed before the reference.
    fn old_prelude() -> Vec<libc::sock_filter> {
        let j = |code, k, jt, jf| libc::sock_filter { code, jt, jf, k };
        let errno = |e: i32| stmt(RET_K, libc::SECCOMP_RET_ERRNO | (e as u32 & 0xffff));
        vec![
            stmt(LD_W_ABS, ARCH),
            j(JEQ_K, AUDIT_ARCH, 1, 0),
            stmt(RET_K, libc::SECCOMP_RET_KILL_PROCESS),
            stmt(LD_W_ABS, NR),
            j(JEQ_K, libc::SYS_clone3 as u32, 0, 1),
            errno(libc::ENOSYS),
            j(JGE_K, 0x4000_0000, 0, 1),
            errno(libc::EPERM),
            stmt(RET_K, libc::SECCOMP_RET_ALLOW),
        ]
    }

    /// A classic-BPF interpreter for the instructions both programs use.
    fn run(prog: &[libc::sock_filter], data: &[u32; 16]) -> u32 {
        let (mut a, mut pc) = (0u32, 0usize);
        loop {
            let i = prog[pc];
            pc += 1;
            match i.code {
                LD_W_ABS => a = data[i.k as usize / 4],
                ALU_AND_K => a &= i.k,
                JA => pc += i.k as usize,
                JEQ_K | JGE_K | JSET_K => {
                    let hit = match i.code {
                        JEQ_K => a == i.k,
                        JGE_K => a >= i.k,
                        _ => a & i.k != 0,
                    };
                    pc += usize::from(if hit { i.jt } else { i.jf });
                }
                RET_K => return i.k,
                other => panic!("unexpected opcode {other:#x} at {}", pc - 1),
            }
        }
    }

    /// The kernel runs every installed filter and keeps the most
    /// restrictive action (kill > errno > allow here).
    fn strictest(a: u32, b: u32) -> u32 {
        let rank = |x: u32| match x & libc::SECCOMP_RET_ACTION_FULL {
            libc::SECCOMP_RET_KILL_PROCESS => 0,
            libc::SECCOMP_RET_ERRNO => 1,
            _ => 2,
        };
        if rank(a) <= rank(b) {
            a
        } else {
            b
        }
    }

    #[test]
    fn the_compact_program_decides_exactly_like_seccompiler_and_the_old_prelude() {
        for net in [false, true] {
            let ours = assemble(&deny_list(net)).unwrap();
            let (prelude, main) = (old_prelude(), reference(net));
            assert!(
                ours.len() * 3 < main.len(),
                "{} vs {}",
                ours.len(),
                main.len()
            );
            // Every value a rule mentions, each bit of it, and neighbours.
            let mut values: Vec<u32> = vec![0, 1, 0xffff_ffff, 0x7fff_ffff];
            for d in deny_list(net) {
                let vs: &[u64] = match &d.when {
                    When::Always => &[],
                    When::AnyBit(_, v) | When::NotIn(_, v) | When::In(_, v) => v,
                    When::MaskedIn(_, _, v) => v,
                };
                for v in vs {
                    let v = *v as u32;
                    values.extend([v, v | 0x10, v | 0x80000, v ^ 1, v.wrapping_add(1)]);
                }
            }
            values.sort();
            values.dedup();
            let mut checked = 0u64;
            let arches = [AUDIT_ARCH, 0xc000_0028];
            let nrs = (0u32..600).chain([0x4000_0001, 0x4000_0038, libc::SYS_clone3 as u32]);
            for nr in nrs {
                for arch in arches {
                    for (slot, v) in (0..3).flat_map(|s| values.iter().map(move |v| (s, *v))) {
                        let mut data = [0u32; 16];
                        data[0] = nr;
                        data[1] = arch;
                        data[4 + slot * 2] = v;
                        let want = strictest(run(&prelude, &data), run(&main, &data));
                        assert_eq!(
                            run(&ours, &data),
                            want,
                            "nr {nr} arch {arch:#x} arg{slot}={v:#x} net={net}"
                        );
                        checked += 1;
                    }
                }
            }
            assert!(checked > 100_000);
        }
    }
}
