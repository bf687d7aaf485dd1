//! The `taxonomy_term--scim_groups` routes and the users' `field_scim_groups`
//! reference field, as recorded from Drupal 10.2 (cases 300-395): terms are
//! revisionable content entities, names are not unique, a client-chosen
//! UUID is kept and a taken one is 409, reading needs `access content` and a
//! published term (or `administer taxonomy`), and a user's reference to a
//! deleted term stays behind until the user's list is rewritten whole.

use serde_json::{json, Value};
use uuid::Uuid;

use super::collection::{fieldset, links, list};
use super::documents::{document, href, rfc3339, self_links, user_url};
use super::errors::{ApiError, Failure, Violation};
use super::filter::{Cell, Collation};
use super::input::parse_resource;
use super::json::Json;
use super::model::{Caller, User};
use super::request::{Ctx, Outcome, Reply};
use super::state::Site;

/// The vocabulary the stand-in offers for groups, as on the recording site.
pub(crate) const VOCABULARY: &str = "scim_groups";
pub(crate) const TERM_TYPE: &str = "taxonomy_term--scim_groups";
/// The users' entity reference field to the vocabulary.
pub(crate) const GROUPS_FIELD: &str = "field_scim_groups";
/// The term's string field for the IdP's external id.
pub(crate) const TERM_EXTERNAL_ID: &str = "field_scim_external_id";
/// The other vocabulary of the recording site (standard profile).
pub(crate) const TAGS: &str = "tags";
pub(crate) const VOCABULARIES: [&str; 2] = [VOCABULARY, TAGS];
pub(crate) const ADMINISTER_TAXONOMY: &str = "administer taxonomy";
const ACCESS_CONTENT: &str = "access content";
const NAME_MAX: usize = 255;
/// The vocabularies' UUIDs on the recording site.
fn vocabulary_uuid(vid: &str) -> &'static str {
    match vid {
        VOCABULARY => "eec86b50-1a74-48cf-866f-58c792c98f07",
        _ => "a1c0d6b5-3c3b-4a59-8a49-8e2f1b0f7c11",
    }
}

/// A term of the groups vocabulary.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Term {
    pub(crate) tid: u64,
    /// The vocabulary (bundle): `scim_groups`, or `tags` as on the
    /// standard profile.
    pub(crate) vid: String,
    pub(crate) revision_id: u64,
    pub(crate) uuid: String,
    pub(crate) name: String,
    pub(crate) status: bool,
    pub(crate) description: Option<String>,
    pub(crate) weight: i64,
    pub(crate) changed: i64,
    /// When its revision was made: at the create, as JSON:API's updates
    /// make no new revision (recorded 340: a rename moves `changed` only).
    pub(crate) revision_created: i64,
    pub(crate) external_id: Option<String>,
}

/// One stored reference of a user: the target id, and the UUID the user's
/// cached normalization shows (Drupal does not invalidate it when the term
/// is deleted: recorded 381, 386c).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TermRef {
    pub(crate) tid: u64,
    pub(crate) cached_uuid: String,
}

pub(crate) fn term_type(vid: &str) -> String {
    format!("taxonomy_term--{vid}")
}

fn may(site: &Site, caller: &Caller, op: &str, vid: &str) -> bool {
    site.has_permission(caller, ADMINISTER_TAXONOMY)
        || site.has_permission(caller, &format!("{op} terms in {vid}"))
}

fn required(op: &str, vid: &str) -> String {
    format!(
        "The following permissions are required: '{op} terms in {vid}' OR 'administer taxonomy'."
    )
}

/// Whether the caller sees `revision_log_message` of the vocabulary's terms.
fn sees_log(site: &Site, caller: &Caller, vid: &str) -> bool {
    ["create", "edit", "delete"]
        .iter()
        .any(|op| may(site, caller, op, vid))
}

/// `TermAccessControlHandler` for `view`.
pub(crate) fn may_view(site: &Site, caller: &Caller, term: &Term) -> bool {
    site.has_permission(caller, ADMINISTER_TAXONOMY)
        || (term.status && site.has_permission(caller, ACCESS_CONTENT))
}

pub(crate) fn term_url(base: &str, vid: &str, uuid: &str) -> String {
    format!("{base}/jsonapi/taxonomy_term/{vid}/{uuid}")
}

fn versioned(url: &str, term: &Term) -> String {
    format!("{url}?resourceVersion=id%3A{}", term.revision_id)
}

fn wanted(fields: Option<&[String]>, name: &str) -> bool {
    fields.is_none_or(|f| f.iter().any(|n| n == name))
}

fn virtual_parent(vid: &str) -> Json {
    Json::Leaf(json!({
        "type": term_type(vid),
        "id": "virtual",
        "meta": {"links": {"help": {
            "href": "https://www.drupal.org/docs/8/modules/json-api/core-concepts#virtual",
            "meta": {"about": "Usage and meaning of the 'virtual' resource identifier."}
        }}}
    }))
}

pub(crate) fn term_resource(
    base: &str,
    term: &Term,
    fields: Option<&[String]>,
    show_log: bool,
) -> Json {
    let url = term_url(base, &term.vid, &term.uuid);
    let changed = Json::from(rfc3339(term.changed));
    let description = match &term.description {
        None => Json::null(),
        Some(text) => Json::Leaf(
            json!({"value": text, "format": "plain_text", "processed": format!("<p>{text}</p>\n")}),
        ),
    };
    let text = |v: &Option<String>| v.clone().map_or(Json::null(), Json::from);
    let mut attributes = vec![
        ("drupal_internal__tid", Json::Leaf(json!(term.tid))),
        (
            "drupal_internal__revision_id",
            Json::Leaf(json!(term.revision_id)),
        ),
        ("langcode", Json::from("en")),
        (
            "revision_created",
            Json::from(rfc3339(term.revision_created)),
        ),
        ("revision_log_message", Json::null()),
        ("status", Json::Leaf(json!(term.status))),
        ("name", Json::from(term.name.clone())),
        ("description", description),
        ("weight", Json::Leaf(json!(term.weight))),
        ("changed", changed),
        ("default_langcode", Json::Leaf(json!(true))),
        ("revision_translation_affected", Json::Leaf(json!(true))),
        (
            "path",
            Json::Leaf(json!({"alias": null, "pid": null, "langcode": "en"})),
        ),
        (TERM_EXTERNAL_ID, text(&term.external_id)),
    ];
    if term.vid != VOCABULARY {
        attributes.retain(|(name, _)| *name != TERM_EXTERNAL_ID);
    }
    // The revision log is shown only to those who may change terms (304, 332).
    attributes
        .retain(|(name, _)| wanted(fields, name) && (show_log || *name != "revision_log_message"));
    let relationship_links = |name: &str| {
        Json::object(vec![
            ("related", href(versioned(&format!("{url}/{name}"), term))),
            (
                "self",
                href(versioned(&format!("{url}/relationships/{name}"), term)),
            ),
        ])
    };
    let mut relationships = vec![
        (
            "vid",
            Json::object(vec![
                (
                    "data",
                    Json::Leaf(json!({
                        "type": "taxonomy_vocabulary--taxonomy_vocabulary",
                        "id": vocabulary_uuid(&term.vid),
                        "meta": {"drupal_internal__target_id": term.vid}
                    })),
                ),
                ("links", relationship_links("vid")),
            ]),
        ),
        (
            "revision_user",
            Json::object(vec![
                ("data", Json::null()),
                ("links", relationship_links("revision_user")),
            ]),
        ),
        (
            "parent",
            Json::object(vec![
                ("data", Json::Array(vec![virtual_parent(&term.vid)])),
                ("links", relationship_links("parent")),
            ]),
        ),
    ];
    relationships.retain(|(name, _)| wanted(fields, name));
    let mut resource = Json::object(vec![
        ("type", Json::from(term_type(&term.vid))),
        ("id", Json::from(term.uuid.clone())),
        ("links", self_links(&versioned(&url, term))),
    ]);
    if !attributes.is_empty() {
        resource.push("attributes", Json::object(attributes));
    }
    if !relationships.is_empty() {
        resource.push("relationships", Json::object(relationships));
    }
    resource
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TermColumn {
    Id,
    Tid,
    Name,
    Status,
    Weight,
    Changed,
    ExternalId,
}

fn resolve_path(path: &str) -> Result<TermColumn, ApiError> {
    let (first, rest) = path.split_once('.').unwrap_or((path, ""));
    let column = match first {
        "id" => TermColumn::Id,
        "drupal_internal__tid" => TermColumn::Tid,
        "name" => TermColumn::Name,
        "status" => TermColumn::Status,
        "weight" => TermColumn::Weight,
        "changed" => TermColumn::Changed,
        TERM_EXTERNAL_ID => TermColumn::ExternalId,
        _ => {
            return Err(ApiError::bad_request(format!(
                "Invalid nested filtering. The field `{first}`, given in the path `{path}`, does not exist."
            )))
        }
    };
    match rest {
        "" | "value" => Ok(column),
        property => Err(ApiError::bad_request(format!(
            "Invalid nested filtering. The property `{property}`, given in the path `{path}`, does not exist."
        ))),
    }
}

fn cells(term: &Term, column: &TermColumn) -> Vec<Cell> {
    vec![match column {
        TermColumn::Id => Cell::Text(term.uuid.clone(), Collation::NoCase),
        TermColumn::Tid => Cell::Int(term.tid as i64),
        // Equality ignores case on the recording site (322, 323); sorting
        // is binary (328), which `order_cells` does for every text.
        TermColumn::Name => Cell::Text(term.name.clone(), Collation::NoCase),
        TermColumn::Status => Cell::Int(i64::from(term.status)),
        TermColumn::Weight => Cell::Int(term.weight),
        TermColumn::Changed => Cell::Int(term.changed),
        TermColumn::ExternalId => term
            .external_id
            .clone()
            .map_or(Cell::Null, |v| Cell::Text(v, Collation::NoCase)),
    }]
}

pub(crate) fn get_collection(site: &Site, ctx: &Ctx, vid: &str) -> Outcome {
    // Entity query access: unpublished terms only for `administer taxonomy`.
    let rows: Vec<&Term> = site
        .terms
        .values()
        .filter(|t| t.vid == vid && may_view(site, &ctx.caller, t))
        .collect();
    let listing = list(&ctx.query, rows, &resolve_path, &|t: &&Term, c| cells(t, c))?;
    let fields = fieldset(&ctx.query, &term_type(vid));
    let log = sees_log(site, &ctx.caller, vid);
    let data = listing
        .rows
        .iter()
        .map(|t| term_resource(ctx.base(), t, fields.as_deref(), log))
        .collect();
    let doc = document(vec![
        ("data", Json::Array(data)),
        ("links", links(ctx, &listing)),
    ]);
    Ok(Reply::document(200, &doc))
}

fn not_found(vid: &str, suffix: &str) -> ApiError {
    ApiError::new(
        404,
        format!(
            "The \"entity\" parameter was not converted for the path \"/jsonapi/taxonomy_term/{vid}/{{entity}}\" \
             (route name: \"jsonapi.taxonomy_term--{vid}.individual{suffix}\")"
        ),
    )
}

/// The individual route loads any term by UUID, whatever its vocabulary
/// (recorded 331).
fn find<'s>(site: &'s Site, vid: &str, uuid: &str, suffix: &str) -> Result<&'s Term, ApiError> {
    site.term_by_uuid(uuid)
        .ok_or_else(|| not_found(vid, suffix))
}

pub(crate) fn get_individual(site: &Site, ctx: &Ctx, vid: &str, uuid: &str) -> Outcome {
    let term = find(site, vid, uuid, "")?;
    if !may_view(site, &ctx.caller, term) {
        return Err(ApiError::forbidden(
            "The current user is not allowed to GET the selected resource. The 'access content' permission is required and the taxonomy term must be published.",
        )
        .into());
    }
    let fields = fieldset(&ctx.query, &term_type(&term.vid));
    let doc = document(vec![
        (
            "data",
            term_resource(
                ctx.base(),
                term,
                fields.as_deref(),
                sees_log(site, &ctx.caller, &term.vid),
            ),
        ),
        ("links", self_links(&ctx.url)),
    ]);
    Ok(Reply::document(200, &doc))
}

/// Applies a body's attributes to `term`, in Drupal's order: unknown
/// attributes 422, then the field constraints.
fn apply(term: &mut Term, attributes: &serde_json::Map<String, Value>) -> Result<(), Failure> {
    const KNOWN: [&str; 5] = ["name", "status", "description", "weight", TERM_EXTERNAL_ID];
    let unknown = attributes.keys().find(|k| {
        !KNOWN.contains(&k.as_str()) || (k.as_str() == TERM_EXTERNAL_ID && term.vid != VOCABULARY)
    });
    if let Some(unknown) = unknown {
        return Err(ApiError::new(
            422,
            format!(
                "The attribute {unknown} does not exist on the {} resource type.",
                term_type(&term.vid)
            ),
        )
        .into());
    }
    let text = |value: &Value| match value {
        Value::Object(o) => o.get("value").and_then(Value::as_str).map(str::to_string),
        Value::String(s) => Some(s.clone()),
        _ => None,
    };
    if let Some(name) = attributes.get("name") {
        term.name = text(name).unwrap_or_default();
    }
    if let Some(status) = attributes.get("status") {
        term.status = status.as_bool().unwrap_or(term.status);
    }
    if let Some(description) = attributes.get("description") {
        term.description = text(description);
    }
    if let Some(weight) = attributes.get("weight") {
        term.weight = weight.as_i64().unwrap_or(term.weight);
    }
    if let Some(external) = attributes.get(TERM_EXTERNAL_ID) {
        term.external_id = text(external);
    }
    let mut violations = Vec::new();
    if term.name.is_empty() {
        violations.push(Violation::new("name", "This value should not be null."));
    } else if term.name.chars().count() > NAME_MAX {
        violations.push(Violation::new(
            "name.0.value",
            "Name: may not be longer than 255 characters.",
        ));
    }
    if term
        .external_id
        .as_ref()
        .is_some_and(|v| v.chars().count() > NAME_MAX)
    {
        violations.push(Violation::new(
            &format!("{TERM_EXTERNAL_ID}.0.value"),
            "SCIM external ID: may not be longer than 255 characters.",
        ));
    }
    match violations.is_empty() {
        true => Ok(()),
        false => Err(Failure::Violations(violations)),
    }
}

/// The bundle comes from the route: `data.type` and `relationships.vid`
/// naming another vocabulary are ignored (recorded 310, 312).
pub(crate) fn post(site: &mut Site, ctx: &Ctx, vid: &str) -> Outcome {
    if !may(site, &ctx.caller, "create", vid) {
        return Err(ApiError::forbidden(required("create", vid)).into());
    }
    let input = parse_resource(&ctx.incoming.body)?;
    let uuid =
        match &input.id {
            Some(id) if Uuid::parse_str(id).is_err() => return Err(ApiError::new(
                422,
                "IDs should be properly generated and formatted UUIDs as described in RFC 4122.",
            )
            .into()),
            Some(id) => id.clone(),
            None => Uuid::new_v4().to_string(),
        };
    let now = site.now();
    let mut term = Term {
        tid: 0,
        vid: vid.to_string(),
        revision_id: 0,
        uuid,
        name: String::new(),
        status: true,
        description: None,
        weight: 0,
        changed: now,
        revision_created: now,
        external_id: None,
    };
    apply(&mut term, &input.attributes)?;
    // EntityResource::createIndividual: validation first, then the UUID.
    if site.term_by_uuid(&term.uuid).is_some() {
        return Err(ApiError::new(409, "Conflict: Entity already exists.").into());
    }
    term.tid = site.allocate_tid();
    term.revision_id = term.tid;
    let doc = document(vec![
        ("data", term_resource(ctx.base(), &term, None, true)),
        ("links", self_links(&ctx.url)),
    ]);
    let location = versioned(&term_url(ctx.base(), vid, &term.uuid), &term);
    site.terms.insert(term.tid, term);
    Ok(Reply::document(201, &doc).with_header("Location", location))
}

pub(crate) fn patch(site: &mut Site, ctx: &Ctx, vid: &str, uuid: &str) -> Outcome {
    let mut term = find(site, vid, uuid, ".patch")?.clone();
    let input = parse_resource(&ctx.incoming.body)?;
    if let Some(id) = input.id.as_deref().filter(|id| *id != term.uuid) {
        return Err(ApiError::bad_request(format!(
            "The selected entity ({}) does not match the ID in the payload ({id}).",
            term.uuid
        ))
        .into());
    }
    if !may(site, &ctx.caller, "edit", &term.vid) {
        return Err(ApiError::forbidden(required("edit", &term.vid)).into());
    }
    let before = term.clone();
    apply(&mut term, &input.attributes)?;
    if term != before {
        term.changed = site.next_changed(before.changed);
    }
    let doc = document(vec![
        ("data", term_resource(ctx.base(), &term, None, true)),
        ("links", self_links(&ctx.url)),
    ]);
    site.terms.insert(term.tid, term);
    Ok(Reply::document(200, &doc))
}

pub(crate) fn delete(site: &mut Site, ctx: &Ctx, vid: &str, uuid: &str) -> Outcome {
    let term = find(site, vid, uuid, ".delete")?;
    let (tid, bundle) = (term.tid, term.vid.clone());
    if !may(site, &ctx.caller, "delete", &bundle) {
        return Err(ApiError::forbidden(required("delete", &bundle)).into());
    }
    // No cascade: users keep the target id (380).
    site.terms.remove(&tid);
    Ok(Reply::no_content())
}

// ---- the user side ------------------------------------------------------

fn missing_identifier() -> Value {
    json!({
        "type": TERM_TYPE,
        "id": "missing",
        "meta": {"links": {"help": {
            "href": "https://www.drupal.org/docs/8/modules/json-api/core-concepts#missing",
            "meta": {"about": "Usage and meaning of the 'missing' resource identifier."}
        }}}
    })
}

fn identifier(uuid: &str, tid: u64) -> Value {
    json!({"type": TERM_TYPE, "id": uuid, "meta": {"drupal_internal__target_id": tid}})
}

/// The identifiers the user's own document shows: its cached normalization.
pub(crate) fn cached_identifiers(user: &User) -> Json {
    Json::Array(
        user.term_refs
            .iter()
            .map(|r| {
                Json::Leaf(match r.cached_uuid.as_str() {
                    "missing" => missing_identifier(),
                    uuid => identifier(uuid, r.tid),
                })
            })
            .collect(),
    )
}

/// The identifiers as the relationship route shows them: fresh.
fn current_identifiers(site: &Site, user: &User) -> Vec<Value> {
    user.term_refs
        .iter()
        .map(|r| match site.terms.get(&r.tid) {
            Some(term) => identifier(&term.uuid, term.tid),
            None => missing_identifier(),
        })
        .collect()
}

pub(crate) fn relationship_links(base: &str, uuid: &str) -> Json {
    let url = user_url(base, uuid);
    Json::object(vec![
        ("related", href(format!("{url}/{GROUPS_FIELD}"))),
        ("self", href(format!("{url}/relationships/{GROUPS_FIELD}"))),
    ])
}

/// Saving a user re-validates and re-caches its references.
pub(crate) fn refresh_cache(site: &Site, user: &mut User) {
    for r in &mut user.term_refs {
        r.cached_uuid = site
            .terms
            .get(&r.tid)
            .map_or_else(|| "missing".to_string(), |t| t.uuid.clone());
    }
}

/// `ValidReferenceConstraint` on save: a reference to a deleted term, or
/// to a term of another vocabulary (363b).
pub(crate) fn dangling(site: &Site, user: &User) -> Result<(), Failure> {
    let problem = user.term_refs.iter().enumerate().find_map(|(delta, r)| {
        let message = match site.terms.get(&r.tid) {
            None => format!(
                "The referenced entity (taxonomy_term: {}) does not exist.",
                r.tid
            ),
            Some(t) if t.vid != VOCABULARY => {
                format!(
                    "This entity (taxonomy_term: {}) cannot be referenced.",
                    r.tid
                )
            }
            Some(_) => return None,
        };
        Some(Violation {
            property_path: format!("{GROUPS_FIELD}.{delta}.target_id"),
            message,
        })
    });
    match problem {
        None => Ok(()),
        Some(violation) => Err(Failure::Violations(vec![violation])),
    }
}

/// Filter cells of a user for a `field_scim_groups.<…>` path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GroupsColumn {
    Uuid,
    Tid,
    Name,
    ExternalId,
}

pub(crate) fn resolve_user_path(rest: &[&str], path: &str) -> Result<GroupsColumn, ApiError> {
    let rest = match rest {
        ["entity", tail @ ..] => tail,
        other => other,
    };
    match rest {
        ["id"] => Ok(GroupsColumn::Uuid),
        ["meta", "drupal_internal__target_id"] | ["target_id"] => Ok(GroupsColumn::Tid),
        ["name"] | ["name", "value"] => Ok(GroupsColumn::Name),
        [TERM_EXTERNAL_ID] | [TERM_EXTERNAL_ID, "value"] => Ok(GroupsColumn::ExternalId),
        [] => Err(ApiError::bad_request(format!(
            "Invalid nested filtering. The field `{GROUPS_FIELD}`, given in the path `{path}` is incomplete, it must end with one of the following specifiers: `id`, `meta.drupal_internal__target_id`."
        ))),
        [first, ..] => Err(ApiError::bad_request(format!(
            "Invalid nested filtering. The field `{first}`, given in the path `{path}`, does not exist."
        ))),
    }
}

pub(crate) fn user_cells(site: &Site, user: &User, column: GroupsColumn) -> Vec<Cell> {
    user.term_refs
        .iter()
        .filter_map(|r| match (column, site.terms.get(&r.tid)) {
            // The stored target id matches even after the term is gone (384).
            (GroupsColumn::Tid, _) => Some(Cell::Int(r.tid as i64)),
            (_, None) => None,
            (GroupsColumn::Uuid, Some(t)) => Some(Cell::Text(t.uuid.clone(), Collation::NoCase)),
            (GroupsColumn::Name, Some(t)) => Some(Cell::Text(t.name.clone(), Collation::NoCase)),
            (GroupsColumn::ExternalId, Some(t)) => t
                .external_id
                .clone()
                .map(|v| Cell::Text(v, Collation::NoCase)),
        })
        .collect()
}

pub(crate) fn get_relationship(site: &Site, ctx: &Ctx, user: &User) -> Outcome {
    let doc = document(vec![
        (
            "data",
            Json::Array(
                current_identifiers(site, user)
                    .into_iter()
                    .map(Json::Leaf)
                    .collect(),
            ),
        ),
        ("links", relationship_links(ctx.base(), &user.uuid)),
    ]);
    Ok(Reply::document(200, &doc))
}

/// The terms `include=field_scim_groups` adds to user documents (354):
/// each referenced term once, in `fields[taxonomy_term--<vid>]` if given.
/// As on the related route (383), a reference to a deleted term adds
/// nothing, and neither does a term the caller may not view.
pub(crate) fn included_terms(site: &Site, ctx: &Ctx, users: &[&User]) -> Vec<Json> {
    let mut seen: Vec<u64> = Vec::new();
    let mut included = Vec::new();
    for r in users.iter().flat_map(|u| &u.term_refs) {
        if seen.contains(&r.tid) {
            continue;
        }
        seen.push(r.tid);
        let Some(term) = site.terms.get(&r.tid) else {
            continue;
        };
        if !may_view(site, &ctx.caller, term) {
            continue;
        }
        let fields = fieldset(&ctx.query, &term_type(&term.vid));
        included.push(term_resource(
            ctx.base(),
            term,
            fields.as_deref(),
            sees_log(site, &ctx.caller, &term.vid),
        ));
    }
    included
}

/// The related route skips references to deleted terms (383).
pub(crate) fn get_related(site: &Site, ctx: &Ctx, user: &User) -> Outcome {
    let fields = fieldset(&ctx.query, TERM_TYPE);
    let data = user
        .term_refs
        .iter()
        .filter_map(|r| site.terms.get(&r.tid))
        .filter(|t| may_view(site, &ctx.caller, t))
        .map(|t| {
            term_resource(
                ctx.base(),
                t,
                fields.as_deref(),
                sees_log(site, &ctx.caller, &t.vid),
            )
        })
        .collect();
    let doc = document(vec![
        ("data", Json::Array(data)),
        ("links", self_links(&ctx.url)),
    ]);
    Ok(Reply::document(200, &doc))
}

/// `relationships.field_scim_groups` of a user POST/PATCH body (350, 366).
pub(crate) fn body_refs(site: &Site, value: &Value) -> Result<Vec<TermRef>, Failure> {
    Ok(given_ids(site, value)?
        .into_iter()
        .map(|tid| TermRef {
            tid,
            cached_uuid: String::new(),
        })
        .collect())
}

/// The term ids of a relationship body, with Drupal's checks (363, 364).
fn given_terms(site: &Site, body: &[u8], removing: bool) -> Result<Vec<u64>, Failure> {
    let doc: Value =
        serde_json::from_slice(body).map_err(|_| ApiError::bad_request("Syntax error"))?;
    given(site, &doc, removing)
}

fn given_ids(site: &Site, doc: &Value) -> Result<Vec<u64>, Failure> {
    given(site, doc, false)
}

/// A removal names what it takes away: an id no longer loadable is
/// skipped, and the save then meets any dangling reference (387).
fn given(site: &Site, doc: &Value, removing: bool) -> Result<Vec<u64>, Failure> {
    let Some(Value::Array(items)) = doc.get("data") else {
        return Err(ApiError::bad_request("Invalid body payload for the relationship.").into());
    };
    let mut tids = Vec::new();
    for item in items {
        let kind = item.get("type").and_then(Value::as_str).unwrap_or_default();
        if kind != TERM_TYPE {
            return Err(ApiError::bad_request(format!(
                "The provided type ({kind}) does not match the destination resource types ({TERM_TYPE})."
            ))
            .into());
        }
        let id = item.get("id").and_then(Value::as_str).unwrap_or_default();
        if removing && site.term_by_uuid(id).is_none() {
            continue;
        }
        let term = site.term_by_uuid(id).ok_or_else(|| {
            ApiError::bad_request(format!(
                "The targeted `{TERM_TYPE}` resource with ID `{id}` does not exist."
            ))
        })?;
        if !tids.contains(&term.tid) {
            tids.push(term.tid);
        }
    }
    Ok(tids)
}

/// POST adds, PATCH replaces, DELETE removes. POST and PATCH answer 204
/// when the resulting list holds exactly what was sent, else 200 with the
/// whole list (`relationshipResponseRequiresBody`); DELETE answers 204.
/// Only a write that saves the user meets a dangling reference (386, 386b).
pub(crate) fn write_relationship(
    site: &mut Site,
    ctx: &Ctx,
    mut user: User,
    mode: super::users::RelationshipWrite,
) -> Outcome {
    use super::users::RelationshipWrite;
    let given = given_terms(site, &ctx.incoming.body, mode == RelationshipWrite::Remove)?;
    let held: Vec<u64> = user.term_refs.iter().map(|r| r.tid).collect();
    let wanted: Vec<u64> = match mode {
        RelationshipWrite::Add => held
            .iter()
            .copied()
            .chain(given.iter().copied().filter(|t| !held.contains(t)))
            .collect(),
        RelationshipWrite::Replace => given.clone(),
        RelationshipWrite::Remove => held
            .iter()
            .copied()
            .filter(|t| !given.contains(t))
            .collect(),
    };
    let saves = mode != RelationshipWrite::Add || wanted != held;
    if saves {
        user.term_refs = wanted
            .iter()
            .map(|tid| TermRef {
                tid: *tid,
                cached_uuid: String::new(),
            })
            .collect();
        dangling(site, &user)?;
        refresh_cache(site, &mut user);
        let previous = site
            .users
            .get(&user.uid)
            .map(|u| u.changed)
            .unwrap_or_default();
        user.changed = site.next_changed(previous);
        site.users.insert(user.uid, user.clone());
    }
    if mode == RelationshipWrite::Remove {
        return Ok(Reply::no_content());
    }
    let mut result = wanted.clone();
    let mut sent = given.clone();
    result.sort_unstable();
    sent.sort_unstable();
    if result == sent {
        return Ok(Reply::no_content());
    }
    get_relationship(site, ctx, &user)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(name: &str) -> Term {
        Term {
            tid: 1,
            vid: VOCABULARY.into(),
            revision_id: 1,
            uuid: "73a5185e-5a6c-4323-a1f9-a452455e9acb".into(),
            name: name.into(),
            status: true,
            description: None,
            weight: 0,
            changed: 0,
            revision_created: 0,
            external_id: None,
        }
    }

    #[test]
    fn empty_and_long_names_are_the_recorded_violations() {
        let mut t = term("x");
        let empty = serde_json::json!({"name": ""});
        match apply(&mut t, empty.as_object().unwrap_or(&Default::default())) {
            Err(Failure::Violations(v)) => {
                assert_eq!(v[0].pointer(), "/data/attributes/name");
                assert_eq!(v[0].message, "This value should not be null.");
            }
            other => panic!("{other:?}"),
        }
        let long = serde_json::json!({"name": "n".repeat(300)});
        match apply(&mut t, long.as_object().unwrap_or(&Default::default())) {
            Err(Failure::Violations(v)) => {
                assert_eq!(v[0].pointer(), "/data/attributes/name/value")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_attributes_are_422_naming_the_resource_type() {
        let mut t = term("x");
        let body = serde_json::json!({"nosuchfield": 1});
        match apply(&mut t, body.as_object().unwrap_or(&Default::default())) {
            Err(Failure::Api(e)) => {
                assert_eq!(e.status, 422);
                assert!(e.detail.contains("taxonomy_term--scim_groups"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn user_filter_paths_follow_the_recorded_specifiers() {
        assert_eq!(
            resolve_user_path(&["id"], "field_scim_groups.id"),
            Ok(GroupsColumn::Uuid)
        );
        assert_eq!(
            resolve_user_path(&["entity", "name"], "field_scim_groups.entity.name"),
            Ok(GroupsColumn::Name)
        );
        let bare = resolve_user_path(&[], "field_scim_groups").expect_err("incomplete");
        assert!(bare.detail.contains("is incomplete"));
    }
}
