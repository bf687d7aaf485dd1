//! Bulk requests (RFC 7644 §3.7) on `/Users` and `/Groups`: the operations
//! run one after the other through the same functions as single requests,
//! so every rule (protected accounts, `If-Match`, all-or-nothing PATCH,
//! groups only as exposed roles) holds inside a bulk request.
//!
//! An operation that refers to `bulkId:x` waits until the POST with that
//! bulkId has run, whatever their order in the request; references that
//! cannot be resolved (unknown, failed, or circular) fail the operation with
//! 409. After `failOnErrors` failures the remaining operations are skipped.

use std::collections::HashMap;

use serde_json::Value;

use super::{PatchAnswer, Provisioner, ProvisioningError};
use crate::scim::bulk::{BulkMethod, BulkOperation, BulkRequest};
use crate::scim::error::ScimError;
use crate::scim::patch::PatchRequest;
use crate::scim::resource::{parse_replacement, parse_resource};
use crate::scim::version::{ConditionSource, Preconditions, VersionCondition};
use crate::untrusted::quote;

/// Most operations one bulk request may hold (advertised as
/// `bulk.maxOperations`). A user operation costs one to three Drupal
/// requests, a group operation about one per member it changes, and an IdP
/// waits for the whole answer.
pub const MAX_BULK_OPERATIONS: usize = 100;

/// What one operation did.
#[derive(Debug)]
pub struct BulkOutcome {
    pub method: BulkMethod,
    pub bulk_id: Option<String>,
    /// The resource the operation created or addressed: endpoint and id.
    pub resource: Option<(&'static str, String)>,
    pub result: Result<BulkSuccess, ProvisioningError>,
}

#[derive(Debug)]
pub struct BulkSuccess {
    pub status: u16,
    /// The resource's version after the operation (none after DELETE).
    pub version: Option<String>,
}

/// The resource endpoints a bulk operation can address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Users,
    Groups,
}

impl Endpoint {
    fn path(self) -> &'static str {
        match self {
            Endpoint::Users => "/Users",
            Endpoint::Groups => "/Groups",
        }
    }
}

/// `/Users`, `/Groups`, or either with `/{id}` (a leading slash is optional).
fn parse_path(path: &str) -> Result<(Endpoint, Option<String>), ScimError> {
    let trimmed = path.trim().trim_start_matches('/');
    let (collection, id) = match trimmed.split_once('/') {
        Some((collection, id)) => (collection, Some(id.to_string())),
        None => (trimmed, None),
    };
    let endpoint = if collection.eq_ignore_ascii_case("Users") {
        Some(Endpoint::Users)
    } else if collection.eq_ignore_ascii_case("Groups") {
        Some(Endpoint::Groups)
    } else {
        None
    };
    match endpoint {
        Some(endpoint) if !id.as_deref().is_some_and(|i| i.contains('/')) => Ok((endpoint, id)),
        _ => Err(ScimError::invalid_path(format!(
            "the bulk path {} names no resource this bridge serves in bulk: use /Users, /Groups, /Users/{{id}} or /Groups/{{id}}",
            quote(path)
        ))),
    }
}

/// One operation with its path read: what each method needs of it.
struct Target<'o> {
    operation: &'o BulkOperation,
    endpoint: Endpoint,
    id: Option<String>,
}

impl Target<'_> {
    fn data(&self) -> Result<&Value, ScimError> {
        self.operation
            .data
            .as_ref()
            .ok_or_else(|| ScimError::invalid_syntax("the operation needs data"))
    }

    /// The operation's `version`, the `If-Match` of its write.
    fn if_match(&self) -> Result<Option<VersionCondition>, ScimError> {
        self.operation
            .version
            .as_deref()
            .map(|version| VersionCondition::parse(version, ConditionSource::BulkVersion))
            .transpose()
    }

    /// The id in the path, which every method but POST needs.
    fn id(&self) -> Result<String, ScimError> {
        self.id.clone().ok_or_else(|| {
            ScimError::invalid_path(format!(
                "{} needs the resource's id in its path: {}/{{id}}",
                self.operation.method.as_str(),
                self.endpoint.path()
            ))
        })
    }

    /// POST creates: its path names the endpoint alone.
    fn no_id(&self) -> Result<(), ScimError> {
        match self.id {
            None => Ok(()),
            Some(_) => Err(ScimError::invalid_path(format!(
                "POST creates a resource: its path is {}, without an id",
                self.endpoint.path()
            ))),
        }
    }
}

/// Where one operation stands while the request runs.
enum Slot {
    Waiting(BulkOperation),
    Done(BulkOutcome),
}

impl Provisioner {
    /// Runs every operation of `request`; the outcomes keep the request's
    /// order and leave out operations skipped after `failOnErrors`.
    pub async fn run_bulk(&self, request: &BulkRequest) -> Vec<BulkOutcome> {
        let created_by: Vec<&str> = request
            .operations
            .iter()
            .filter(|o| o.method == BulkMethod::Post)
            .filter_map(|o| o.bulk_id.as_deref())
            .collect();
        // bulkId -> the id of the resource its POST created, or None if it failed.
        let mut created: HashMap<String, Option<String>> = HashMap::new();
        let mut slots: Vec<Slot> = request
            .operations
            .iter()
            .cloned()
            .map(Slot::Waiting)
            .collect();
        let mut errors = 0usize;
        let stop = |errors: usize| request.fail_on_errors.is_some_and(|limit| errors >= limit);

        'passes: loop {
            let mut progressed = false;
            for slot in slots.iter_mut() {
                if stop(errors) {
                    break 'passes;
                }
                let Slot::Waiting(operation) = slot else {
                    continue;
                };
                let refs = operation.references();
                let blocker = refs.iter().find_map(|r| {
                    if !created_by.contains(&r.as_str()) {
                        Some(Some(format!(
                            "no POST operation of this request has the bulkId {}",
                            quote(r)
                        )))
                    } else {
                        match created.get(r) {
                            Some(Some(_)) => None,
                            Some(None) => Some(Some(format!(
                                "the operation with bulkId {0} failed, so bulkId:{0} names nothing",
                                quote(r)
                            ))),
                            // Its POST has not run yet: wait.
                            None => Some(None),
                        }
                    }
                });
                let outcome = match blocker {
                    Some(None) => continue,
                    Some(Some(why)) => unresolved(operation, why),
                    None => {
                        let resolved = operation.resolved(|r| created.get(r).cloned().flatten());
                        match resolved {
                            Ok(op) => self.run_operation(&op).await,
                            Err(r) => {
                                unresolved(operation, format!("bulkId:{r} cannot be resolved"))
                            }
                        }
                    }
                };
                if let (Some(id), BulkMethod::Post) = (&outcome.bulk_id, outcome.method) {
                    let made = outcome
                        .result
                        .as_ref()
                        .ok()
                        .and(outcome.resource.as_ref())
                        .map(|(_, rid)| rid.clone());
                    created.insert(id.clone(), made);
                }
                if outcome.result.is_err() {
                    errors += 1;
                }
                *slot = Slot::Done(outcome);
                progressed = true;
            }
            if !progressed {
                break;
            }
        }
        // What still waits refers, directly or not, to itself.
        slots
            .into_iter()
            .filter_map(|slot| match slot {
                Slot::Done(outcome) => Some(outcome),
                Slot::Waiting(operation) if !stop(errors) => Some(unresolved(
                    &operation,
                    "its bulkId references form a cycle".to_string(),
                )),
                Slot::Waiting(_) => None,
            })
            .collect()
    }

    async fn run_operation(&self, operation: &BulkOperation) -> BulkOutcome {
        let (resource, result) = match parse_path(&operation.path) {
            Ok((endpoint, id)) => {
                let resource = id.clone().map(|id| (endpoint.path(), id));
                match self.dispatch(operation, endpoint, id).await {
                    Ok((id, success)) => (Some((endpoint.path(), id)), Ok(success)),
                    Err(e) => (resource, Err(e)),
                }
            }
            Err(e) => (None, Err(e.into())),
        };
        BulkOutcome {
            method: operation.method,
            bulk_id: operation.bulk_id.clone(),
            resource,
            result,
        }
    }

    /// Runs one operation; answers the id of the resource and the success.
    async fn dispatch(
        &self,
        operation: &BulkOperation,
        endpoint: Endpoint,
        id: Option<String>,
    ) -> Result<(String, BulkSuccess), ProvisioningError> {
        let target = Target {
            operation,
            endpoint,
            id,
        };
        match endpoint {
            Endpoint::Users => self.dispatch_user(&target).await,
            Endpoint::Groups => self.dispatch_group(&target).await,
        }
    }

    async fn dispatch_user(
        &self,
        target: &Target<'_>,
    ) -> Result<(String, BulkSuccess), ProvisioningError> {
        let conditions = Preconditions::bulk_version(target.if_match()?);
        let if_match = &conditions;
        match target.operation.method {
            BulkMethod::Post => {
                target.no_id()?;
                let resource = parse_resource(target.data()?, &self.user_schema())?;
                let user = self.create_user(resource).await?;
                Ok((user.id, success(201, Some(user.version))))
            }
            BulkMethod::Put => {
                let id = target.id()?;
                let replacement = parse_replacement(target.data()?, &self.user_schema())?;
                let user = self.replace_user(&id, replacement, if_match).await?;
                Ok((id, success(200, Some(user.version))))
            }
            BulkMethod::Patch => {
                let id = target.id()?;
                let patch = PatchRequest::from_json(target.data()?)?;
                let user = self.patch_user(&id, &patch, if_match).await?;
                Ok((id, success(200, Some(user.version))))
            }
            BulkMethod::Delete => {
                let id = target.id()?;
                self.delete_user(&id, if_match).await?;
                Ok((id, success(204, None)))
            }
        }
    }

    /// As on `/Groups`: `version` is checked as `If-Match` (reading the
    /// members, which a group's version covers), and members are not read
    /// back, so the response names no version (the bulk response shows no
    /// resource).
    async fn dispatch_group(
        &self,
        target: &Target<'_>,
    ) -> Result<(String, BulkSuccess), ProvisioningError> {
        let conditions = Preconditions::bulk_version(target.if_match()?);
        let if_match = &conditions;
        match target.operation.method {
            BulkMethod::Post => {
                target.no_id()?;
                let resource = parse_resource(target.data()?, self.group_schema())?;
                let group = self.create_group(resource, false).await?;
                Ok((group.id, success(201, None)))
            }
            BulkMethod::Put => {
                let id = target.id()?;
                let resource = parse_resource(target.data()?, self.group_schema())?;
                self.replace_group(&id, resource, false, if_match).await?;
                Ok((id, success(200, None)))
            }
            BulkMethod::Patch => {
                let id = target.id()?;
                let patch = PatchRequest::from_json(target.data()?)?;
                self.patch_group(&id, &patch, PatchAnswer::Nothing, if_match)
                    .await?;
                Ok((id, success(204, None)))
            }
            BulkMethod::Delete => {
                let id = target.id()?;
                self.delete_group(&id, if_match).await?;
                Ok((id, success(204, None)))
            }
        }
    }
}

fn success(status: u16, version: Option<String>) -> BulkSuccess {
    BulkSuccess { status, version }
}

fn unresolved(operation: &BulkOperation, why: String) -> BulkOutcome {
    BulkOutcome {
        method: operation.method,
        bulk_id: operation.bulk_id.clone(),
        resource: None,
        result: Err(ScimError::new(409, None, format!("the operation cannot run: {why}")).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_the_users_or_groups_endpoint_with_or_without_an_id() {
        assert_eq!(parse_path("/Users").unwrap(), (Endpoint::Users, None));
        assert_eq!(
            parse_path("users/abc").unwrap(),
            (Endpoint::Users, Some("abc".into()))
        );
        assert_eq!(parse_path("Groups").unwrap(), (Endpoint::Groups, None));
        assert_eq!(
            parse_path("/GROUPS/g1").unwrap(),
            (Endpoint::Groups, Some("g1".into()))
        );
        for bad in ["/Schemas", "/Users/a/b", "/Groups/a/b", "/Bulk"] {
            assert_eq!(parse_path(bad).unwrap_err().status, 400, "{bad}");
        }
    }
}
