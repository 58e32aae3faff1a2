//! Batch buffers lent to whichever server has datagrams queued, instead of
//! one set kept by every server. A DHCP server's inbox and outbox are
//! ~300 KB and a DNS socket's ~80 KB; kept per network they were 455 KB a
//! network whether a guest ever spoke on it or not (95.9 MiB at 200
//! networks). Lent, they cost once per server busy at the same moment: a
//! server takes a set when a batch comes in and puts it back when the
//! batch is answered, and the servers share one runtime thread.

use std::ops::{Deref, DerefMut};
use std::sync::Mutex;

/// Sets kept on the shelf between batches: the one the runtime's thread
/// serves with, and one for a DHCP server that waits on a full send queue
/// with its replies while others go on. More are made when needed and
/// freed when returned.
const KEEP: usize = 2;

/// A shelf of spare `T`s, made by `make` when none is spare.
pub(crate) struct Shelf<T: 'static> {
    spare: Mutex<Vec<Box<T>>>,
    make: fn() -> T,
}

impl<T: 'static> Shelf<T> {
    pub(crate) const fn new(make: fn() -> T) -> Shelf<T> {
        Shelf {
            spare: Mutex::new(Vec::new()),
            make,
        }
    }

    /// A set to use for one batch; it goes back on the shelf when dropped.
    pub(crate) fn take(&'static self) -> Lent<T> {
        let spare = self.spare.lock().unwrap_or_else(|e| e.into_inner()).pop();
        Lent {
            item: Some(spare.unwrap_or_else(|| Box::new((self.make)()))),
            shelf: self,
        }
    }

    #[cfg(test)]
    fn spare(&self) -> usize {
        self.spare.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// A `T` borrowed from a shelf.
pub(crate) struct Lent<T: 'static> {
    item: Option<Box<T>>,
    shelf: &'static Shelf<T>,
}

impl<T> Deref for Lent<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // Some from `take` until `drop`.
        self.item.as_deref().unwrap_or_else(|| unreachable!())
    }
}

impl<T> DerefMut for Lent<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.item.as_deref_mut().unwrap_or_else(|| unreachable!())
    }
}

impl<T> Drop for Lent<T> {
    fn drop(&mut self) {
        let Some(item) = self.item.take() else { return };
        let mut spare = self.shelf.spare.lock().unwrap_or_else(|e| e.into_inner());
        if spare.len() < KEEP {
            spare.push(item);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static SHELF: Shelf<Vec<u8>> = Shelf::new(|| vec![0; 16]);

    #[test]
    fn a_set_is_reused_and_the_shelf_keeps_few() {
        let a = SHELF.take();
        let at = a.as_ptr();
        drop(a);
        assert_eq!(SHELF.spare(), 1);
        // The one put back is lent again.
        let b = SHELF.take();
        assert_eq!(b.as_ptr(), at);
        assert_eq!(SHELF.spare(), 0);
        // Many at once (a burst on many networks): only KEEP stay.
        let many: Vec<_> = (0..10).map(|_| SHELF.take()).collect();
        drop(many);
        drop(b);
        assert_eq!(SHELF.spare(), KEEP);
    }
}
