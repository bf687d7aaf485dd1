//! What the bridge may change in Drupal: deprovisioning, protected roles,
//! and how long it trusts what it read.

use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(try_from = "String")]
pub enum DeprovisionPolicy {
    /// Block the account, keep it and its content, hide it from SCIM.
    #[default]
    Block,
    /// Send a JSON:API DELETE (the site's account-cancellation method decides).
    Delete,
}

/// What a membership change naming an account the bridge does not serve
/// (no such user, or one SCIM DELETE deprovisioned) does.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(try_from = "String")]
pub enum UnknownMembers {
    /// Refuse the whole request before any write: 400 `invalidValue`
    /// naming the member, so the identity provider's log shows it.
    #[default]
    Refuse,
    /// Leave that member out, write the others, and answer as a success
    /// whose group lists only the members Drupal holds; each one left out
    /// is logged and audited (`group_member_skipped`). For identity
    /// providers that give up a whole group push on one 400.
    Skip,
}

/// How many Drupal reads a group PATCH without `attributes` may spend to
/// answer 200 with the whole group (RFC 7644 §3.5.2 allows 200 with the
/// group or 204). A read shows 50 members.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(try_from = "u16")]
pub struct GroupPatchReads(u16);

impl GroupPatchReads {
    /// At most 10,000 members read back for one answer.
    pub const MAX: u16 = 200;

    /// 0: 200 only when the members are known without reading them again,
    /// 204 otherwise (an add or removal of some members), which is what
    /// identity providers want. N: also 200 when the group has at most
    /// N reads' worth of members, read back; 204 for a larger one.
    pub fn reads(self) -> u16 {
        self.0
    }
}

impl TryFrom<u16> for GroupPatchReads {
    type Error = String;

    fn try_from(value: u16) -> Result<Self, Self::Error> {
        match value <= Self::MAX {
            true => Ok(GroupPatchReads(value)),
            false => Err(format!(
                "group_patch_reads is {value}: at most {} (50 members a read)",
                Self::MAX
            )),
        }
    }
}

impl TryFrom<String> for DeprovisionPolicy {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        match value.as_str() {
            "block" => Ok(DeprovisionPolicy::Block),
            "delete" => Ok(DeprovisionPolicy::Delete),
            _ => Err(super::not_one_of(&value, &["block", "delete"])),
        }
    }
}

impl TryFrom<String> for UnknownMembers {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        match value.as_str() {
            "refuse" => Ok(UnknownMembers::Refuse),
            "skip" => Ok(UnknownMembers::Skip),
            _ => Err(super::not_one_of(&value, &["refuse", "skip"])),
        }
    }
}

#[derive(Debug, Clone)]
pub struct PolicySettings {
    pub deprovision: DeprovisionPolicy,
    pub deprovisioned_field: String,
    pub protected_roles: Vec<String>,
    pub count_cache: Duration,
    pub role_cache: Duration,
    pub account_cache: Duration,
    pub unknown_members: UnknownMembers,
    pub group_patch_reads: GroupPatchReads,
}
