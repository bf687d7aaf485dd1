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

/// How a group PATCH without `attributes` answers (RFC 7644 §3.5.2 allows
/// 200 with the whole group or 204).
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(try_from = "String")]
pub enum GroupPatchAnswer {
    /// 200 with the group when its members are known without reading them
    /// again, 204 when showing them would cost reads the change did not
    /// need (an add or removal of some members): what identity providers
    /// want, at one Drupal request per changed member.
    #[default]
    WhenKnown,
    /// Always 200 with the whole group, its members read back from Drupal
    /// (a request per 50) when the change did not give them. For SCIM
    /// clients that read the answer of every PATCH.
    Always,
}

impl TryFrom<String> for DeprovisionPolicy {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        match value.as_str() {
            "block" => Ok(DeprovisionPolicy::Block),
            "delete" => Ok(DeprovisionPolicy::Delete),
            _ => Err(format!("deprovision is {value:?}: write block or delete")),
        }
    }
}

impl TryFrom<String> for UnknownMembers {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        match value.as_str() {
            "refuse" => Ok(UnknownMembers::Refuse),
            "skip" => Ok(UnknownMembers::Skip),
            _ => Err(format!(
                "unknown_members is {value:?}: write refuse or skip"
            )),
        }
    }
}

impl TryFrom<String> for GroupPatchAnswer {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        match value.as_str() {
            "when_known" => Ok(GroupPatchAnswer::WhenKnown),
            "always" => Ok(GroupPatchAnswer::Always),
            _ => Err(format!(
                "group_patch_answer is {value:?}: write when_known or always"
            )),
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
    pub group_patch_answer: GroupPatchAnswer,
}
