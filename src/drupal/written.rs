//! What this client last wrote to each user and term, to catch a read that
//! shows Drupal's state from before the write.
//!
//! Drupal's JSON:API keeps each resource's normalization in a cache that a
//! GET fills when its request *ends*, after its answer was sent
//! (`ResourceObjectNormalizationCacher::onTerminate`, Drupal 10.2). A GET
//! still ending when a write of the same resource commits stores the
//! earlier values after the write cleared them, and every later GET, and
//! every collection listing the resource, shows them until its next save.
//! The bridge reads a resource just before it writes it, so its own reads
//! race its writes: on a real Drupal 10.2.6 under load, a group renamed
//! was read back with its old name (and a rename back would then have been
//! taken for no change and not written).
//!
//! So each write notes what it made Drupal hold. A read of that resource
//! that contradicts it, and is not newer by its `changed` stamp, is stale:
//! the client writes those values again, which saves the entity and so
//! drops the cached copy, and reads it again. What a read shows after that
//! is Drupal's: another writer changed it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Map, Value};

use super::DrupalUser;

/// How long after a write a read confirming it still keeps the note: a GET
/// sent before the write may end (and store its copy) this long after.
pub(super) const SETTLE: Duration = Duration::from_secs(60);

/// Notes kept at most; past it the oldest tenth is dropped.
const CAPACITY: usize = 20_000;

/// What a resource shows in an answer.
pub(super) trait Shown {
    fn attribute(&self, key: &str) -> Option<Value>;
    /// The ids (lower case) of a relationship; `None` when not shown.
    fn related(&self, field: &str) -> Option<BTreeSet<String>>;
    /// `changed`, in seconds since the epoch.
    fn changed(&self) -> Option<i64>;
}

impl Shown for DrupalUser {
    fn attribute(&self, key: &str) -> Option<Value> {
        self.attributes.get(key)
    }
    fn related(&self, field: &str) -> Option<BTreeSet<String>> {
        related_ids(self.relationships.get(field)?)
    }
    fn changed(&self) -> Option<i64> {
        self.attributes.get_str("changed").and_then(seconds)
    }
}

/// A resource object (`data`, or an item of it).
impl Shown for Value {
    fn attribute(&self, key: &str) -> Option<Value> {
        self.get("attributes")?.get(key).cloned()
    }
    fn related(&self, field: &str) -> Option<BTreeSet<String>> {
        related_ids(self.get("relationships")?.get(field)?)
    }
    fn changed(&self) -> Option<i64> {
        self.get("attributes")?
            .get("changed")?
            .as_str()
            .and_then(seconds)
    }
}

fn related_ids(relationship: &Value) -> Option<BTreeSet<String>> {
    super::document::relationship_ids(relationship).map(|ids| ids.into_iter().collect())
}

fn seconds(stamp: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(stamp)
        .ok()
        .map(|t| t.timestamp())
}

/// Where a resource lives and what it is, to write it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Resource<'a> {
    /// Its individual path, `/jsonapi/user/user/<uuid>`.
    pub path: &'a str,
    /// Its JSON:API type, `user--user`.
    pub kind: &'a str,
    pub id: &'a str,
}

/// What the writes of one relationship left it holding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Related {
    /// The type of its items.
    kind: String,
    /// Ids it holds; all of them when `exact`.
    holds: BTreeSet<String>,
    lacks: BTreeSet<String>,
    exact: bool,
}

impl Related {
    fn contradicted_by(&self, shown: &BTreeSet<String>) -> bool {
        match self.exact {
            true => *shown != self.holds,
            false => !self.holds.is_subset(shown) || !self.lacks.is_disjoint(shown),
        }
    }
}

#[derive(Debug, Clone)]
struct Note {
    path: String,
    kind: String,
    at: Instant,
    /// `changed` as the write's answer showed it; unknown after a write
    /// through a relationship route, whose answer does not show it.
    changed: Option<i64>,
    /// Per attribute written: as the write's answer showed it (what reads
    /// are compared with) and as it was sent (what a mend sends again).
    attributes: BTreeMap<String, (Value, Value)>,
    relationships: BTreeMap<String, Related>,
}

/// The writes to make for a stale read, and the resource to read again.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Mend {
    pub id: String,
    /// The resource's individual path, to read it again.
    pub path: String,
    /// A PATCH of the resource with the values it should show.
    pub patch: Option<(String, Value)>,
    /// Relationship writes: method, path, document.
    pub relationships: Vec<(Method, String, Value)>,
    /// What was contradicted, for the log: attribute and relationship names.
    pub fields: Vec<String>,
}

#[derive(Default)]
pub(super) struct Written {
    notes: Mutex<HashMap<String, Note>>,
    /// `notes.len()`, read without the lock: most reads are of resources
    /// with no note, and none at all is the common case.
    count: AtomicUsize,
}

impl Written {
    /// Whether no write is noted: then no read can be stale to this client.
    pub(super) fn is_empty(&self) -> bool {
        self.count.load(Ordering::Relaxed) == 0
    }

    fn notes(&self) -> MutexGuard<'_, HashMap<String, Note>> {
        // Every change is whole between statements.
        self.notes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn note<'a>(notes: &'a mut HashMap<String, Note>, resource: &Resource<'_>) -> &'a mut Note {
        let note = notes
            .entry(resource.id.to_ascii_lowercase())
            .or_insert_with(|| Note {
                path: resource.path.to_string(),
                kind: resource.kind.to_string(),
                at: Instant::now(),
                changed: None,
                attributes: BTreeMap::new(),
                relationships: BTreeMap::new(),
            });
        note.at = Instant::now();
        note
    }

    fn trim_and_count(&self, notes: &mut HashMap<String, Note>) {
        if notes.len() > CAPACITY {
            let mut ages: Vec<(Instant, String)> =
                notes.iter().map(|(id, n)| (n.at, id.clone())).collect();
            ages.sort();
            for (_, id) in ages.into_iter().take(CAPACITY / 10) {
                notes.remove(&id);
            }
        }
        self.count.store(notes.len(), Ordering::Relaxed);
    }

    /// A PATCH of `resource` wrote `attributes` and `relationships` (their
    /// names, each with the type of its items), and Drupal answered with
    /// `answer`. An attribute the answer does not show is not checked, nor
    /// is `pass` ever, whatever a site shows: a password is not kept.
    pub(super) fn wrote<'k>(
        &self,
        resource: &Resource<'_>,
        attributes: &Map<String, Value>,
        relationships: impl Iterator<Item = (&'k str, &'k str)>,
        answer: &impl Shown,
    ) {
        let mut notes = self.notes();
        let note = Self::note(&mut notes, resource);
        note.changed = answer.changed();
        for (key, sent) in attributes {
            match answer.attribute(key).filter(|_| key != "pass") {
                Some(shown) => note.attributes.insert(key.clone(), (shown, sent.clone())),
                None => note.attributes.remove(key),
            };
        }
        for (field, kind) in relationships {
            let Some(ids) = answer.related(field) else {
                note.relationships.remove(field);
                continue;
            };
            let related = Related {
                kind: kind.to_string(),
                holds: ids,
                lacks: BTreeSet::new(),
                exact: true,
            };
            note.relationships.insert(field.to_string(), related);
        }
        self.trim_and_count(&mut notes);
    }

    /// A write through `/relationships/<field>` of `resource`: POST adds
    /// `ids` (of type `kind`), DELETE removes them, PATCH makes them all.
    pub(super) fn wrote_related(
        &self,
        resource: &Resource<'_>,
        field: &str,
        kind: &str,
        method: &Method,
        ids: &[String],
    ) {
        let ids: BTreeSet<String> = ids.iter().map(|i| i.to_ascii_lowercase()).collect();
        let mut notes = self.notes();
        let note = Self::note(&mut notes, resource);
        // The write made a newer `changed` than any answer showed.
        note.changed = None;
        let related = note.relationships.entry(field.to_string()).or_default();
        related.kind = kind.to_string();
        if *method == Method::PATCH {
            related.holds = ids;
            related.lacks.clear();
            related.exact = true;
        } else if *method == Method::DELETE {
            related.holds.retain(|id| !ids.contains(id));
            if !related.exact {
                related.lacks.extend(ids);
            }
        } else {
            related.lacks.retain(|id| !ids.contains(id));
            related.holds.extend(ids);
        }
        self.trim_and_count(&mut notes);
    }

    /// The resource is gone.
    pub(super) fn forget(&self, id: &str) {
        if self.is_empty() {
            return;
        }
        let mut notes = self.notes();
        notes.remove(&id.to_ascii_lowercase());
        self.trim_and_count(&mut notes);
    }

    /// Drupal says the resource `id` of type `kind` does not exist: no
    /// relationship is checked for holding it (a mend would write it back,
    /// and Drupal refuse it).
    pub(super) fn target_gone(&self, kind: &str, id: &str) {
        if self.is_empty() {
            return;
        }
        let id = id.to_ascii_lowercase();
        let mut notes = self.notes();
        for note in notes.values_mut() {
            for related in note.relationships.values_mut() {
                if related.kind == kind {
                    related.holds.remove(&id);
                    related.lacks.remove(&id);
                }
            }
        }
    }

    /// What to write again when `shown` (a read of `id`) contradicts what
    /// this client wrote and is not newer than it; `None` when it agrees.
    pub(super) fn check(&self, id: &str, shown: &impl Shown) -> Option<Mend> {
        if self.is_empty() {
            return None;
        }
        let key = id.to_ascii_lowercase();
        let mut notes = self.notes();
        let note = notes.get(&key)?;
        let newer = matches!((shown.changed(), note.changed), (Some(s), Some(w)) if s > w);
        let mend = match newer {
            true => None,
            false => mend_for(&key, note, shown),
        };
        if mend.is_none() && (newer || note.at.elapsed() >= SETTLE) {
            notes.remove(&key);
            self.trim_and_count(&mut notes);
        }
        mend
    }

    /// After a mend, `shown` is what Drupal holds: kept as the note when it
    /// agrees, else (another writer changed it) the note is dropped and
    /// `false` returned.
    pub(super) fn mended(&self, id: &str, shown: &impl Shown) -> bool {
        let key = id.to_ascii_lowercase();
        let mut notes = self.notes();
        let Some(note) = notes.get_mut(&key) else {
            return true;
        };
        let agrees = mend_for(&key, note, shown).is_none();
        match agrees {
            true => note.at = Instant::now(),
            false => {
                notes.remove(&key);
            }
        }
        self.trim_and_count(&mut notes);
        agrees
    }
}

fn mend_for(id: &str, note: &Note, shown: &impl Shown) -> Option<Mend> {
    let mut fields = Vec::new();
    let mut attributes = Map::new();
    for (key, (answered, sent)) in &note.attributes {
        // One not shown (a sparse fieldset) contradicts nothing.
        if shown.attribute(key).is_some_and(|shown| shown != *answered) {
            fields.push(key.clone());
            attributes.insert(key.clone(), sent.clone());
        }
    }
    let mut relationships = Vec::new();
    for (field, related) in &note.relationships {
        let Some(ids) = shown.related(field) else {
            continue;
        };
        if !related.contradicted_by(&ids) {
            continue;
        }
        fields.push(field.clone());
        let path = format!("{}/relationships/{field}", note.path);
        let items = |ids: &mut dyn Iterator<Item = &String>| -> Value {
            let data: Vec<Value> = ids
                .map(|id| json!({"type": related.kind, "id": id}))
                .collect();
            json!({ "data": data })
        };
        if related.exact {
            relationships.push((Method::PATCH, path, items(&mut related.holds.iter())));
            continue;
        }
        let missing: Vec<&String> = related.holds.difference(&ids).collect();
        if !missing.is_empty() {
            relationships.push((Method::POST, path.clone(), items(&mut missing.into_iter())));
        }
        let kept: Vec<&String> = related.lacks.intersection(&ids).collect();
        if !kept.is_empty() {
            relationships.push((Method::DELETE, path, items(&mut kept.into_iter())));
        }
    }
    if fields.is_empty() {
        return None;
    }
    let patch = (!attributes.is_empty()).then(|| {
        let document = json!({"data": {"type": note.kind, "id": id, "attributes": attributes}});
        (note.path.clone(), document)
    });
    Some(Mend {
        id: id.to_string(),
        path: note.path.clone(),
        patch,
        relationships,
        fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: Resource<'static> = Resource {
        path: "/jsonapi/user/user/u1",
        kind: "user--user",
        id: "U1",
    };

    fn user(name: &str, changed: &str, roles: &[&str]) -> Value {
        let roles: Vec<Value> = roles
            .iter()
            .map(|r| json!({"type": "user_role--user_role", "id": r}))
            .collect();
        json!({
            "type": "user--user", "id": "u1",
            "attributes": {"name": name, "mail": "a@example.com", "changed": changed},
            "relationships": {"roles": {"data": roles}},
        })
    }

    fn sent(keys: &[&str]) -> Map<String, Value> {
        keys.iter()
            .map(|k| (k.to_string(), json!(format!("sent {k}"))))
            .collect()
    }

    const T0: &str = "2026-12-07T10:00:00+00:00";
    const T1: &str = "2026-12-07T10:00:01+00:00";
    const T2: &str = "2026-12-07T11:00:02+01:00";

    #[test]
    fn a_read_showing_the_values_before_a_write_is_mended_with_the_values_written() {
        let written = Written::default();
        assert_eq!(written.check("u1", &user("old", T0, &[])), None);
        written.wrote(
            &USER,
            &sent(&["name"]),
            [].into_iter(),
            &user("new", T1, &[]),
        );
        assert_eq!(written.check("u1", &user("new", T1, &[])), None);
        let mend = written.check("U1", &user("old", T0, &[])).expect("stale");
        assert_eq!(mend.fields, vec!["name"]);
        assert_eq!(
            mend.patch,
            Some((
                USER.path.to_string(),
                json!({"data": {"type": "user--user", "id": "u1", "attributes": {"name": "sent name"}}})
            ))
        );
        assert!(mend.relationships.is_empty());
        // The same second is no proof of a newer state.
        assert!(written.check("u1", &user("old", T1, &[])).is_some());
        // A later `changed` is another writer's: taken, and the note dropped.
        assert_eq!(written.check("u1", &user("other", T2, &[])), None);
        assert_eq!(written.check("u1", &user("old", T0, &[])), None);
    }

    #[test]
    fn relationship_writes_are_checked_as_added_removed_or_replaced() {
        let written = Written::default();
        let ids = |ids: &[&str]| ids.iter().map(|i| i.to_string()).collect::<Vec<_>>();
        written.wrote_related(
            &USER,
            "roles",
            "user_role--user_role",
            &Method::POST,
            &ids(&["A"]),
        );
        written.wrote_related(
            &USER,
            "roles",
            "user_role--user_role",
            &Method::DELETE,
            &ids(&["b"]),
        );
        assert_eq!(written.check("u1", &user("x", T2, &["a", "c"])), None);
        // Newer by `changed` is no excuse: a relationship write's answer
        // did not show it.
        let mend = written
            .check("u1", &user("x", T2, &["b", "c"]))
            .expect("stale");
        assert_eq!(mend.fields, vec!["roles"]);
        assert_eq!(mend.patch, None);
        let path = format!("{}/relationships/roles", USER.path);
        assert_eq!(
            mend.relationships,
            vec![
                (
                    Method::POST,
                    path.clone(),
                    json!({"data": [{"type": "user_role--user_role", "id": "a"}]})
                ),
                (
                    Method::DELETE,
                    path.clone(),
                    json!({"data": [{"type": "user_role--user_role", "id": "b"}]})
                ),
            ]
        );
        written.wrote_related(
            &USER,
            "roles",
            "user_role--user_role",
            &Method::PATCH,
            &ids(&["d"]),
        );
        let mend = written
            .check("u1", &user("x", T2, &["d", "c"]))
            .expect("stale");
        assert_eq!(
            mend.relationships,
            vec![(
                Method::PATCH,
                path,
                json!({"data": [{"type": "user_role--user_role", "id": "d"}]})
            )]
        );
        // A relationship or attribute the read does not show contradicts
        // nothing.
        let mut bare = user("x", T2, &[]);
        bare["relationships"] = json!({});
        assert_eq!(written.check("u1", &bare), None);
        written.wrote(
            &USER,
            &sent(&["mail"]),
            [].into_iter(),
            &user("x", T1, &["d"]),
        );
        let mut sparse = user("x", T0, &["d"]);
        sparse["attributes"] = json!({"name": "x"});
        assert_eq!(written.check("u1", &sparse), None);
    }

    #[test]
    fn a_mend_that_does_not_take_leaves_the_resource_to_its_other_writer() {
        let written = Written::default();
        written.wrote(
            &USER,
            &sent(&["name", "pass"]),
            [("roles", "user_role--user_role")].into_iter(),
            &user("new", T1, &["r"]),
        );
        let stale = user("old", T0, &[]);
        let mend = written.check("u1", &stale).expect("stale");
        assert_eq!(mend.fields, vec!["name", "roles"]);
        // A site showing `pass` does not make the bridge keep one.
        let mut showing = user("new", T1, &["r"]);
        showing["attributes"]["pass"] = json!("sent pass");
        written.wrote(&USER, &sent(&["pass"]), [].into_iter(), &showing);
        let mut other = showing.clone();
        other["attributes"]["pass"] = json!("other");
        assert_eq!(written.check("u1", &other), None);
        assert!(written.mended("u1", &user("new", T1, &["r"])));
        assert!(
            written.check("u1", &stale).is_some(),
            "kept until it settles"
        );
        assert!(!written.mended("u1", &stale));
        assert_eq!(written.check("u1", &stale), None);
        written.wrote(
            &USER,
            &sent(&["name"]),
            [].into_iter(),
            &user("new", T1, &[]),
        );
        written.forget("U1");
        assert_eq!(written.check("u1", &stale), None);
    }

    #[test]
    fn notes_past_the_capacity_drop_the_oldest() {
        let written = Written::default();
        for i in 0..=CAPACITY {
            let id = format!("u{i}");
            let path = format!("/jsonapi/user/user/{id}");
            let resource = Resource {
                path: &path,
                kind: "user--user",
                id: &id,
            };
            written.wrote(
                &resource,
                &sent(&["name"]),
                [].into_iter(),
                &user("new", T1, &[]),
            );
        }
        assert_eq!(
            written.count.load(Ordering::Relaxed),
            CAPACITY + 1 - CAPACITY / 10
        );
        assert_eq!(
            written.check("u0", &user("old", T0, &[])),
            None,
            "the oldest went"
        );
        let last = format!("u{CAPACITY}");
        assert!(written.check(&last, &user("old", T0, &[])).is_some());
    }
}
