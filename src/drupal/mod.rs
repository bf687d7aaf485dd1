//! A client for Drupal core JSON:API: users and roles. It knows nothing of
//! SCIM; it speaks JSON:API documents and reports Drupal's answers as typed
//! errors. One pooled HTTP client per thread, timeouts, one log event per call.

pub mod account_locks;
pub mod adaptive;
pub mod admission;
pub mod auth;
pub mod document;
mod dry_run;
pub mod error;
pub mod observer;
pub(crate) mod per_request;
pub mod query;
#[cfg(test)]
mod recordings;
pub mod resilience;
pub mod settings;
pub mod taxonomy;
mod user_page;
mod written;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use thread_local::ThreadLocal;

use crate::capped::CappedError;

pub use auth::PROOF_WINDOW;
pub use document::{DrupalRole, DrupalUser, RoleRef, UserDocument, UserWrite};
pub use error::DrupalError;
pub use per_request::serving;
pub use query::{
    Caseless, CollectionQuery, Condition, Conjunction, Include, Operator, SortKey, DRUPAL_PAGE_CAP,
};
pub use taxonomy::{referenced_terms, DrupalTerm, TermVocabulary, TermWrite, VocabularyProbe};

use account_locks::AccountLocks;
use auth::{Authenticator, Credentials};
use observer::{CallOutcome, DrupalObserver, ObserverSlot, ShedReason};
use resilience::Resilience;
use settings::{DrupalAuth, DrupalLimits};

const JSONAPI: &str = "application/vnd.api+json";
/// The display name of Drupal's anonymous user (uid 0), which Drupal shows
/// stripped to every account (recorded: case 147).
const ANONYMOUS_NAME: &str = "Anonymous";
const USERS: &str = "/jsonapi/user/user";
/// The longest URL the bridge sends Drupal: the common limit of Apache
/// (`LimitRequestLine`) and nginx (`large_client_header_buffers`) in front
/// of it. A longer one would be refused by the web server, an answer the
/// bridge could only take for an outage.
pub const MAX_URL_BYTES: usize = 8190;
const ROLES: &str = "/jsonapi/user_role/user_role";
const LANGUAGES: &str = "/jsonapi/configurable_language/configurable_language";

/// One page of a user collection.
#[derive(Debug, Clone, PartialEq)]
pub struct UserPage {
    pub users: Vec<DrupalUser>,
    /// The query of the next page, present only when Drupal's `links.next`
    /// says more items exist (built by the bridge: see
    /// [`CollectionQuery::next_page`]).
    pub next: Option<CollectionQuery>,
    /// `meta.count`, which core Drupal does not send but some sites do.
    pub count: Option<u64>,
    /// Items Drupal sent with only `display_name` (anonymous, or hidden).
    pub stripped: usize,
    /// The resources `include` asked for, as Drupal sent them.
    pub included: Vec<Value>,
}

impl UserPage {
    /// Leaves out the users `distinct` saw on an earlier page of the same
    /// read. A page that then holds none brings nothing, and ends the read:
    /// a Drupal that answers every page with the same items and a next
    /// link would otherwise be read forever.
    pub fn keep_new(&mut self, distinct: &mut Distinct) {
        let had = self.users.len();
        distinct.keep_new(&mut self.users, |user| &user.id, "list_users");
        if had > 0 && self.users.is_empty() {
            self.next = None;
        }
    }
}

/// Cheap to clone: every clone shares the HTTP clients, the login, the
/// concurrency limit and the circuit breaker.
#[derive(Clone)]
pub struct DrupalClient {
    inner: Arc<Inner>,
    /// Writes are logged and answered locally, never sent (`serve --dry-run`).
    dry_run: bool,
}

struct Inner {
    /// One HTTP client, with its own connection pool, per thread. A pooled
    /// connection is driven by the runtime that opened it, and actix runs
    /// one runtime per worker thread: with a shared pool, a request often
    /// went out over a connection owned by another thread, which cost two
    /// cross-thread wake-ups per Drupal call. Per thread, every connection
    /// is driven where it is used.
    http: ThreadLocal<reqwest::Client>,
    connection: HttpSettings,
    base_url: String,
    /// `base_url` parsed once: each request's URL is this with its path and
    /// query set, instead of a string parsed anew (host included) per call.
    base: reqwest::Url,
    timeout: Duration,
    auth: Authenticator,
    resilience: Resilience,
    /// Told about calls, logins and waits (metrics, readiness), when set.
    observer: Arc<ObserverSlot>,
    /// One write at a time to each account: Drupal saves a user whole.
    /// Shared by every client of this Drupal site in the process.
    account_locks: Arc<AccountLocks>,
    /// The largest answer body read (`drupal.max_answer_bytes`).
    max_answer_bytes: usize,
    /// What this client last wrote to each user and term, to catch a read
    /// Drupal answers from before the write (see `written`).
    written: written::Written,
    /// Mixed into the key of filtered user collections; changed by each
    /// refusal of the `status` condition (see `send`).
    filter_salt: AtomicU64,
}

/// Names a client (and its clones) without keeping it alive: what was
/// kept about a client that may since have been replaced.
#[derive(Clone)]
pub struct ClientId(std::sync::Weak<Inner>);

impl ClientId {
    /// Whether `client` is the client named (or a clone of it).
    pub fn names(&self, client: &DrupalClient) -> bool {
        std::ptr::eq(self.0.as_ptr(), Arc::as_ptr(&client.inner))
    }
}

/// The last clone of a client is gone (a reload built the site anew, or
/// removed it, and its requests in flight have finished): its session, if
/// it has one, is ended in Drupal in the background, with an HTTP client of
/// its own (this thread's may be bound to a runtime that is going away).
/// Outside a runtime nothing can be sent; the session then ends with
/// Drupal's garbage collection, as it did before.
impl Drop for Inner {
    fn drop(&mut self) {
        let Some(session) = self.auth.take_session() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let Ok(http) = self.connection.build() else {
            return;
        };
        let base_url = std::mem::take(&mut self.base_url);
        runtime.spawn(async move { auth::end_session(&http, &base_url, session).await });
    }
}

/// Connection details, separate from the bridge's settings so the `check`
/// command and tests can build a client directly.
pub struct DrupalConnection {
    pub base_url: String,
    pub auth: DrupalAuth,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Certificates trusted besides the public roots.
    pub ca_certificates: Vec<reqwest::Certificate>,
    pub limits: DrupalLimits,
}

/// Why an answer shows the request ran without valid credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unauthenticated {
    /// User data with only `display_name`, as anonymous callers get it.
    Stripped,
    /// A 401, or a 403 naming the CSRF token: the session or token is gone.
    Refused,
    /// Another 403: a permission problem, or a lost session (an anonymous
    /// caller may not write, nor filter on fields such as `mail`).
    Forbidden,
    /// The answer deletes the session cookie: Drupal no longer holds the
    /// session, and ran the request as anonymous.
    SessionEnded,
    /// An answer that cannot tell (an empty collection), and `GET /jsonapi`
    /// with the same credentials shows Drupal runs them as anonymous.
    Anonymous,
}

impl Unauthenticated {
    fn describe(self) -> &'static str {
        match self {
            Unauthenticated::Stripped => "user data came back stripped, as for anonymous callers",
            Unauthenticated::Refused => {
                "Drupal refused the session or token (401, or CSRF token refused)"
            }
            Unauthenticated::Forbidden => "a request was refused with 403",
            Unauthenticated::SessionEnded => "Drupal's answer deletes the session cookie",
            Unauthenticated::Anonymous => {
                "an empty collection, and GET /jsonapi shows Drupal ran the request as anonymous"
            }
        }
    }

    /// Whether the answer alone shows the credentials are not accepted (a
    /// 403 or stripped data may also be about the data).
    fn is_certain(self) -> bool {
        matches!(
            self,
            Unauthenticated::Refused | Unauthenticated::SessionEnded | Unauthenticated::Anonymous
        )
    }
}

/// What each thread's HTTP client is built with.
struct HttpSettings {
    timeout: Duration,
    connect_timeout: Duration,
    extra_roots: Vec<reqwest::Certificate>,
}

impl HttpSettings {
    fn build(&self) -> Result<reqwest::Client, DrupalError> {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(JSONAPI));
        let builder = self
            .extra_roots
            .iter()
            .fold(reqwest::Client::builder(), |b, root| {
                b.add_root_certificate(root.clone())
            });
        builder
            .default_headers(headers)
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            // A redirect becomes `DrupalError::Redirected`, naming its target:
            // following it would turn a POST into a GET on 301/302, and it
            // means `drupal.base_url` is not where Drupal is served.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("drupal-scim-bridge/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| DrupalError::Protocol(format!("cannot build the HTTP client: {e}")))
    }
}

impl DrupalClient {
    pub fn new(conn: DrupalConnection) -> Result<DrupalClient, DrupalError> {
        let observer = Arc::new(ObserverSlot::default());
        let base_url = conn.base_url.trim_end_matches('/').to_string();
        let account_locks = AccountLocks::shared(&base_url);
        let base = reqwest::Url::parse(&base_url)
            .map_err(|e| DrupalError::Protocol(format!("drupal.base_url is not a URL: {e}")))?;
        let client = DrupalClient {
            inner: Arc::new(Inner {
                http: ThreadLocal::new(),
                connection: HttpSettings {
                    timeout: conn.timeout,
                    connect_timeout: conn.connect_timeout,
                    extra_roots: conn.ca_certificates,
                },
                base_url,
                base,
                timeout: conn.timeout,
                auth: Authenticator::new(&conn.auth, conn.limits.max_answer_bytes)?
                    .observed_by(observer.clone()),
                resilience: Resilience::new(&conn.limits),
                observer,
                account_locks,
                max_answer_bytes: conn.limits.max_answer_bytes,
                written: written::Written::default(),
                filter_salt: AtomicU64::new(0),
            }),
            dry_run: false,
        };
        // A client that cannot be built is refused now, not on a request.
        client.http()?;
        Ok(client)
    }

    /// This thread's HTTP client.
    fn http(&self) -> Result<&reqwest::Client, DrupalError> {
        let inner = &self.inner;
        inner.http.get_or_try(|| inner.connection.build())
    }

    /// With `dry_run`, every write is logged in full (passwords redacted)
    /// and answered as Drupal would, without reaching Drupal; reads still do.
    pub fn with_dry_run(mut self, dry_run: bool) -> DrupalClient {
        self.dry_run = dry_run;
        self
    }

    /// Whether writes are only logged (see [`DrupalClient::with_dry_run`]):
    /// a read after a write then shows Drupal without it.
    pub fn is_dry_run(&self) -> bool {
        self.dry_run
    }

    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// `drupal.timeout_secs`: the longest one request to Drupal may take.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// Whether `other` is this client (or a clone of it), not one built
    /// anew from the same settings: it shares this one's session, breaker
    /// and limits.
    pub fn is_same_client(&self, other: &DrupalClient) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Names this client without keeping it alive.
    pub fn id(&self) -> ClientId {
        ClientId(Arc::downgrade(&self.inner))
    }

    /// Reports every call, login and wait for a slot to `observer` from now
    /// on, in every clone of this client. Set once; a second is ignored.
    pub fn observe(&self, observer: Arc<dyn DrupalObserver>) {
        self.inner.observer.set(observer);
    }

    /// Whether the circuit breaker answers for Drupal now (open or probing).
    pub fn breaker_state(&self) -> resilience::BreakerView {
        self.inner.resilience.breaker.view()
    }

    /// While Drupal's flood control pauses the bridge's logins: the seconds
    /// left and Drupal's words.
    pub fn login_paused(&self) -> Option<(u64, String)> {
        self.inner.auth.paused()
    }

    /// Why Drupal refused the bridge's credentials for good, if it did (a
    /// login refused, basic credentials answered as anonymous): no request
    /// is sent with them again, so nothing can be served until a reload
    /// ([`DrupalClient::retry_credentials`]) or a restart.
    pub fn credentials_refused(&self) -> Option<String> {
        self.inner.auth.refused()
    }

    /// Tries the credentials again after a reload, even unchanged: Drupal
    /// may accept them now (the password reset, the account unblocked,
    /// flood control cleared). Forgets their refusal and the flood pause;
    /// the next request logs in once. Whether they had been refused or
    /// paused.
    pub fn retry_credentials(&self) -> bool {
        self.inner.auth.try_again()
    }

    /// Ends the bridge's Drupal session, if it has one (`drupal.auth.mode:
    /// session`): Drupal deletes it instead of keeping it valid until its
    /// session garbage collection. For a bridge that stops; a request after
    /// this logs in anew. A client dropped by a reload ends its session
    /// itself (see `Drop for Inner`).
    pub async fn log_out(&self) {
        let Some(session) = self.inner.auth.take_session() else {
            return;
        };
        if let Ok(http) = self.http() {
            auth::end_session(http, &self.inner.base_url, session).await;
        }
    }

    /// Requests waiting now for a slot under the concurrency limit.
    pub fn waiting_for_slot(&self) -> usize {
        self.inner.resilience.limiter.waiting()
    }

    /// Whether Drupal is saturated: requests wait for a slot under the
    /// concurrency limit, or the adaptive limit saw them queue inside
    /// Drupal in its last window. A request sent now would wait either way.
    pub fn saturated(&self) -> bool {
        let limiter = &self.inner.resilience.limiter;
        limiter.waiting() > 0 || limiter.drupal_queues()
    }

    /// How many requests may be in flight to Drupal now (the adaptive
    /// limit's current value, or the fixed one).
    pub fn concurrency_limit(&self) -> usize {
        self.inner.resilience.limiter.current()
    }

    /// GET one user. `Ok(None)` when Drupal has no user with that UUID, or
    /// none the bridge's account may see.
    pub async fn get_user(&self, id: &str) -> Result<Option<DrupalUser>, DrupalError> {
        Ok(self.get_user_with(id, None).await?.map(|(user, _)| user))
    }

    /// GET one user, with the resources `include` names (`included`).
    pub async fn get_user_with(
        &self,
        id: &str,
        include: Option<&Include>,
    ) -> Result<Option<(DrupalUser, Vec<Value>)>, DrupalError> {
        let mut read = self.read_user(id, include).await?;
        if self.inner.written.is_empty() {
            return Ok(read);
        }
        if let Some(mend) = read
            .as_ref()
            .and_then(|(user, _)| self.inner.written.check(&user.id, user))
        {
            self.mend(mend, "user").await?;
            read = self.read_user(id, include).await?;
            if let Some((user, _)) = &read {
                self.mended(&user.id, user, "user");
            }
        }
        if let Some((_, included)) = &mut read {
            self.mend_included(included).await?;
        }
        Ok(read)
    }

    /// GET one user, as Drupal answers.
    async fn read_user(
        &self,
        id: &str,
        include: Option<&Include>,
    ) -> Result<Option<(DrupalUser, Vec<Value>)>, DrupalError> {
        let path = match include {
            Some(include) => format!("{USERS}/{id}?{}", encode_query(&include.to_pairs())),
            // Not `format!`, which costs several times this on every read.
            None => [USERS, "/", id].concat(),
        };
        match self
            .call_as::<UserDocument>("get_user", Method::GET, &path, None)
            .await
        {
            Ok(mut body) => {
                let included = body.take_included();
                let user = the_user_asked(body, id, "a read")?;
                if !user.is_stripped() {
                    return Ok(Some((user, included)));
                }
                // Drupal strips accounts nobody may see, such as the
                // anonymous user (uid 0), even for an administrator; if
                // Drupal does not know the bridge's account, its
                // credentials are at fault. Any other account shown
                // stripped to the bridge's account means its role lost the
                // right to see accounts: "no such user" would make an IdP
                // take a DELETE or a deactivation as done.
                match self.whoami().await? {
                    Some(_) if user.attributes.get_str("display_name") == Some(ANONYMOUS_NAME) => {
                        Ok(None)
                    }
                    Some(_) => Err(DrupalError::Forbidden(
                        "Drupal shows this account to the bridge's account with only its display name: the bridge's role lacks the permission 'administer users' (run check for what it needs)".into(),
                    )),
                    None => Err(DrupalError::Credentials(
                        "a user read came back with only display_name, and GET /jsonapi shows Drupal ran it as anonymous".into(),
                    )),
                }
            }
            Err(DrupalError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// One page of users matching `query`.
    /// Its items are distinct: an item Drupal sent twice is kept once.
    /// The next page, if any, is `page.next`.
    pub async fn list_users(&self, query: &CollectionQuery) -> Result<UserPage, DrupalError> {
        let query_string = encode_query(&query.to_pairs(document::USER_TYPE));
        let path = if query_string.is_empty() {
            USERS.to_string()
        } else {
            format!("{USERS}?{query_string}")
        };
        let answer = match self
            .call_as::<user_page::CollectionAnswer>("list_users", Method::GET, &path, None)
            .await
        {
            Err(DrupalError::Forbidden(detail)) if refuses_status_filter(&detail) => {
                return Err(DrupalError::Forbidden(format!(
                    "{detail}: the bridge's role lacks the permission 'administer users', without which Drupal finds no account but the bridge's own (run check for what it needs)"
                )))
            }
            answer => answer?,
        };
        let mut page = user_page::user_page(answer, query)?;
        // Any filter leaves the anonymous user out, the one account Drupal
        // strips for every caller: an item stripped here is an account the
        // bridge's account may not see. Dropping it would answer "no such
        // user", which an IdP takes as a DELETE or deactivation done.
        if page.stripped > 0 && query.filter.is_some() {
            return Err(self.hidden_accounts(page.users.is_empty()).await);
        }
        if !self.inner.written.is_empty() {
            self.mend_listed(&mut page.users).await?;
            self.mend_included(&mut page.included).await?;
        }
        Ok(page)
    }

    /// The error for accounts Drupal showed with only their display name:
    /// its credentials at fault when Drupal ran the request as anonymous
    /// (asked when no account came back whole), else the missing permission.
    async fn hidden_accounts(&self, none_shown: bool) -> DrupalError {
        if none_shown {
            match self.whoami().await {
                Ok(Some(_)) => {}
                Ok(None) => return DrupalError::Credentials(
                    "a user list came back with only display_name, and GET /jsonapi shows Drupal ran it as anonymous".into(),
                ),
                Err(e) => return e,
            }
        }
        DrupalError::Forbidden(
            "Drupal lists accounts to the bridge's account with only their display name: the bridge's role lacks the permission 'administer users' (run check for what it needs)".into(),
        )
    }

    /// Included resources (the terms a user's groups name) shown from
    /// before this client's last write to them are mended and read again,
    /// as listed users are; one gone meanwhile is left out.
    async fn mend_included(&self, included: &mut Vec<Value>) -> Result<(), DrupalError> {
        let mends: Vec<(usize, written::Mend)> = included
            .iter()
            .enumerate()
            .filter_map(|(i, item)| {
                let id = item.get("id")?.as_str()?;
                Some((i, self.inner.written.check(id, item)?))
            })
            .collect();
        let mut gone = Vec::new();
        for (i, mend) in mends {
            match self.mend_and_read(mend, "included").await? {
                Some(data) => included[i] = data,
                None => gone.push(i),
            }
        }
        for i in gone.into_iter().rev() {
            included.remove(i);
        }
        Ok(())
    }

    /// Mends a stale read of a resource (`mend`) and reads it again: its
    /// resource object, `None` when it is gone meanwhile. An answer about
    /// another resource is refused, as every answer of the client is.
    async fn mend_and_read(
        &self,
        mend: written::Mend,
        what: &str,
    ) -> Result<Option<Value>, DrupalError> {
        let (id, path) = (mend.id.clone(), mend.path.clone());
        self.mend(mend, what).await?;
        let data = match self.call("read_mended", Method::GET, &path, None).await {
            Ok(mut body) => body.get_mut("data").map(Value::take),
            Err(DrupalError::NotFound) => None,
            Err(e) => return Err(e),
        };
        let Some(data) = data else {
            return Ok(None);
        };
        let answered = data.get("id").and_then(Value::as_str).unwrap_or_default();
        if !answered.eq_ignore_ascii_case(&id) {
            return Err(another_resource(
                "a read of the resource",
                &id,
                "another resource",
                "",
                answered,
            ));
        }
        self.mended(&id, &data, what);
        Ok(Some(data))
    }

    /// Listed users that show what this client wrote before its last
    /// write to them are mended and read again (see `written`); one gone
    /// meanwhile is left out.
    async fn mend_listed(&self, users: &mut Vec<DrupalUser>) -> Result<(), DrupalError> {
        let mends: Vec<(usize, written::Mend)> = users
            .iter()
            .enumerate()
            .filter_map(|(i, user)| Some((i, self.inner.written.check(&user.id, user)?)))
            .collect();
        let mut gone = Vec::new();
        for (i, mend) in mends {
            self.mend(mend, "user").await?;
            match self.read_user(&users[i].id.clone(), None).await? {
                Some((user, _)) => {
                    self.mended(&user.id, &user, "user");
                    users[i] = user;
                }
                None => gone.push(i),
            }
        }
        for i in gone.into_iter().rev() {
            users.remove(i);
        }
        Ok(())
    }

    /// Writes again what a read showed from before this client's last
    /// write (`written`): the save drops Drupal's stale copy. A failure
    /// Drupal may get over (5xx, a timeout, an edit at the same moment) is
    /// the read's error; a refusal for good drops the note.
    async fn mend(&self, mend: written::Mend, what: &str) -> Result<(), DrupalError> {
        tracing::warn!(
            target: "drupal",
            id = %mend.id, resource = what, fields = %mend.fields.join(","),
            "Drupal answered a read with values from before the bridge's last write to it (its JSON:API cache kept a copy a request stored as it ended); writing them again"
        );
        let writes = mend
            .patch
            .iter()
            .map(|(path, document)| (&Method::PATCH, path, document))
            .chain(mend.relationships.iter().map(|(m, p, d)| (m, p, d)));
        for (method, path, document) in writes {
            match self
                .call("mend_stale_read", method.clone(), path, Some(document))
                .await
            {
                Ok(_) => {}
                // Refused for good (the values are no longer valid, the
                // resource or the permission is gone): the read is taken as
                // Drupal shows it, and not mended again.
                Err(
                    e @ (DrupalError::Validation(_)
                    | DrupalError::Rejected { .. }
                    | DrupalError::Forbidden(_)
                    | DrupalError::NotFound
                    | DrupalError::ReadOnly),
                ) => {
                    self.inner.written.forget(&mend.id);
                    if let Some(role) = e.missing_role() {
                        self.inner.written.target_gone(document::ROLE_TYPE, role);
                    }
                    tracing::warn!(
                        target: "drupal",
                        id = %mend.id, resource = what, error = %e,
                        "Drupal refused the values written again to mend a stale read; the read is answered as Drupal shows it"
                    );
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// After a mend: a read still contradicting the write is another
    /// writer's change, taken as it is.
    fn mended(&self, id: &str, shown: &impl written::Shown, what: &str) {
        if !self.inner.written.mended(id, shown) {
            tracing::warn!(
                target: "drupal",
                id = %crate::untrusted::cut(id, 64), resource = what,
                "Drupal still shows other values than the bridge's last write after it was written again: taken as another writer's change"
            );
        }
    }

    pub async fn create_user(&self, write: &UserWrite) -> Result<DrupalUser, DrupalError> {
        let body: UserDocument = self
            .call_as(
                "create_user",
                Method::POST,
                USERS,
                Some(&write.to_document()),
            )
            .await?;
        match &write.id {
            Some(id) => the_user_asked(body, id, "a create"),
            None => body.into_user().ok_or_else(no_user_data),
        }
    }

    pub async fn update_user(
        &self,
        id: &str,
        write: &UserWrite,
    ) -> Result<DrupalUser, DrupalError> {
        let mut doc = write.to_document();
        if let Some(data) = doc.get_mut("data").and_then(Value::as_object_mut) {
            data.insert("id".into(), Value::String(id.to_string()));
        }
        let body: UserDocument = self
            .call_as(
                "update_user",
                Method::PATCH,
                &format!("{USERS}/{id}"),
                Some(&doc),
            )
            .await?;
        let user = the_user_asked(body, id, "an update")?;
        if !self.dry_run {
            let path = format!("{USERS}/{id}");
            let kinds: Vec<(&str, &str)> = write
                .relationships
                .iter()
                .map(|(field, value)| (field.as_str(), item_type(value)))
                .collect();
            self.inner.written.wrote(
                &written::Resource {
                    path: &path,
                    kind: document::USER_TYPE,
                    id,
                },
                &write.attributes,
                kinds.into_iter(),
                &user,
            );
        }
        Ok(user)
    }

    pub async fn delete_user(&self, id: &str) -> Result<(), DrupalError> {
        self.call(
            "delete_user",
            Method::DELETE,
            &format!("{USERS}/{id}"),
            None,
        )
        .await?;
        self.inner.written.forget(id);
        Ok(())
    }

    /// Every role on the site, following Drupal's 50-item pages. An account
    /// without "administer permissions" is shown none (Drupal lists them
    /// under `meta.omitted` instead).
    /// The roles (machine names) of the account the bridge logs in as, as
    /// the session login's answer said them; `None` before a login, and
    /// under `basic` and `oauth2`.
    pub fn own_roles(&self) -> Option<Vec<String>> {
        self.inner.auth.own_roles()
    }

    pub async fn list_roles(&self) -> Result<Vec<DrupalRole>, DrupalError> {
        let mut roles: Vec<DrupalRole> = Vec::new();
        let mut distinct = Distinct::default();
        let mut query = CollectionQuery::default();
        loop {
            let query_string = encode_query(&query.to_pairs(document::ROLE_TYPE));
            let path = match query_string.is_empty() {
                true => ROLES.to_string(),
                false => format!("{ROLES}?{query_string}"),
            };
            let body = self.call("list_roles", Method::GET, &path, None).await?;
            let data = body.get("data").and_then(Value::as_array).ok_or_else(|| {
                DrupalError::Protocol("a role collection without a data array".into())
            })?;
            // Roles Drupal leaves out are not gone: taking the list
            // without them would show their groups deleted (404) or
            // empty, and refuse groups the IdP names (recorded: case 004).
            if let Some(detail) = omitted_items(&body) {
                return Err(DrupalError::Forbidden(format!(
                    "Drupal hides roles from the bridge's account ({detail}): the bridge's role lacks the permission 'administer permissions' (run check for what it needs)"
                )));
            }
            let mut page: Vec<DrupalRole> =
                data.iter().filter_map(DrupalRole::from_resource).collect();
            let read = page.len();
            distinct.keep_new(&mut page, |role| &role.id, "list_roles");
            let new = page.len();
            roles.append(&mut page);
            // A page with nothing new ends the read (see `UserPage::keep_new`).
            match has_next(&body) && read > 0 && new > 0 {
                true => query = query.next_page(),
                false => return Ok(roles),
            }
        }
    }

    /// The langcodes of the site's configured languages (first page, which
    /// holds every language a site has in practice). `NotFound` when the
    /// Language module is off (English alone); an account without the
    /// permission to read them is shown none.
    pub async fn list_languages(&self) -> Result<Vec<String>, DrupalError> {
        let body = self
            .call("list_languages", Method::GET, LANGUAGES, None)
            .await?;
        let data = body.get("data").and_then(Value::as_array).ok_or_else(|| {
            DrupalError::Protocol("a language collection without a data array".into())
        })?;
        Ok(data
            .iter()
            .filter_map(|language| {
                language
                    .pointer("/attributes/drupal_internal__id")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .collect())
    }

    /// Adds, replaces or removes role memberships of one user through
    /// `/relationships/roles` (POST adds, PATCH replaces, DELETE removes).
    pub async fn change_roles(
        &self,
        user_id: &str,
        method: Method,
        role_ids: &[String],
    ) -> Result<(), DrupalError> {
        let doc = document::roles_relationship(role_ids);
        let written = self
            .call(
                "change_roles",
                method.clone(),
                &format!("{USERS}/{user_id}/relationships/roles"),
                Some(&doc),
            )
            .await;
        if let Err(e) = written {
            if let Some(role) = e.missing_role() {
                self.inner.written.target_gone(document::ROLE_TYPE, role);
            }
            return Err(e);
        }
        self.wrote_user_related(user_id, "roles", document::ROLE_TYPE, &method, role_ids);
        Ok(())
    }

    /// Notes a write through one of a user's relationship routes.
    fn wrote_user_related(
        &self,
        user_id: &str,
        field: &str,
        kind: &str,
        method: &Method,
        ids: &[String],
    ) {
        if self.dry_run {
            return;
        }
        let path = format!("{USERS}/{user_id}");
        let user = written::Resource {
            path: &path,
            kind: document::USER_TYPE,
            id: user_id,
        };
        self.inner
            .written
            .wrote_related(&user, field, kind, method, ids);
    }

    /// The UUID of the account Drupal ran the request as: `None` when the
    /// credentials were not accepted (Drupal then serves anonymous).
    pub async fn whoami(&self) -> Result<Option<String>, DrupalError> {
        let body = self.call("whoami", Method::GET, "/jsonapi", None).await?;
        let account = account_of(&body);
        if account.is_none() {
            // The one reliable sign: Drupal ran the request as anonymous.
            self.inner.auth.discard_current(
                "GET /jsonapi has no meta.links.me: Drupal does not know the bridge's account",
            );
        }
        Ok(account)
    }

    /// The id of Drupal's anonymous account (uid 0), which no filtered
    /// collection lists and which Drupal refuses to change: the first item
    /// of the unfiltered collection by uid, sent with no attributes. `None`
    /// when that item is another account.
    pub async fn anonymous_account(&self) -> Result<Option<String>, DrupalError> {
        let path = [
            USERS,
            "?sort=drupal_internal__uid&page%5Blimit%5D=2",
            "&fields%5Buser--user%5D=name%2Cdrupal_internal__uid",
        ]
        .concat();
        let body = self
            .call("anonymous_account", Method::GET, &path, None)
            .await?;
        Ok(body
            .pointer("/data/0")
            .filter(|item| item.pointer("/attributes/drupal_internal__uid").is_none())
            .and_then(|item| item.get("id"))
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase))
    }

    /// The one place requests go out: one write at a time per account,
    /// the circuit breaker, the concurrency limit, credentials (logging in again once when Drupal no longer
    /// accepts them), retries with backoff. Logs one event.
    async fn call(
        &self,
        op: &'static str,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, DrupalError> {
        self.call_as::<Value>(op, method, path, body).await
    }

    /// [`DrupalClient::call`], its answer read as `T` straight from the
    /// bytes Drupal sent.
    async fn call_as<T: Answer>(
        &self,
        op: &'static str,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T, DrupalError> {
        let bytes = self.inner.base_url.len() + path.len();
        if bytes > MAX_URL_BYTES {
            tracing::warn!(
                target: "drupal",
                op, method = %method, path = %crate::untrusted::cut(path, 256), bytes,
                "drupal call not sent: its URL is longer than web servers accept"
            );
            return Err(DrupalError::UrlTooLong {
                bytes,
                limit: MAX_URL_BYTES,
            });
        }
        if self.dry_run && method != Method::GET {
            per_request::record_call();
            return dry_run::pretend_write(self, op, &method, path, body)
                .await
                .and_then(T::from_value);
        }
        // Before a slot is taken: a write waiting for its account holds
        // none of Drupal's. One lock at most per call, so none can wait
        // on another.
        let _account = match account_locks::account_written(&method, path) {
            Some(account) => Some(self.account_lock(op, account).await?),
            None => None,
        };
        let started = Instant::now();
        let outcome = self.guarded(op, &method, path, body).await;
        let elapsed = started.elapsed();
        let shed = shed_reason(&outcome);
        // A call the bridge refused itself never reached Drupal: it is no
        // Drupal request, neither in the metrics nor in the SCIM request's
        // count.
        if shed.is_none() {
            per_request::record_call();
        }
        if let Some(observer) = self.inner.observer.get() {
            match shed {
                Some(reason) => observer.shed(op, reason),
                None => observer.call(op, call_outcome(&outcome), elapsed),
            }
        }
        // To 0.1 ms: finer is noise to a reader.
        let latency_ms = (elapsed.as_secs_f64() * 10_000.0).round() / 10.0;
        match &outcome {
            Ok(_) => tracing::info!(
                target: "drupal",
                op, method = %method, path = &*crate::telemetry::shown_path(path), outcome = "ok", latency_ms,
                "drupal call"
            ),
            Err(e) => tracing::warn!(
                target: "drupal",
                op, method = %method, path = &*crate::telemetry::shown_path(path), outcome = "error", error = %e, latency_ms,
                "drupal call"
            ),
        }
        outcome
    }

    async fn guarded<T: Answer>(
        &self,
        op: &'static str,
        method: &Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T, DrupalError> {
        let inner = &self.inner;
        let admission = inner.resilience.breaker.admit()?;
        let deadline = Instant::now() + inner.timeout;
        let slot = self.slot().await?;
        let body = body.map(|b| serde_json::to_vec(b).unwrap_or_default());
        let outcome = self.attempts(method, path, body.as_deref(), deadline).await;
        slot.finish(op, resilience::outcome_for_limit(&outcome));
        let retry_after = match &outcome {
            Err(DrupalError::Server { retry_after, .. }) => *retry_after,
            _ => None,
        };
        admission.record_with(matches!(&outcome, Err(e) if e.is_transient()), retry_after);
        outcome
    }

    /// The account `account` to itself until the guard is dropped: Drupal
    /// loads, changes and saves a user whole on every write, so two at
    /// once lose one's change (see `account_locks`).
    async fn account_lock(
        &self,
        op: &'static str,
        account: &str,
    ) -> Result<account_locks::AccountGuard<'_>, DrupalError> {
        let asked = Instant::now();
        // No longer than one request may take: past that, the writes
        // before it are stuck, and this one is not sent.
        let Ok(guard) =
            tokio::time::timeout(self.inner.timeout, self.inner.account_locks.lock(account)).await
        else {
            tracing::warn!(
                target: "drupal",
                op, waited_ms = asked.elapsed().as_millis() as u64,
                "drupal write gave up waiting for an earlier write to the same account"
            );
            return Err(DrupalError::AccountBusy { client_gone: false });
        };
        let waited = asked.elapsed();
        if waited >= Duration::from_millis(1) {
            tracing::debug!(
                target: "drupal",
                op, waited_ms = waited.as_millis() as u64,
                "drupal write waited for an earlier write to the same account"
            );
        }
        Ok(guard)
    }

    /// A slot under the concurrency limit, reporting a wait or a refusal.
    async fn slot(&self) -> Result<resilience::Slot<'_>, DrupalError> {
        let inner = &self.inner;
        let asked = Instant::now();
        let admitted = per_request::with_ticket(|ticket| inner.resilience.limiter.admit(ticket));
        let slot = inner
            .resilience
            .limiter
            .acquire_admitted(inner.timeout, admitted)
            .await;
        if let Some(observer) = inner.observer.get() {
            match &slot {
                Ok(_) => {
                    let waited = asked.elapsed();
                    // A free slot is taken at once; anything longer queued.
                    if waited >= Duration::from_millis(1) {
                        observer.slot_waited(waited);
                    }
                }
                Err(_) => observer.slot_refused(),
            }
        }
        slot
    }

    async fn attempts<T: Answer>(
        &self,
        method: &Method,
        path: &str,
        body: Option<&[u8]>,
        deadline: Instant,
    ) -> Result<T, DrupalError> {
        let inner = &self.inner;
        let mut attempt = 1;
        let mut logged_in_again = false;
        let mut probed = false;
        loop {
            let (outcome, unauthenticated, used, sent, answered_2xx) = match self
                .credentials()
                .await
            {
                Ok(credentials) => {
                    let (mut outcome, mut unauthenticated) =
                        self.send(method, path, body, &credentials).await;
                    if unauthenticated.is_none() {
                        unauthenticated = self.vouch(method, &outcome, &credentials).await;
                    }
                    let answered_2xx = outcome.is_ok();
                    if matches!(
                        unauthenticated,
                        Some(Unauthenticated::SessionEnded | Unauthenticated::Anonymous)
                    ) {
                        // Whatever it says, the answer is an anonymous
                        // caller's: never the bridge's data.
                        outcome = Err(DrupalError::Credentials(
                            "Drupal ran the bridge's request as anonymous: its login is no longer accepted".into(),
                        ));
                    }
                    (
                        outcome,
                        unauthenticated,
                        Some(credentials),
                        true,
                        answered_2xx,
                    )
                }
                Err(e) => (Err(e), None, None, false, false),
            };
            let generation = used.as_ref().map_or(0, Credentials::generation);
            if let Some(why) = unauthenticated {
                // A write Drupal answered with success may have been
                // applied, whatever else the answer says (a session cookie
                // deleted, user data stripped): sending it again could
                // create or change twice. The login is dropped (the next
                // request logs in), and the answer counts as unreadable,
                // which callers resolve by looking (a create by its UUID).
                // (Basic credentials are not given up over it: Drupal
                // refuses every anonymous write, so a success ran as the
                // bridge's account.)
                if answered_2xx && *method != Method::GET {
                    if inner.auth.renews() {
                        inner.auth.discard(generation, why.describe());
                    }
                    return Err(DrupalError::Unreadable(format!(
                        "Drupal answered the {method} with success, but {}: it may have been applied, and is not sent again",
                        why.describe()
                    )));
                }
                // Whether the login is valid. A stripped read or a 403 may
                // also be about the data (the anonymous user is stripped
                // even for administrators; some actions are forbidden to
                // any account) or a permission the bridge's role lacks: a
                // login Drupal granted a moment ago, or one an answer just
                // showed valid, stands, and otherwise Drupal is asked who
                // the bridge is. Dropping a valid login over a missing
                // permission would log in again on every request, and
                // basic credentials given up for good each walk the
                // account towards Drupal's flood lock.
                let valid = if why.is_certain() {
                    Some(false)
                } else if logged_in_again
                    || (inner.auth.renews() && inner.auth.fresh(generation))
                    || inner.auth.recently_proven(generation)
                {
                    Some(true)
                } else if probed {
                    None
                } else {
                    probed = true;
                    let anonymous = match &used {
                        Some(credentials) => self.runs_as_anonymous(credentials).await,
                        None => None,
                    };
                    if anonymous == Some(false) {
                        inner.auth.proven(generation);
                    }
                    anonymous.map(|anonymous| !anonymous)
                };
                match valid {
                    Some(true) => {}
                    Some(false) => inner.auth.discard(generation, why.describe()),
                    // Drupal cannot say now: a login is renewed, basic
                    // credentials are kept.
                    None if inner.auth.renews() => inner.auth.discard(generation, why.describe()),
                    None => {}
                }
                // A refused request changed nothing: sending it again after
                // a fresh login is safe.
                if valid != Some(true) && inner.auth.renews() && !logged_in_again {
                    logged_in_again = true;
                    continue;
                }
            }
            let error = match outcome {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            // A failed login sent nothing of the request: retrying it is as
            // safe as retrying a read.
            let retried_as = if sent { method } else { &Method::GET };
            match inner
                .resilience
                .retry
                .pause(retried_as, &error, attempt, deadline)
            {
                Some(pause) => {
                    tracing::debug!(target: "drupal", attempt, error = %error, pause_ms = pause.as_millis() as u64, "retrying");
                    tokio::time::sleep(pause).await;
                    attempt += 1;
                }
                None => return Err(error),
            }
        }
    }

    /// Whether a request that succeeded ran as anonymous, when its answer
    /// cannot tell: an empty collection is all an anonymous caller gets for
    /// a filter on `name` or `mail`, so unless another answer showed the
    /// login valid within [`auth::PROOF_WINDOW`], `GET /jsonapi` is asked
    /// who the credentials are. Answers that show it (a write, a user with
    /// its name) are recorded.
    async fn vouch<T: Answer>(
        &self,
        method: &Method,
        outcome: &Result<T, DrupalError>,
        credentials: &Credentials,
    ) -> Option<Unauthenticated> {
        let answer = outcome.as_ref().ok()?;
        let auth = &self.inner.auth;
        let generation = credentials.generation();
        // Drupal refuses every write of an anonymous caller (401).
        if *method != Method::GET || answer.shows_user_data() {
            auth.proven(generation);
            return None;
        }
        // Basic credentials have no session whose end Drupal announces:
        // an account blocked a moment ago gets nothing but anonymous
        // answers, so under basic auth every empty answer is checked.
        if !answer.is_empty_collection() || (auth.renews() && auth.recently_proven(generation)) {
            return None;
        }
        match self.runs_as_anonymous(credentials).await {
            Some(true) => Some(Unauthenticated::Anonymous),
            Some(false) => {
                auth.proven(generation);
                None
            }
            // Drupal cannot say now: the answer stands.
            None => None,
        }
    }

    /// Whether Drupal runs `credentials` as anonymous, by `GET /jsonapi`
    /// (no `meta.links.me`); `None` when Drupal cannot say now.
    async fn runs_as_anonymous(&self, credentials: &Credentials) -> Option<bool> {
        match self
            .send::<Value>(&Method::GET, "/jsonapi", None, credentials)
            .await
        {
            (Ok(entry), _) => Some(account_of(&entry).is_none()),
            (Err(_), _) => None,
        }
    }

    /// The URL of `path` (with its query, if any) under `drupal.base_url`,
    /// which may have a path of its own (Drupal in a subdirectory).
    fn url(&self, path: &str) -> reqwest::Url {
        let base = &self.inner.base;
        let mut url = base.clone();
        let (path, query) = match path.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (path, None),
        };
        let prefix = base.path().trim_end_matches('/');
        if prefix.is_empty() {
            url.set_path(path);
        } else {
            url.set_path(&[prefix, path].concat());
        }
        url.set_query(query);
        url
    }

    async fn credentials(&self) -> Result<Credentials, DrupalError> {
        let inner = &self.inner;
        let credentials = inner
            .auth
            .credentials(self.http()?, &inner.base_url)
            .await?;
        inner
            .auth
            .check_basic_first(|| self.runs_as_anonymous(&credentials))
            .await?;
        Ok(credentials)
    }

    /// One HTTP exchange, classified.
    async fn send<T: Answer>(
        &self,
        method: &Method,
        path: &str,
        body: Option<&[u8]>,
        credentials: &Credentials,
    ) -> (Result<T, DrupalError>, Option<Unauthenticated>) {
        let mut url = self.url(path);
        let filtered_users = is_filtered_user_collection(path);
        if filtered_users {
            // See `Credentials::cache_key`: a condition every account meets,
            // on `status`, which only an account with "administer users"
            // may filter by. Without it Drupal's query guard lists only the
            // caller's own account under any filter, so a lookup of anyone
            // else would find nothing (seen on Drupal 10.2.6): the
            // condition makes that a 403 instead.
            let salt = self.inner.filter_salt.load(Ordering::Relaxed);
            let key = format!(
                "filter[login{:016x}][condition]",
                credentials.cache_key() ^ salt
            );
            url.query_pairs_mut()
                .append_pair(&[&key, "[path]"].concat(), "status")
                .append_pair(&[&key, "[operator]"].concat(), "IS NOT NULL");
        }
        let http = match self.http() {
            Ok(http) => http,
            Err(e) => return (Err(e), None),
        };
        let mut request = credentials.apply(http.request(method.clone(), url));
        if let Some(body) = body {
            request = request.header(CONTENT_TYPE, JSONAPI).body(body.to_vec());
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return (Err(transport_error(&e)), None),
        };
        if let Some(redirected) = redirected(&response) {
            return (Err(redirected), None);
        }
        let status = response.status();
        let session_ended = credentials.is_session() && deletes_session_cookie(&response);
        let is_html = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/html"));
        let retry_after = retry_after(response.headers());
        let outcome = match read_answer(response, self.inner.max_answer_bytes, path).await {
            Ok(bytes) => classify_with::<T>(status, is_html, retry_after, &bytes),
            Err(e) => Err(e),
        };
        if filtered_users
            && matches!(&outcome, Err(DrupalError::Forbidden(detail)) if refuses_status_filter(detail))
        {
            // Drupal's dynamic page cache keeps this 403 for the URL
            // whatever the caller's permissions (seen on Drupal 10.2.6):
            // the next request's URL is new, so that the permission
            // granted again is seen at once.
            self.inner
                .filter_salt
                .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
        }
        let unauthenticated = match &outcome {
            _ if session_ended => Some(Unauthenticated::SessionEnded),
            Ok(body) if body.is_stripped_user_data() => Some(Unauthenticated::Stripped),
            Err(DrupalError::Credentials(_)) => Some(Unauthenticated::Refused),
            Err(DrupalError::Forbidden(detail)) if detail.contains("X-CSRF-Token") => {
                Some(Unauthenticated::Refused)
            }
            Err(DrupalError::Forbidden(_)) => Some(Unauthenticated::Forbidden),
            _ => None,
        };
        (outcome, unauthenticated)
    }
}

/// The body of Drupal's answer, read chunk by chunk and refused as
/// unreadable once it is longer than `limit` bytes (at once when its
/// `Content-Length` says so): a broken or hostile answer may be as long
/// as it likes, and nothing beyond `limit` and one chunk is ever held.
/// Dropping the answer unread closes its connection.
pub(crate) async fn read_answer(
    response: reqwest::Response,
    limit: usize,
    path: &str,
) -> Result<Vec<u8>, DrupalError> {
    let too_long = |seen: u64, announced: bool| {
        tracing::warn!(
            target: "drupal",
            path = &*crate::telemetry::shown_path(path),
            bytes = seen,
            announced,
            limit,
            "Drupal's answer is longer than drupal.max_answer_bytes allows: refused without reading it further"
        );
        DrupalError::Unreadable(match announced {
            true => format!("an answer of {seen} bytes (its Content-Length), over the {limit} bytes drupal.max_answer_bytes allows"),
            false => format!("an answer of more than {limit} bytes, the most drupal.max_answer_bytes allows ({seen} read)"),
        })
    };
    crate::capped::read_capped(response, limit)
        .await
        .map_err(|e| match e {
            CappedError::TooLong { seen, announced } => too_long(seen, announced),
            CappedError::Transport(e) => transport_error(&e),
        })
}

/// Why the bridge answered a call itself, if it did: nothing was sent.
fn shed_reason<T>(outcome: &Result<T, DrupalError>) -> Option<ShedReason> {
    match outcome {
        Err(DrupalError::Overloaded) => Some(ShedReason::Queue),
        Err(DrupalError::CircuitOpen { .. }) => Some(ShedReason::Circuit),
        Err(DrupalError::LoginPaused { .. }) => Some(ShedReason::Login),
        _ => None,
    }
}

/// A sent call's outcome as a bounded label.
fn call_outcome<T>(outcome: &Result<T, DrupalError>) -> CallOutcome {
    match outcome {
        Ok(_) => CallOutcome::Ok,
        Err(DrupalError::NotFound) => CallOutcome::NotFound,
        Err(DrupalError::Credentials(_)) => CallOutcome::Credentials,
        Err(
            DrupalError::Forbidden(_)
            | DrupalError::ReadOnly
            | DrupalError::Validation(_)
            | DrupalError::EntityChanged(_)
            | DrupalError::Rejected { .. },
        ) => CallOutcome::Refused,
        Err(_) => CallOutcome::Failed,
    }
}

/// Whether the answer deletes Drupal's session cookie (`SESS…` or, over
/// HTTPS, `SSESS…`), as Drupal does when the cookie names a session it no
/// longer holds (expired, logged out, cleared): the request ran as
/// anonymous, whatever its answer looks like.
fn deletes_session_cookie(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|cookie| {
            let (name, rest) = cookie.split_once('=').unwrap_or((cookie, ""));
            let value = rest.split(';').next().unwrap_or_default();
            let expired = rest
                .split(';')
                .any(|attribute| attribute.trim().eq_ignore_ascii_case("max-age=0"));
            (name.starts_with("SESS") || name.starts_with("SSESS"))
                && (value == "deleted" || expired)
        })
}

/// Whether a 403's `detail` is Drupal refusing a filter on `status`, which
/// only accounts with "administer users" may filter by.
fn refuses_status_filter(detail: &str) -> bool {
    detail.contains("not authorized to filter by the `status` field")
}

/// Whether `path` asks for users with a filter, the requests Drupal's
/// dynamic page cache can answer with another caller's 403 (see
/// [`Credentials::cache_key`]).
fn is_filtered_user_collection(path: &str) -> bool {
    path.strip_prefix(USERS)
        .and_then(|rest| rest.strip_prefix('?'))
        .is_some_and(|query| query.contains("filter%5B") || query.contains("filter["))
}

/// The UUID of the account a `GET /jsonapi` ran as (`meta.links.me`);
/// `None` when it ran as anonymous.
fn account_of(entry_point: &Value) -> Option<String> {
    entry_point
        .pointer("/meta/links/me/meta/id")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// Whether `body` holds a user with its `name`, which Drupal never shows
/// an anonymous caller.
fn shows_user_data(body: &Value) -> bool {
    let named = |item: &Value| {
        item.get("type").and_then(Value::as_str) == Some(document::USER_TYPE)
            && item.pointer("/attributes/name").is_some()
    };
    match body.get("data") {
        Some(item @ Value::Object(_)) => named(item),
        Some(Value::Array(items)) => items.iter().any(named),
        _ => false,
    }
}

/// What Drupal says of the items a collection left out for lack of
/// access (`meta.omitted`, whose links other than `help` are the items):
/// the first item's `detail`, cut short; `None` when none was left out.
fn omitted_items(body: &Value) -> Option<String> {
    let links = body.pointer("/meta/omitted/links")?.as_object()?;
    let mut items = links.iter().filter(|(key, _)| *key != "help");
    let (_, first) = items.next()?;
    let detail = first
        .pointer("/meta/detail")
        .and_then(Value::as_str)
        .unwrap_or("some items were left out for lack of access");
    Some(crate::untrusted::cut(detail, DRUPAL_DETAIL_CHARS).into_owned())
}

/// Whether `body` is a collection without items (`"data": []`).
fn is_empty_collection(body: &Value) -> bool {
    body.get("data")
        .and_then(Value::as_array)
        .is_some_and(Vec::is_empty)
}

/// User data the bridge's account would see whole, but that came back with
/// only `display_name`: the request ran as anonymous. (Every filtered
/// collection the bridge asks for leaves out the anonymous user, the one
/// account that is always stripped.)
fn is_stripped_user_data(body: &Value) -> bool {
    let stripped = |item: &Value| {
        item.get("type").and_then(Value::as_str) == Some(document::USER_TYPE)
            && item.pointer("/attributes/name").is_none()
    };
    match body.get("data") {
        Some(item @ Value::Object(_)) => stripped(item),
        Some(Value::Array(items)) => !items.is_empty() && items.iter().all(stripped),
        _ => false,
    }
}

/// A 3xx answer, as the error that names where Drupal sent the request.
pub(crate) fn redirected(response: &reqwest::Response) -> Option<DrupalError> {
    let status = response.status();
    if !status.is_redirection() {
        return None;
    }
    let location = response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map_or(
            std::borrow::Cow::Borrowed("an address it did not give"),
            |l| crate::untrusted::cut(l, REDIRECT_CHARS),
        )
        .into_owned();
    tracing::warn!(
        target: "drupal",
        status = status.as_u16(),
        location = %location,
        "Drupal redirected the bridge's request: drupal.base_url is not where Drupal is served"
    );
    Some(DrupalError::Redirected {
        status: status.as_u16(),
        location,
    })
}

/// Characters of a redirect's target kept for the log and `check`.
const REDIRECT_CHARS: usize = 256;
/// Characters of a `detail` of Drupal's kept in errors (and so in logs
/// and error details): Drupal's own run to a few hundred; anything
/// longer is cut, however long the answer made it.
const DRUPAL_DETAIL_CHARS: usize = 1024;

pub(crate) fn transport_error(e: &reqwest::Error) -> DrupalError {
    if e.is_timeout() {
        DrupalError::Timeout
    } else if e.is_connect() {
        let why = innermost(e);
        // rustls words every refusal of the peer's certificate so.
        if why.contains("invalid peer certificate") {
            DrupalError::Certificate(why)
        } else {
            DrupalError::Unreachable(why)
        }
    } else {
        // Reset or closed after the request was written (or while its
        // answer came): it may have reached Drupal, as after a timeout,
        // but it is no timeout and is not told as one.
        DrupalError::ConnectionLost(innermost(e))
    }
}

/// The most specific message of an error's chain. reqwest's own messages
/// name the URL; ours must not carry anything but the failure (the URL is
/// logged separately, and never holds credentials).
fn innermost(e: &dyn std::error::Error) -> String {
    let mut source = e.source();
    let mut last = e.to_string();
    while let Some(s) = source {
        last = s.to_string();
        source = s.source();
    }
    last
}

/// Certificates from PEM text, each checked by making it a trust root of an
/// HTTP client, as every Drupal client will: for `drupal.ca_file`.
pub fn trust_roots(pem: &[u8]) -> Result<Vec<reqwest::Certificate>, String> {
    let certificates = reqwest::Certificate::from_pem_bundle(pem)
        .map_err(|e| format!("not PEM: {}", innermost(&e)))?;
    if certificates.is_empty() {
        return Err("holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into());
    }
    for certificate in &certificates {
        reqwest::Client::builder()
            .add_root_certificate(certificate.clone())
            .build()
            .map_err(|e| format!("a certificate in it is not usable ({})", innermost(&e)))?;
    }
    Ok(certificates)
}

/// What a call's answer is read as: any JSON ([`Value`]), or a document
/// of a known shape parsed straight from the bytes.
trait Answer: serde::de::DeserializeOwned + Send {
    /// The answer to a success without a body (`204 No Content`).
    fn no_content() -> Self;
    /// Whether the parsed answer is JSON `null`, which counts as no body.
    fn is_null(&self) -> bool;
    /// Whether Drupal sent user data with only `display_name`, as it does
    /// to anonymous callers.
    fn is_stripped_user_data(&self) -> bool;
    /// Whether Drupal sent user data with the `name` anonymous callers
    /// never see: the request ran as the bridge's account.
    fn shows_user_data(&self) -> bool;
    /// Whether the answer is a collection with no item: all an anonymous
    /// caller gets for a filter on a field it may not see (`name`, `mail`),
    /// so it tells nothing of the login.
    fn is_empty_collection(&self) -> bool;
    /// A made-up answer (dry run) as this kind.
    fn from_value(value: Value) -> Result<Self, DrupalError>;
    /// The answer read from Drupal's bytes.
    fn from_slice(bytes: &[u8]) -> serde_json::Result<Self> {
        serde_json::from_slice(bytes)
    }
}

impl Answer for Value {
    fn no_content() -> Self {
        Value::Null
    }
    fn is_null(&self) -> bool {
        Value::is_null(self)
    }
    fn is_stripped_user_data(&self) -> bool {
        is_stripped_user_data(self)
    }
    fn shows_user_data(&self) -> bool {
        shows_user_data(self)
    }
    fn is_empty_collection(&self) -> bool {
        is_empty_collection(self)
    }
    fn from_value(value: Value) -> Result<Self, DrupalError> {
        Ok(value)
    }
}

impl Answer for UserDocument {
    fn no_content() -> Self {
        UserDocument::default()
    }
    fn is_null(&self) -> bool {
        false
    }
    fn is_stripped_user_data(&self) -> bool {
        self.is_stripped_user()
    }
    fn shows_user_data(&self) -> bool {
        self.shows_user()
    }
    fn is_empty_collection(&self) -> bool {
        false
    }
    fn from_value(value: Value) -> Result<Self, DrupalError> {
        serde_json::from_value(value)
            .map_err(|_| DrupalError::Protocol("a user document of an unexpected shape".into()))
    }
    fn from_slice(bytes: &[u8]) -> serde_json::Result<Self> {
        UserDocument::from_slice(bytes)
    }
}

fn not_json(status: StatusCode) -> DrupalError {
    DrupalError::Unreadable(format!("an answer with status {status} that is not JSON"))
}

/// A `Retry-After` header in seconds: its delay-seconds form, or its
/// HTTP-date form as the seconds from now (RFC 9110 §10.2.3).
fn retry_after(headers: &HeaderMap) -> Option<u64> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(secs);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .map_or(0, |d| d.as_secs()),
    )
}

#[cfg(test)]
fn classify<T: Answer>(status: StatusCode, is_html: bool, bytes: &[u8]) -> Result<T, DrupalError> {
    classify_with(status, is_html, None, bytes)
}

fn classify_with<T: Answer>(
    status: StatusCode,
    is_html: bool,
    retry_after: Option<u64>,
    bytes: &[u8],
) -> Result<T, DrupalError> {
    if status.is_success() {
        let body = if bytes.is_empty() || is_html {
            None
        } else {
            Some(T::from_slice(bytes).map_err(|_| not_json(status))?)
        };
        return match body.filter(|b| !b.is_null()) {
            Some(body) => Ok(body),
            None if status == StatusCode::NO_CONTENT => Ok(T::no_content()),
            None => Err(DrupalError::Unreadable(format!(
                "an empty or HTML answer with status {status}"
            ))),
        };
    }
    let body: Value = if bytes.is_empty() || is_html {
        Value::Null
    } else {
        serde_json::from_slice(bytes).map_err(|_| not_json(status))?
    };
    let mut errors = document::api_errors(&body);
    for error in &mut errors {
        if let std::borrow::Cow::Owned(cut) =
            crate::untrusted::cut(&error.detail, DRUPAL_DETAIL_CHARS)
        {
            error.detail = cut;
        }
    }
    let detail = errors
        .first()
        .map(|e| e.detail.clone())
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_string());
    if matches!(status.as_u16(), 400 | 422) {
        if let Some(changed) = errors.iter().find(|e| error::is_entity_changed(&e.detail)) {
            return Err(DrupalError::EntityChanged(changed.detail.clone()));
        }
    }
    Err(match status.as_u16() {
        404 if is_html => DrupalError::Protocol(
            "Drupal answered an HTML 404: is the JSON:API module enabled and the base URL right?"
                .into(),
        ),
        404 => DrupalError::NotFound,
        401 => DrupalError::Credentials(format!("Drupal answered 401 ({detail})")),
        403 => DrupalError::Forbidden(detail),
        405 if detail.contains("only read operations") => DrupalError::ReadOnly,
        422 => DrupalError::Validation(errors),
        429 | 500..=599 => DrupalError::Server {
            status: status.as_u16(),
            detail,
            retry_after,
        },
        s => DrupalError::Rejected { status: s, detail },
    })
}

/// Whether a collection's `links.next` says more items exist. Only that
/// is taken from it: the next page's query is the bridge's own
/// ([`CollectionQuery::next_page`]), never the link's.
fn has_next(body: &Value) -> bool {
    body.get("links")
        .and_then(|l| l.get("next"))
        .and_then(|n| n.get("href"))
        .is_some_and(Value::is_string)
}

/// The ids already read in one read of a collection (every page of it):
/// an item Drupal sends twice, in one page or two, counts once.
#[derive(Debug, Default)]
pub struct Distinct(std::collections::HashSet<String>);

impl Distinct {
    /// Drops from `items` those whose id (by `id`, ignoring ASCII case)
    /// was read before, or comes twice; logs how many (`op` names the
    /// read). The number dropped.
    pub fn keep_new<T>(
        &mut self,
        items: &mut Vec<T>,
        id: impl Fn(&T) -> &str,
        op: &'static str,
    ) -> usize {
        let before = items.len();
        items.retain(|item| self.0.insert(id(item).to_ascii_lowercase()));
        let dropped = before - items.len();
        if dropped > 0 {
            tracing::warn!(
                target: "drupal",
                op,
                repeated = dropped,
                "Drupal's collection listed an item more than once: it counts once"
            );
        }
        dropped
    }
}

/// The user Drupal answered a request about the account `id` with, which
/// must be that account: an answer holding another (another id, or not a
/// user) is broken, and taking it would show or write the wrong account.
/// (`what` names the request, for the error.)
/// The type of a relationship's items as a write names them (`""` when it
/// names none: an empty list).
fn item_type(relationship: &Value) -> &str {
    let data = relationship.get("data");
    let item = match data {
        Some(Value::Array(items)) => items.first(),
        other => other,
    };
    item.and_then(|i| i.get("type"))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn the_user_asked(body: UserDocument, id: &str, what: &str) -> Result<DrupalUser, DrupalError> {
    let kind = body.resource_type().map(str::to_string);
    let user = body.into_user().ok_or_else(no_user_data)?;
    if kind.as_deref() != Some(document::USER_TYPE) || !user.id.eq_ignore_ascii_case(id) {
        return Err(another_resource(
            &format!("{what} of the user"),
            id,
            "another resource",
            kind.as_deref().unwrap_or_default(),
            &user.id,
        ));
    }
    Ok(user)
}

/// The error for an answer about another resource than the one `about`
/// (e.g. "a read of the user") named `id` asked for, logged with what it
/// held instead (`instead` says it to the IdP): the answer is not used.
/// Users' and terms' answers are checked alike.
pub(super) fn another_resource(
    about: &str,
    id: &str,
    instead: &str,
    answered_type: &str,
    answered_id: &str,
) -> DrupalError {
    tracing::error!(
        target: "drupal",
        asked = %crate::untrusted::quote(id),
        answered_type = %crate::untrusted::quote(answered_type),
        answered_id = %crate::untrusted::quote(answered_id),
        "Drupal's answer is about another resource than the one asked for: refused"
    );
    DrupalError::Protocol(format!(
        "Drupal answered {about} {} with {instead}; the answer is not used",
        crate::untrusted::quote(id),
    ))
}

fn no_user_data() -> DrupalError {
    DrupalError::Protocol("a user document without data".into())
}

/// Percent-encodes query pairs as Drupal's own links do (brackets encoded).
/// `key=value` pairs joined by `&`, every byte but ASCII letters, digits
/// and `-_.~` percent-encoded (as Drupal writes its own links). Written
/// into one string: a list lookup has some twenty pairs.
fn encode_query(pairs: &[(String, String)]) -> String {
    let plain: usize = pairs.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
    let mut out = String::with_capacity(plain * 2);
    for (k, v) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        push_encoded(&mut out, k);
        out.push('=');
        push_encoded(&mut out, v);
    }
    out
}

fn push_encoded(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &byte in text.as_bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(base_url: &str) -> DrupalClient {
        DrupalClient::new(DrupalConnection {
            base_url: base_url.into(),
            auth: DrupalAuth::Basic {
                username: "u".into(),
                password: crate::secret::Secret::new("p"),
            },
            timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(1),
            ca_certificates: Vec::new(),
            limits: DrupalLimits::default(),
        })
        .unwrap()
    }

    #[test]
    fn request_urls_are_the_base_url_with_path_and_query_as_a_parse_makes_them() {
        for base in [
            "http://127.0.0.1:8080",
            "https://drupal.example.org/",
            "https://example.org/sites/drupal",
            "https://example.org/sites/drupal/",
        ] {
            let client = client(base);
            for path in [
                "/jsonapi/user/user/5b0c1e8e-0b49-4bd4-9b1b-53c3e38c0a4c",
                "/jsonapi/user/user?filter%5Bname%5D=a%20b%2Bc%40x&page%5Blimit%5D=50",
                "/jsonapi/user/user?filter[name]=é ü",
                "/jsonapi",
            ] {
                let parsed =
                    reqwest::Url::parse(&format!("{}{path}", base.trim_end_matches('/'))).unwrap();
                assert_eq!(client.url(path), parsed, "{base} + {path}");
            }
        }
    }

    #[test]
    fn queries_are_encoded_like_drupal_links() {
        let q = encode_query(&[("filter[name]".into(), "a b+c@x".into())]);
        assert_eq!(q, "filter%5Bname%5D=a%20b%2Bc%40x");
        assert_eq!(encode_query(&[]), "");
        assert_eq!(
            encode_query(&[("a".into(), "".into()), ("é&=".into(), "~x".into())]),
            "a=&%C3%A9%26%3D=~x"
        );
    }

    proptest::proptest! {
        /// The same text as the percent_encoding crate's encoder gives.
        #[test]
        fn queries_are_encoded_as_percent_encoding_does(
            pairs in proptest::collection::vec((".{0,12}", ".{0,24}"), 0..6)
        ) {
            use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
            const QUERY: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
            let expected = pairs
                .iter()
                .map(|(k, v)| format!("{}={}", utf8_percent_encode(k, QUERY), utf8_percent_encode(v, QUERY)))
                .collect::<Vec<_>>()
                .join("&");
            proptest::prop_assert_eq!(encode_query(&pairs), expected);
        }
    }

    /// A single-user document read as any JSON, as the bridge read it before
    /// [`UserDocument`].
    fn user_from_document(mut body: Value) -> Result<DrupalUser, DrupalError> {
        body.get_mut("data")
            .map(Value::take)
            .and_then(DrupalUser::from_resource)
            .ok_or_else(no_user_data)
    }

    /// The body of a recorded real-Drupal answer.
    fn recorded_body(case: &str) -> Vec<u8> {
        let path = format!(
            "{}/tests/fixtures/drupal-jsonapi/cases/{case}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let recorded: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        serde_json::to_vec(&recorded["response"]["body"]).unwrap()
    }

    #[test]
    fn a_user_document_read_typed_is_the_user_read_as_any_json() {
        for (case, stripped) in [
            ("020-get-user-by-uuid", false),
            ("021-get-user-include-roles", false),
            ("123-get-user-anonymous", true),
            ("147-get-anonymous-user-entity", true),
        ] {
            let bytes = recorded_body(case);
            let typed = classify::<UserDocument>(StatusCode::OK, false, &bytes).unwrap();
            let any = classify::<Value>(StatusCode::OK, false, &bytes).unwrap();
            assert_eq!(typed.is_stripped_user_data(), stripped, "{case}");
            assert_eq!(is_stripped_user_data(&any), stripped, "{case}");
            let user = typed.into_user().unwrap();
            assert_eq!(
                user.relationships.contains_key("roles"),
                !stripped,
                "{case}"
            );
            assert_eq!(user, user_from_document(any).unwrap(), "{case}");
            assert_eq!(user.is_stripped(), stripped, "{case}");
        }
    }

    #[test]
    fn a_user_documents_relationships_keep_data_and_meta_but_not_links() {
        let body = br#"{"data": {"type": "user--user", "id": "x", "attributes": {"name": "a"},
            "relationships": {
                "roles": {"data": [{"type": "user_role--user_role", "id": "r1",
                    "meta": {"drupal_internal__target_id": "editor"}}],
                    "links": {"self": {"href": "http://d/x/relationships/roles"}}},
                "field_manager": {"data": null, "meta": {"m": 1}, "links": {}},
                "odd": [1, "two", null, {"links": 3}]
            }}}"#;
        let typed = classify::<UserDocument>(StatusCode::OK, false, body).unwrap();
        let user = typed.into_user().unwrap();
        assert!(user.has_role("editor"));
        assert_eq!(
            Value::Object(user.relationships),
            serde_json::json!({
                "roles": {"data": [{"type": "user_role--user_role", "id": "r1",
                    "meta": {"drupal_internal__target_id": "editor"}}]},
                "field_manager": {"data": null, "meta": {"m": 1}},
                "odd": [1, "two", null, {"links": 3}]
            })
        );
        for odd in [&br#"[1, {"a": 2}]"#[..], b"null", b"3", b"\"s\""] {
            let body = [
                &br#"{"data": {"id": "x", "attributes": {"name": "a"}, "relationships": "#[..],
                odd,
                b"}}",
            ]
            .concat();
            let typed = classify::<UserDocument>(StatusCode::OK, false, &body).unwrap();
            assert!(typed.into_user().unwrap().relationships.is_empty());
        }
    }

    #[test]
    fn user_documents_of_unexpected_shapes_are_refused_as_before() {
        for body in [
            &br#"{"data": null}"#[..],
            br#"{"data": {"type": "user--user", "attributes": {"name": "a"}}}"#,
            br#"{"data": {"id": 5}}"#,
            br#"{"jsonapi": {}}"#,
        ] {
            let typed = classify::<UserDocument>(StatusCode::OK, false, body).unwrap();
            assert!(typed.into_user().is_none());
            let any = classify::<Value>(StatusCode::OK, false, body).unwrap();
            assert!(user_from_document(any).is_err());
        }
        assert!(matches!(
            classify::<UserDocument>(StatusCode::OK, false, b"[1]"),
            Err(DrupalError::Unreadable(_))
        ));
        assert!(matches!(
            classify::<UserDocument>(StatusCode::OK, true, b"<html>"),
            Err(DrupalError::Unreadable(_))
        ));
        // Attributes that are not an object read as none: a stripped user.
        let odd = br#"{"data": {"type": "user--user", "id": "x", "attributes": []}}"#;
        let typed = classify::<UserDocument>(StatusCode::OK, false, odd).unwrap();
        assert!(typed.is_stripped_user_data());
        assert!(is_stripped_user_data(&serde_json::from_slice(odd).unwrap()));
        assert!(typed.into_user().unwrap().is_stripped());
    }

    #[test]
    fn answers_are_classified_into_typed_errors() {
        let read_only = br#"{"errors":[{"status":"405","detail":"JSON:API is configured to accept only read operations. Site administrators can configure this at x."}]}"#;
        assert!(matches!(
            classify::<Value>(StatusCode::METHOD_NOT_ALLOWED, false, read_only),
            Err(DrupalError::ReadOnly)
        ));
        assert!(matches!(
            classify::<Value>(StatusCode::NOT_FOUND, true, b"<html>"),
            Err(DrupalError::Protocol(_))
        ));
        assert!(matches!(
            classify::<Value>(StatusCode::SERVICE_UNAVAILABLE, false, b""),
            Err(DrupalError::Server { status: 503, .. })
        ));
        assert!(matches!(
            classify::<Value>(StatusCode::NO_CONTENT, false, b""),
            Ok(Value::Null)
        ));
        assert!(matches!(
            classify::<Value>(StatusCode::OK, false, b"not json"),
            Err(DrupalError::Unreadable(_))
        ));
    }

    /// Drupal's EntityChanged constraint, as a JSON:API write answers it
    /// when another save of the entity came between its load and its save
    /// (seen on Drupal 10.2.6 as a 400; a 422 is read the same).
    #[test]
    fn the_entity_changed_refusal_is_its_own_error_and_retried_even_for_writes() {
        let message = "The content has either been modified by another user, or you have already submitted modifications. As a result, your changes cannot be saved.";
        for status in [StatusCode::BAD_REQUEST, StatusCode::UNPROCESSABLE_ENTITY] {
            let body = serde_json::json!({"jsonapi": {"version": "1.0"}, "errors": [{
                "title": "Bad Request", "status": status.as_str(), "detail": message,
            }]});
            let answer = classify::<Value>(status, false, body.to_string().as_bytes());
            match answer {
                Err(DrupalError::EntityChanged(detail)) => assert_eq!(detail, message),
                other => panic!("{status}: {other:?}"),
            }
        }
        let other = br#"{"errors":[{"status":"400","detail":"Syntax error"}]}"#;
        assert!(matches!(
            classify::<Value>(StatusCode::BAD_REQUEST, false, other),
            Err(DrupalError::Rejected { status: 400, .. })
        ));
        let changed = DrupalError::EntityChanged(message.into());
        assert!(
            !changed.is_transient(),
            "not Drupal failing: no breaker count"
        );
        let policy = resilience::RetryPolicy::new(2, Duration::from_millis(1));
        let far = Instant::now() + Duration::from_secs(10);
        for method in [Method::PATCH, Method::POST, Method::DELETE] {
            assert!(
                policy.pause(&method, &changed, 1, far).is_some(),
                "{method}"
            );
        }
        assert!(policy.pause(&Method::PATCH, &changed, 3, far).is_none());
    }
}
