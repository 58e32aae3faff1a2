//! Putting the ruleset into the kernel: one `nft -j -f -` batch that
//! replaces our table atomically (add, delete, re-add: the idiom that works
//! whether or not the table exists) and touches no other table.

use std::borrow::Cow;

use nftables::helper::{self, NftablesError};
use nftables::schema::{NfCmd, NfListObject, NfObject, Nftables, Table};
use nftables::types::NfFamily;

use super::TABLE;

#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    #[error("nftables: cannot run nft ({0}): netagent needs the nft program (Debian package nftables)")]
    NoNft(#[source] std::io::Error),
    #[error("nftables: the kernel has no nf_tables support ({0}): load the nf_tables, nft_nat, nft_masq, nft_reject, nft_ct modules or use a kernel with them")]
    NoKernelSupport(String),
    /// nft ran and refused; `stderr` is its own explanation.
    #[error("nftables: table inet {TABLE}: {action}: {stderr}")]
    Refused { action: &'static str, stderr: String },
    /// nft's output could not be read.
    #[error("nftables: table inet {TABLE}: {action}: {source}")]
    Output {
        action: &'static str,
        #[source]
        source: NftablesError,
    },
    /// Reading our table's state over netlink failed.
    #[error("nftables: table inet {TABLE}: {action}: {source}")]
    Kernel {
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// The worker thread that ran nft died.
    #[error("nftables: table inet {TABLE}: {action}: {source}")]
    Worker {
        action: &'static str,
        #[source]
        source: tokio::task::JoinError,
    },
}

impl FirewallError {
    /// The kernel or the host lacks what netagent needs (not a mistake in
    /// the rules): nft missing, or nf_tables not in the kernel.
    pub fn is_unsupported(&self) -> bool {
        matches!(self, FirewallError::NoNft(_) | FirewallError::NoKernelSupport(_))
    }
}

/// nft reports the kernel's errno only as words on stderr (it has no
/// machine-readable error output); this is the one place they are read.
fn nft_says(stderr: &str, errno: i32) -> bool {
    let words = std::io::Error::from_raw_os_error(errno).to_string();
    let words = words.split(" (os error").next().unwrap_or(&words);
    stderr.contains(words)
}

fn table() -> NfListObject<'static> {
    NfListObject::Table(Table {
        family: NfFamily::INet,
        name: TABLE.into(),
        handle: None,
    })
}

/// The batch that makes our table exactly `ruleset` (or removes it when
/// the ruleset is empty).
pub(crate) fn replace_batch(ruleset: &Nftables<'static>) -> Nftables<'static> {
    let mut objects = vec![
        NfObject::CmdObject(NfCmd::Add(table())),
        NfObject::CmdObject(NfCmd::Delete(table())),
    ];
    objects.extend(ruleset.objects.iter().cloned());
    Nftables {
        objects: Cow::Owned(objects),
    }
}

fn classify(action: &'static str, e: NftablesError) -> FirewallError {
    match e {
        NftablesError::NftExecution { inner, .. } => FirewallError::NoNft(inner),
        NftablesError::NftFailed { stderr, .. } => {
            let stderr = stderr.trim().replace('\n', " ");
            if nft_says(&stderr, libc::EPROTONOSUPPORT) || nft_says(&stderr, libc::EOPNOTSUPP) {
                FirewallError::NoKernelSupport(stderr)
            } else {
                FirewallError::Refused { action, stderr }
            }
        }
        source => FirewallError::Output { action, source },
    }
}

pub(crate) fn apply(ruleset: &Nftables<'static>) -> Result<(), FirewallError> {
    helper::apply_ruleset_with_args(&replace_batch(ruleset), helper::DEFAULT_NFT, helper::DEFAULT_ARGS)
        .map_err(|e| classify("replace", e))
}

/// Remove our table, if it is there (`netagent down`).
pub(crate) fn remove() -> Result<(), FirewallError> {
    apply(&Nftables {
        objects: Cow::Owned(Vec::new()),
    })
}

/// A digest of the ruleset's JSON (FNV-1a, stable across builds): equal
/// digests mean the table loaded earlier is this one.
pub(crate) fn digest(rs: &Nftables<'_>) -> u64 {
    let json = serde_json::to_vec(rs).unwrap_or_default();
    json.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

pub(crate) fn count_rules(rs: &Nftables<'_>) -> usize {
    rs.objects
        .iter()
        .filter(|o| matches!(o, NfObject::ListObject(NfListObject::Rule(_))))
        .count()
}
