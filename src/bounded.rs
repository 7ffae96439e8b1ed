//! Rings that cost what they hold: a `VecDeque` with a bound grows its capacity by doubling
//! as it fills, never past the bound, so a new target's history or SLO window starts small and
//! a full ring holds exactly its bound (the per-target memory bound stays what it was).

use std::collections::VecDeque;

/// The first allocation of a ring.
const FIRST_CAPACITY: usize = 4;

/// Pushes `item` at the back; a ring holding `bound` items drops its oldest first and returns
/// it.
pub fn push<T>(ring: &mut VecDeque<T>, bound: usize, item: T) -> Option<T> {
    let bound = bound.max(1);
    let dropped = if ring.len() >= bound {
        ring.pop_front()
    } else {
        None
    };
    if ring.len() == ring.capacity() {
        let want = ring
            .capacity()
            .saturating_mul(2)
            .clamp(FIRST_CAPACITY.min(bound), bound);
        ring.reserve_exact(want.saturating_sub(ring.len()));
    }
    ring.push_back(item);
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_follows_the_contents_up_to_the_bound() {
        let mut r = VecDeque::new();
        assert_eq!(r.capacity(), 0);
        let mut seen = Vec::new();
        for i in 0..1000 {
            assert_eq!(push(&mut r, 1000, i), None);
            if seen.last() != Some(&r.capacity()) {
                seen.push(r.capacity());
            }
            assert!(r.capacity() <= (2 * r.len()).max(FIRST_CAPACITY));
        }
        assert_eq!(seen, [4, 8, 16, 32, 64, 128, 256, 512, 1000]);
        // Full: the oldest goes, the capacity stays at the bound.
        assert_eq!(push(&mut r, 1000, 1000), Some(0));
        assert_eq!((r.len(), r.capacity()), (1000, 1000));
        assert_eq!(r.front(), Some(&1));
        let mut small = VecDeque::new();
        push(&mut small, 3, 'a');
        assert_eq!(small.capacity(), 3);
    }
}
