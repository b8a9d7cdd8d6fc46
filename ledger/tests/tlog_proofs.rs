//! Laws of the Merkle proofs: for every tree up to 70 leaves, every
//! inclusion and consistency proof verifies, and any change to a proof (a
//! flipped bit, a hash dropped, added or swapped, the wrong size or index)
//! makes it fail. Proofs are made from stored tiles, as the log makes them.

use consent_ledger::tlog::merkle::{root_of, LeafSlice};
use consent_ledger::tlog::{
    consistency_proof, inclusion_proof, leaf_hash, verify_consistency, verify_inclusion, Hash,
    TileSet, TreeBuilder,
};
use proptest::prelude::*;

fn leaves(n: u64) -> Vec<Hash> {
    (0..n)
        .map(|i| leaf_hash(format!("entry {i}").as_bytes()))
        .collect()
}

fn tiles(leaves: &[Hash]) -> TileSet {
    let mut b = TreeBuilder::default();
    let mut set = TileSet::default();
    for l in leaves {
        b.push(*l);
        for w in b.take_writes() {
            set.insert((w.level, w.index), &w.hashes);
        }
    }
    set
}

#[test]
fn every_proof_of_every_tree_up_to_70_leaves_verifies() {
    let all = leaves(70);
    let mut set = tiles(&all);
    let roots: Vec<Hash> = (0..=70).map(|n| root_of(&all[..n])).collect();
    for n in 1..=70u64 {
        for m in 0..n {
            let p = inclusion_proof(&mut set, m, n).unwrap();
            assert_eq!(p, inclusion_proof(&mut LeafSlice(&all), m, n).unwrap());
            verify_inclusion(m, n, &all[m as usize], &p, &roots[n as usize]).unwrap();
        }
        for m in 0..=n {
            let p = consistency_proof(&mut set, m, n).unwrap();
            verify_consistency(m, n, &roots[m as usize], &roots[n as usize], &p).unwrap();
        }
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(usize, usize),
    Drop(usize),
    Duplicate(usize),
    Swap(usize, usize),
    OtherSize(u64),
    OtherIndex(u64),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0usize..256).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        any::<usize>().prop_map(Mutation::Drop),
        any::<usize>().prop_map(Mutation::Duplicate),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::Swap(a, b)),
        (1u64..71).prop_map(Mutation::OtherSize),
        (0u64..71).prop_map(Mutation::OtherIndex),
    ]
}

/// Applies the mutation; `None` when it would change nothing.
fn mutate(proof: &[Hash], a: u64, n: u64, m: &Mutation) -> Option<(Vec<Hash>, u64, u64)> {
    let mut p = proof.to_vec();
    let (mut a, mut n) = (a, n);
    match *m {
        Mutation::FlipBit(i, bit) => {
            if p.is_empty() {
                return None;
            }
            let i = i % p.len();
            p[i][bit / 8] ^= 1 << (bit % 8);
        }
        Mutation::Drop(i) => {
            if p.is_empty() {
                return None;
            }
            p.remove(i % p.len());
        }
        Mutation::Duplicate(i) => {
            if p.is_empty() {
                p.push([7; 32]);
            } else {
                let i = i % p.len();
                p.insert(i, p[i]);
            }
        }
        Mutation::Swap(i, j) => {
            if p.len() < 2 {
                return None;
            }
            let (i, j) = (i % p.len(), j % p.len());
            if p[i] == p[j] {
                return None;
            }
            p.swap(i, j);
        }
        Mutation::OtherSize(s) => {
            if s == n {
                return None;
            }
            n = s;
        }
        Mutation::OtherIndex(x) => {
            if x == a {
                return None;
            }
            a = x;
        }
    }
    Some((p, a, n))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn a_mutated_inclusion_proof_fails(n in 1u64..71, m in 0u64..70, how in mutation()) {
        let m = m % n;
        let all = leaves(70);
        let roots: Vec<Hash> = (0..=70).map(|k| root_of(&all[..k])).collect();
        let proof = inclusion_proof(&mut LeafSlice(&all), m, n).unwrap();
        if let Some((p, m2, n2)) = mutate(&proof, m, n, &how) {
            // The root checked against is the one of the claimed size; the
            // leaf is the one the claimed index holds.
            let leaf = all[(m2 as usize).min(69)];
            let root = roots[(n2 as usize).min(70)];
            prop_assert!(verify_inclusion(m2, n2, &leaf, &p, &root).is_err()
                || (m2 == m && n2 == n && p == proof));
        }
    }

    #[test]
    fn a_mutated_consistency_proof_fails(n in 1u64..71, m in 1u64..71, how in mutation()) {
        let m = 1 + m % n;
        let all = leaves(70);
        let roots: Vec<Hash> = (0..=70).map(|k| root_of(&all[..k])).collect();
        let proof = consistency_proof(&mut LeafSlice(&all), m, n).unwrap();
        if let Some((p, m2, n2)) = mutate(&proof, m, n, &how) {
            let old = roots[(m2 as usize).min(70)];
            let new = roots[(n2 as usize).min(70)];
            // Consistency from a tree to itself, or from the empty tree,
            // holds whatever the claimed sizes; every other change fails.
            let trivially = (m2 == n2 && p.is_empty()) || (m2 == 0 && p.is_empty());
            prop_assert!(trivially || verify_consistency(m2, n2, &old, &new, &p).is_err());
        }
    }

    #[test]
    fn a_proof_against_another_root_fails(n in 2u64..71, m in 0u64..70, other in 0usize..70) {
        let m = m % n;
        let all = leaves(70);
        let proof = inclusion_proof(&mut LeafSlice(&all), m, n).unwrap();
        let other_leaf = all[other];
        prop_assume!(other != m as usize);
        prop_assert!(verify_inclusion(m, n, &other_leaf, &proof, &root_of(&all[..n as usize])).is_err());
    }
}
