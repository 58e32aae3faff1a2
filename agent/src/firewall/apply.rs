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
    NoNft(String),
    #[error("nftables: the kernel has no nf_tables support ({0}): load the nf_tables, nft_nat, nft_masq, nft_reject, nft_ct modules or use a kernel with them")]
    NoKernelSupport(String),
    #[error("nftables: table inet {TABLE}: {action}: {msg}")]
    Failed { action: &'static str, msg: String },
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
pub fn replace_batch(ruleset: &Nftables<'static>) -> Nftables<'static> {
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
        NftablesError::NftExecution { inner, .. } => FirewallError::NoNft(inner.to_string()),
        NftablesError::NftFailed { stderr, .. } => {
            let msg = stderr.trim().replace('\n', " ");
            if msg.contains("Protocol not supported") || msg.contains("Operation not supported") {
                FirewallError::NoKernelSupport(msg)
            } else {
                FirewallError::Failed { action, msg }
            }
        }
        other => FirewallError::Failed {
            action,
            msg: other.to_string(),
        },
    }
}

/// `nft -c`: would the kernel take this batch? Changes nothing.
pub fn check(ruleset: &Nftables<'static>) -> Result<(), FirewallError> {
    helper::apply_ruleset_with_args(&replace_batch(ruleset), helper::DEFAULT_NFT, ["-c"])
        .map_err(|e| classify("check", e))
}

pub fn apply(ruleset: &Nftables<'static>) -> Result<(), FirewallError> {
    helper::apply_ruleset_with_args(&replace_batch(ruleset), helper::DEFAULT_NFT, helper::DEFAULT_ARGS)
        .map_err(|e| classify("replace", e))
}

/// Remove our table, if it is there (`netagent down`).
pub fn remove() -> Result<(), FirewallError> {
    apply(&Nftables {
        objects: Cow::Owned(Vec::new()),
    })
}

/// How many rules our table has in the kernel now; None if it is missing.
/// Comparing counts catches a deleted table, a flushed chain or a deleted
/// rule, cheaply, once a second.
pub fn rules_in_kernel() -> Result<Option<usize>, FirewallError> {
    match helper::get_current_ruleset_with_args(helper::DEFAULT_NFT, ["list", "table", "inet", TABLE]) {
        Ok(rs) => Ok(Some(count_rules(&rs))),
        Err(NftablesError::NftFailed { stderr, .. }) if stderr.contains("No such file") => Ok(None),
        Err(e) => Err(classify("list", e)),
    }
}

pub fn count_rules(rs: &Nftables<'_>) -> usize {
    rs.objects
        .iter()
        .filter(|o| matches!(o, NfObject::ListObject(NfListObject::Rule(_))))
        .count()
}
