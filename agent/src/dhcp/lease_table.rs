//! A pool's leases, found by address. A lease holds its own address, so
//! the table keeps the leases alone instead of a map from address to lease
//! that would hold every address twice: with the 57,344 slots a /16 pool
//! is given up front, the key and its padding were half a megabyte.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::Ipv4Addr;

use hashbrown::hash_table::{Entry, HashTable};

use super::lease::Lease;

#[derive(Debug, Clone, Default)]
pub(crate) struct LeaseTable {
    table: HashTable<Lease>,
    /// Keyed per process, as std's maps are: a guest cannot choose
    /// addresses that collide.
    hasher: RandomState,
}

impl LeaseTable {
    pub(crate) fn with_capacity(n: usize) -> LeaseTable {
        LeaseTable {
            table: HashTable::with_capacity(n),
            hasher: RandomState::new(),
        }
    }

    fn hash(&self, ip: Ipv4Addr) -> u64 {
        self.hasher.hash_one(ip)
    }

    pub(crate) fn get(&self, ip: &Ipv4Addr) -> Option<&Lease> {
        self.table.find(self.hash(*ip), |l| l.ip == *ip)
    }

    /// Keep `l`, returning the lease it replaces at its address.
    pub(crate) fn insert(&mut self, l: Lease) -> Option<Lease> {
        let h = self.hash(l.ip);
        let hasher = &self.hasher;
        match self.table.entry(h, |x| x.ip == l.ip, |x| hasher.hash_one(x.ip)) {
            Entry::Occupied(mut e) => Some(std::mem::replace(e.get_mut(), l)),
            Entry::Vacant(e) => {
                e.insert(l);
                None
            }
        }
    }

    pub(crate) fn remove(&mut self, ip: &Ipv4Addr) -> Option<Lease> {
        let h = self.hash(*ip);
        self.table
            .find_entry(h, |l| l.ip == *ip)
            .ok()
            .map(|e| e.remove().0)
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &Lease> {
        self.table.iter()
    }

    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// Every lease, to change what is not its address (the key).
    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut Lease> {
        self.table.iter_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dhcp::lease::ClientId;

    fn lease(last: u8, client: u8) -> Lease {
        let mac = crate::config::MacAddr([2, 0, 0, 0, 0, client]);
        Lease {
            ip: Ipv4Addr::new(10, 0, 0, last),
            client: ClientId::from_mac(mac),
            mac,
            hostname: None,
            expires: None,
        }
    }

    #[test]
    fn a_lease_is_found_replaced_and_removed_by_its_address() {
        let mut t = LeaseTable::with_capacity(4);
        assert!(t.insert(lease(5, 1)).is_none());
        assert!(t.insert(lease(6, 2)).is_none());
        assert_eq!(t.get(&Ipv4Addr::new(10, 0, 0, 5)).map(|l| l.mac.0[5]), Some(1));
        let before = t.insert(lease(5, 3)).expect("the address was leased");
        assert_eq!(before.mac.0[5], 1);
        assert_eq!(t.get(&Ipv4Addr::new(10, 0, 0, 5)).map(|l| l.mac.0[5]), Some(3));
        assert_eq!(t.len(), 2);
        assert_eq!(t.remove(&Ipv4Addr::new(10, 0, 0, 6)).map(|l| l.mac.0[5]), Some(2));
        assert!(t.remove(&Ipv4Addr::new(10, 0, 0, 6)).is_none());
        assert!(t.get(&Ipv4Addr::new(10, 0, 0, 7)).is_none());
        assert_eq!(t.values().count(), 1);
    }
}
