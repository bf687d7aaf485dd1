//! Taxonomy terms of one vocabulary through core JSON:API, and a user's
//! multi-valued reference field to them: what term-backed groups are made
//! of. The facts this follows are recorded from Drupal 10.2: the
//! individual route does not check the vocabulary (so `data.type` is
//! checked here), a client-chosen UUID is kept and a taken one is 409, and
//! `/relationships/<field>` answers 200 with the whole list or 204.

use reqwest::Method;
use serde_json::{json, Map, Value};

use super::query::CollectionQuery;
use super::{encode_query, has_next, Distinct, DrupalClient, DrupalError};

/// Which vocabulary and fields a term-backed group uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TermVocabulary {
    pub vocabulary: String,
    /// The users' entity reference field to the vocabulary.
    pub user_field: String,
    /// The term's string field for the IdP's `externalId`.
    pub external_id_field: Option<String>,
}

impl TermVocabulary {
    pub fn term_type(&self) -> String {
        format!("taxonomy_term--{}", self.vocabulary)
    }

    fn collection(&self) -> String {
        format!("/jsonapi/taxonomy_term/{}", self.vocabulary)
    }

    fn individual(&self, id: &str) -> String {
        format!("{}/{id}", self.collection())
    }
}

/// One term as JSON:API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrupalTerm {
    pub id: String,
    pub tid: Option<u64>,
    pub name: String,
    pub external_id: Option<String>,
    pub published: bool,
    /// `revision_created` (RFC 3339): the creation time while the term
    /// has its first revision.
    pub created: Option<String>,
    /// `changed` as Drupal writes it (RFC 3339).
    pub changed: Option<String>,
}

impl DrupalTerm {
    fn from_resource(resource: &Value, vocabulary: &TermVocabulary) -> Option<DrupalTerm> {
        if resource.get("type").and_then(Value::as_str) != Some(vocabulary.term_type().as_str()) {
            return None;
        }
        let attributes = resource.get("attributes")?;
        let text = |name: &str| {
            attributes
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        Some(DrupalTerm {
            id: resource.get("id")?.as_str()?.to_string(),
            tid: attributes
                .get("drupal_internal__tid")
                .and_then(Value::as_u64),
            name: text("name")?,
            external_id: vocabulary.external_id_field.as_deref().and_then(text),
            published: attributes
                .get("status")
                .and_then(Value::as_bool)
                .unwrap_or(true),
            created: text("revision_created"),
            changed: text("changed"),
        })
    }
}

/// What a term write sets; `None` leaves a value alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TermWrite {
    pub name: Option<String>,
    /// `Some(None)` clears the external id.
    pub external_id: Option<Option<String>>,
    pub published: Option<bool>,
}

impl TermWrite {
    /// The JSON:API document that creates or updates term `id`.
    pub fn document(&self, vocabulary: &TermVocabulary, id: &str) -> Value {
        let mut attributes = Map::new();
        if let Some(name) = &self.name {
            attributes.insert("name".into(), json!(name));
        }
        if let (Some(value), Some(field)) = (&self.external_id, &vocabulary.external_id_field) {
            attributes.insert(field.clone(), json!(value));
        }
        if let Some(published) = self.published {
            attributes.insert("status".into(), json!(published));
        }
        json!({"data": {"type": vocabulary.term_type(), "id": id, "attributes": attributes}})
    }
}

/// A page of terms, and whether Drupal says another follows.
struct TermPage {
    terms: Vec<DrupalTerm>,
    more: bool,
}

impl DrupalClient {
    /// A call on the vocabulary's routes. Drupal has no route for a
    /// vocabulary that does not exist, and answers its HTML 404 page: said
    /// as what it means, not as a JSON:API module missing.
    async fn call_in(
        &self,
        vocabulary: &TermVocabulary,
        op: &'static str,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, DrupalError> {
        match self.call(op, method, path, body).await {
            Err(DrupalError::Protocol(why)) if why.contains("HTML 404") => {
                Err(DrupalError::Protocol(format!(
                    "Drupal has no taxonomy vocabulary {} that JSON:API serves ({} is an HTML 404): create the vocabulary, or keep no groups in it",
                    vocabulary.vocabulary,
                    vocabulary.collection()
                )))
            }
            answered => answered,
        }
    }

    /// POST a term with the given UUID. A UUID already taken is
    /// `DrupalError::Rejected { status: 409, .. }`.
    pub async fn create_term(
        &self,
        vocabulary: &TermVocabulary,
        id: &str,
        write: &TermWrite,
    ) -> Result<DrupalTerm, DrupalError> {
        let body = self
            .call_in(
                vocabulary,
                "create_term",
                Method::POST,
                &vocabulary.collection(),
                Some(&write.document(vocabulary, id)),
            )
            .await?;
        term_of(&body, vocabulary, id)?.ok_or_else(|| {
            DrupalError::Protocol("a created term came back of another vocabulary".into())
        })
    }

    /// GET one term. `None` when there is none with that UUID in the
    /// vocabulary (the route serves other vocabularies' terms too).
    pub async fn get_term(
        &self,
        vocabulary: &TermVocabulary,
        id: &str,
    ) -> Result<Option<DrupalTerm>, DrupalError> {
        let Some(data) = self.read_term(vocabulary, id).await? else {
            return Ok(None);
        };
        let data = match self.inner.written.check(id, &data) {
            None => data,
            Some(mend) => match self.mend_and_read(mend, "term").await? {
                Some(data) => data,
                None => return Ok(None),
            },
        };
        resource_term(&data, vocabulary, id)
    }

    /// GET one term: its resource object (`data`), as Drupal answers.
    async fn read_term(
        &self,
        vocabulary: &TermVocabulary,
        id: &str,
    ) -> Result<Option<Value>, DrupalError> {
        match self
            .call_in(
                vocabulary,
                "get_term",
                Method::GET,
                &vocabulary.individual(id),
                None,
            )
            .await
        {
            Ok(mut body) => {
                // Checked for the id asked before it is compared with a write.
                term_of(&body, vocabulary, id)?;
                Ok(body.get_mut("data").map(Value::take))
            }
            Err(DrupalError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every term of the vocabulary matching `query`, across Drupal's pages.
    pub async fn list_terms(
        &self,
        vocabulary: &TermVocabulary,
        query: &CollectionQuery,
    ) -> Result<Vec<DrupalTerm>, DrupalError> {
        let mut query = query.clone();
        let mut distinct = Distinct::default();
        let mut terms = Vec::new();
        loop {
            let mut page = self
                .term_page(
                    vocabulary,
                    &encode_query(&query.to_pairs(&vocabulary.term_type())),
                )
                .await?;
            let read = page.terms.len();
            distinct.keep_new(&mut page.terms, |term| &term.id, "list_terms");
            let new = page.terms.len();
            terms.append(&mut page.terms);
            // A page with nothing new ends the read (see `UserPage::keep_new`).
            if !page.more || read == 0 || new == 0 {
                return Ok(terms);
            }
            query = query.next_page();
        }
    }

    async fn term_page(
        &self,
        vocabulary: &TermVocabulary,
        query_string: &str,
    ) -> Result<TermPage, DrupalError> {
        let path = match query_string.is_empty() {
            true => vocabulary.collection(),
            false => format!("{}?{query_string}", vocabulary.collection()),
        };
        let mut body = self
            .call_in(vocabulary, "list_terms", Method::GET, &path, None)
            .await?;
        let more = has_next(&body);
        let Some(Value::Array(data)) = body.get_mut("data").map(Value::take) else {
            return Err(DrupalError::Protocol(
                "a term collection without a data array".into(),
            ));
        };
        let mut terms = Vec::with_capacity(data.len());
        for item in data {
            let Some(term) = DrupalTerm::from_resource(&item, vocabulary) else {
                continue;
            };
            // Shown from before this client's last write to it: mended and
            // read again (see `written`); gone meanwhile, left out.
            match self.inner.written.check(&term.id, &item) {
                None => terms.push(term),
                Some(mend) => {
                    if let Some(data) = self.mend_and_read(mend, "term").await? {
                        terms.extend(DrupalTerm::from_resource(&data, vocabulary));
                    }
                }
            }
        }
        Ok(TermPage { terms, more })
    }

    pub async fn update_term(
        &self,
        vocabulary: &TermVocabulary,
        id: &str,
        write: &TermWrite,
    ) -> Result<DrupalTerm, DrupalError> {
        let path = vocabulary.individual(id);
        let document = write.document(vocabulary, id);
        let body = self
            .call_in(
                vocabulary,
                "update_term",
                Method::PATCH,
                &path,
                Some(&document),
            )
            .await?;
        let term = term_of(&body, vocabulary, id)?.ok_or(DrupalError::NotFound)?;
        if let (false, Some(data), Some(Value::Object(written))) = (
            self.is_dry_run(),
            body.get("data"),
            document.pointer("/data/attributes"),
        ) {
            let kind = vocabulary.term_type();
            let resource = super::written::Resource {
                path: &path,
                kind: &kind,
                id,
            };
            self.inner
                .written
                .wrote(&resource, written, std::iter::empty(), data);
        }
        Ok(term)
    }

    /// DELETE a term; one already gone is done.
    pub async fn delete_term(
        &self,
        vocabulary: &TermVocabulary,
        id: &str,
    ) -> Result<(), DrupalError> {
        match self
            .call_in(
                vocabulary,
                "delete_term",
                Method::DELETE,
                &vocabulary.individual(id),
                None,
            )
            .await
        {
            Ok(_) | Err(DrupalError::NotFound) => {
                self.inner.written.forget(id);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// The term UUIDs a user references now, read from the relationship
    /// route (the user's own document may still show a deleted term's
    /// UUID; this route shows `missing`, which is left out).
    pub async fn current_term_refs(
        &self,
        vocabulary: &TermVocabulary,
        user_id: &str,
    ) -> Result<Vec<String>, DrupalError> {
        let body = self
            .call(
                "get_groups",
                Method::GET,
                &format!(
                    "/jsonapi/user/user/{user_id}/relationships/{}",
                    vocabulary.user_field
                ),
                None,
            )
            .await?;
        let mut wrapped = Map::new();
        wrapped.insert(vocabulary.user_field.clone(), body);
        Ok(referenced_terms(&wrapped, &vocabulary.user_field))
    }

    /// POST adds, PATCH replaces, DELETE removes references of one user
    /// through `/relationships/<field>`. Drupal answers 200 with the whole
    /// list or 204; both are success.
    pub async fn change_term_refs(
        &self,
        vocabulary: &TermVocabulary,
        user_id: &str,
        method: Method,
        term_ids: &[String],
    ) -> Result<(), DrupalError> {
        let data: Vec<Value> = term_ids
            .iter()
            .map(|id| json!({"type": vocabulary.term_type(), "id": id}))
            .collect();
        self.call(
            "change_groups",
            method.clone(),
            &format!(
                "/jsonapi/user/user/{user_id}/relationships/{}",
                vocabulary.user_field
            ),
            Some(&json!({ "data": data })),
        )
        .await?;
        self.wrote_user_related(
            user_id,
            &vocabulary.user_field,
            &vocabulary.term_type(),
            &method,
            term_ids,
        );
        Ok(())
    }
}

/// What `check` learns about the term-group set-up, reading only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VocabularyProbe {
    /// Terms the bridge's account sees (first page).
    pub visible: usize,
    /// Roles with their permissions: machine name → (is_admin, permissions).
    pub roles: Vec<(String, bool, Vec<String>)>,
    /// `cardinality` of the reference field's storage, when readable.
    pub cardinality: Option<i64>,
    /// `settings.handler_settings.target_bundles` of the field, when readable.
    pub target_bundles: Option<Vec<String>>,
}

impl DrupalClient {
    /// Whether the vocabulary's collection answers (`Ok(None)`: it does not
    /// exist, or JSON:API does not serve it).
    pub async fn probe_vocabulary(
        &self,
        vocabulary: &TermVocabulary,
    ) -> Result<Option<VocabularyProbe>, DrupalError> {
        let path = format!("{}?page%5Blimit%5D=1", vocabulary.collection());
        let body = match self
            .call("probe_vocabulary", Method::GET, &path, None)
            .await
        {
            Ok(body) => body,
            Err(DrupalError::NotFound) => return Ok(None),
            Err(DrupalError::Protocol(why)) if why.contains("404") => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut probe = VocabularyProbe {
            visible: body
                .get("data")
                .and_then(Value::as_array)
                .map_or(0, Vec::len),
            ..VocabularyProbe::default()
        };
        if let Ok(roles) = self
            .call(
                "probe_roles",
                Method::GET,
                "/jsonapi/user_role/user_role",
                None,
            )
            .await
        {
            for role in roles
                .get("data")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let attributes = role.get("attributes");
                let name = attributes
                    .and_then(|a| a.get("drupal_internal__id"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let is_admin = attributes
                    .and_then(|a| a.get("is_admin"))
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                let permissions = attributes
                    .and_then(|a| a.get("permissions"))
                    .and_then(Value::as_array)
                    .map(|p| {
                        p.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default();
                probe.roles.push((name, is_admin, permissions));
            }
        }
        let field = &vocabulary.user_field;
        let storage = format!(
            "/jsonapi/field_storage_config/field_storage_config?filter%5Bfield_name%5D={field}&filter%5Bentity_type%5D=user"
        );
        if let Ok(body) = self.call("probe_field", Method::GET, &storage, None).await {
            probe.cardinality = body
                .pointer("/data/0/attributes/cardinality")
                .and_then(Value::as_i64);
        }
        let config = format!(
            "/jsonapi/field_config/field_config?filter%5Bfield_name%5D={field}&filter%5Bentity_type%5D=user"
        );
        if let Ok(body) = self.call("probe_field", Method::GET, &config, None).await {
            probe.target_bundles = body
                .pointer("/data/0/attributes/settings/handler_settings/target_bundles")
                .and_then(Value::as_object)
                .map(|b| b.keys().cloned().collect());
        }
        Ok(Some(probe))
    }
}

/// The term of `vocabulary` an answer about the term `id` holds; `None`
/// when it holds a resource of another type (the route serves every
/// vocabulary). A term with another id is a broken answer: taking it
/// would show or write another group.
fn term_of(
    body: &Value,
    vocabulary: &TermVocabulary,
    id: &str,
) -> Result<Option<DrupalTerm>, DrupalError> {
    let data = body
        .get("data")
        .ok_or_else(|| DrupalError::Protocol("a term answer without data".into()))?;
    resource_term(data, vocabulary, id)
}

/// [`term_of`] for the resource object itself.
fn resource_term(
    data: &Value,
    vocabulary: &TermVocabulary,
    id: &str,
) -> Result<Option<DrupalTerm>, DrupalError> {
    let term = DrupalTerm::from_resource(data, vocabulary);
    if let Some(term) = term.as_ref().filter(|t| !t.id.eq_ignore_ascii_case(id)) {
        return Err(super::another_resource(
            "a request about the term",
            id,
            "another term",
            "",
            &term.id,
        ));
    }
    Ok(term)
}

/// The term UUIDs a user's document references through `field`; the
/// `missing` placeholder of a deleted term is left out.
pub fn referenced_terms(relationships: &Map<String, Value>, field: &str) -> Vec<String> {
    relationships
        .get(field)
        .and_then(super::document::relationship_ids)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocabulary() -> TermVocabulary {
        TermVocabulary {
            vocabulary: "scim_groups".into(),
            user_field: "field_scim_groups".into(),
            external_id_field: Some("field_scim_external_id".into()),
        }
    }

    #[test]
    fn a_term_of_another_vocabulary_is_not_a_group() {
        let tags = json!({"type": "taxonomy_term--tags", "id": "x", "attributes": {"name": "n"}});
        assert_eq!(DrupalTerm::from_resource(&tags, &vocabulary()), None);
        let ours = json!({"type": "taxonomy_term--scim_groups", "id": "x",
            "attributes": {"name": "n", "status": false, "field_scim_external_id": "e", "drupal_internal__tid": 4}});
        let term = DrupalTerm::from_resource(&ours, &vocabulary()).expect("ours");
        assert_eq!(term.external_id.as_deref(), Some("e"));
        assert!(!term.published);
        assert_eq!(term.tid, Some(4));
    }

    #[test]
    fn missing_references_are_left_out() {
        let rel = json!({"field_scim_groups": {"data": [
            {"type": "taxonomy_term--scim_groups", "id": "missing"},
            {"type": "taxonomy_term--scim_groups", "id": "ABC"}
        ]}});
        let rel = rel.as_object().cloned().unwrap_or_default();
        assert_eq!(referenced_terms(&rel, "field_scim_groups"), vec!["abc"]);
    }
}
