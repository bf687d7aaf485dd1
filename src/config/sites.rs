//! `sites:` and `defaults:`: many Drupal sites behind one bridge. Each entry
//! of `sites:` is the settings of one site (everything a single-site file
//! holds at its top level except `listen`), laid over the `defaults:` block
//! key by key, so that a 100-site file names only what differs per site.
//! Without `sites:` the top level is the one site, served at `/scim/v2`.

use config::{Map, Value, ValueKind};

use super::ConfigError;

/// The settings of one site, before they are resolved: the site's entry of
/// `sites:` laid over `defaults:`, without its `id`.
#[derive(Debug)]
pub(super) struct SiteEntry {
    pub id: String,
    pub value: Value,
}

/// Longest site id: it is one segment of a URL and of every log line.
const MAX_ID_LEN: usize = 63;

/// The entries of `sites:`, each merged with `defaults:`.
pub(super) fn entries(
    sites: Vec<Value>,
    defaults: Option<Value>,
) -> Result<Vec<SiteEntry>, ConfigError> {
    if sites.is_empty() {
        return Err(ConfigError::Invalid(
            "sites: the list is empty; name at least one site, or write the one site's settings at the top level without sites:".into(),
        ));
    }
    let defaults = match defaults {
        Some(d) => d.into_table().map_err(|_| {
            ConfigError::Invalid("defaults: must be a block of settings (key: value)".into())
        })?,
        None => Map::new(),
    };
    let mut seen: Vec<String> = Vec::new();
    let mut entries = Vec::with_capacity(sites.len());
    for (n, site) in sites.into_iter().enumerate() {
        let mut table = site.into_table().map_err(|_| {
            ConfigError::Invalid(format!(
                "sites[{n}]: must be a block of settings starting with `id:`"
            ))
        })?;
        let id = match table.remove("id") {
            Some(v) => v.into_string().map_err(|_| {
                ConfigError::Invalid(format!("sites[{n}].id: must be text like `physics`"))
            })?,
            None => {
                return Err(ConfigError::Invalid(format!(
                    "sites[{n}]: has no id; give each site a short id such as `physics` (it names the site's URL /sites/<id>/scim/v2)"
                )))
            }
        };
        check_id(&id)
            .map_err(|why| ConfigError::Invalid(format!("sites[{n}].id: {id:?} {why}")))?;
        if seen.contains(&id) {
            return Err(ConfigError::Invalid(format!(
                "sites[{n}].id: {id:?} is used by two sites; each site needs its own id"
            )));
        }
        seen.push(id.clone());
        let value = Value::new(None, ValueKind::Table(merge(defaults.clone(), table)));
        entries.push(SiteEntry { id, value });
    }
    Ok(entries)
}

/// `[a-z0-9-]+`, at most 63 characters, not starting or ending with `-`,
/// and not `none`, the `site` label of requests that reach no site.
fn check_id(id: &str) -> Result<(), &'static str> {
    if id == crate::metrics::NO_SITE {
        return Err("is reserved: metrics label requests that reach no site with it");
    }
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err("must be 1 to 63 characters long");
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err("may hold only lowercase letters, digits and '-'");
    }
    if id.starts_with('-') || id.ends_with('-') {
        return Err("may not start or end with '-'");
    }
    Ok(())
}

/// Keys that give one secret two ways (`drupal.auth`): a site giving one
/// of them replaces the default's other, so that a site can keep its own
/// password in a file while `defaults:` gives one inline, or the reverse.
const ONE_SECRET: [(&str, &str); 2] = [
    ("password", "password_file"),
    ("client_secret", "client_secret_file"),
];

/// `site` laid over `defaults`: blocks merge key by key, at any depth; any
/// other value (text, number, list) of the site replaces the default whole,
/// and one form of a secret replaces the other (see [`ONE_SECRET`]).
pub(super) fn merge(
    mut defaults: Map<String, Value>,
    site: Map<String, Value>,
) -> Map<String, Value> {
    for key in site.keys() {
        for (inline, file) in ONE_SECRET {
            if key == inline {
                defaults.remove(file);
            } else if key == file {
                defaults.remove(inline);
            }
        }
    }
    for (key, value) in site {
        let merged = match (defaults.remove(&key), value) {
            (
                Some(Value {
                    kind: ValueKind::Table(base),
                    ..
                }),
                Value {
                    kind: ValueKind::Table(over),
                    ..
                },
            ) => Value::new(None, ValueKind::Table(merge(base, over))),
            (_, value) => value,
        };
        defaults.insert(key, merged);
    }
    defaults
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_label_of_requests_without_a_site_is_no_site_id() {
        assert!(super::check_id("none").is_err());
        assert!(super::check_id("none-2").is_ok());
    }

    use super::*;

    fn table(yaml: &str) -> Value {
        config::Config::builder()
            .add_source(config::File::from_str(yaml, config::FileFormat::Yaml))
            .build()
            .unwrap()
            .try_deserialize::<Value>()
            .unwrap()
    }

    #[test]
    fn a_sites_own_form_of_a_secret_replaces_the_defaults_other_form() {
        let defaults = table("drupal:\n  auth:\n    username: bridge\n    password: inline\n");
        let site = table(
            "id: physics\ndrupal:\n  base_url: https://p.example.org\n  auth:\n    password_file: /run/secrets/p\n",
        );
        let entries = entries(vec![site], Some(defaults)).unwrap();
        let merged = entries[0].value.clone().into_table().unwrap();
        let drupal = merged["drupal"].clone().into_table().unwrap();
        let auth = drupal["auth"].clone().into_table().unwrap();
        assert!(auth.contains_key("password_file"), "{auth:?}");
        assert!(!auth.contains_key("password"), "{auth:?}");
        assert!(auth.contains_key("username"), "{auth:?}");
    }

    #[test]
    fn a_site_overrides_defaults_key_by_key_and_lists_whole() {
        let defaults = table(
            "drupal:\n  timeout_secs: 5\n  auth:\n    username: bridge\n    password: pw\nprotected_roles: [administrator, editor]\n",
        );
        let site = table(
            "id: physics\ndrupal:\n  base_url: https://physics.example.org\n  auth:\n    password: other\nprotected_roles: [webmaster]\n",
        );
        let entries = entries(vec![site], Some(defaults)).unwrap();
        assert_eq!(entries[0].id, "physics");
        let merged = entries[0].value.clone().into_table().unwrap();
        let drupal = merged["drupal"].clone().into_table().unwrap();
        assert_eq!(drupal["timeout_secs"].clone().into_int().unwrap(), 5);
        assert_eq!(
            drupal["base_url"].clone().into_string().unwrap(),
            "https://physics.example.org"
        );
        let auth = drupal["auth"].clone().into_table().unwrap();
        assert_eq!(auth["username"].clone().into_string().unwrap(), "bridge");
        assert_eq!(auth["password"].clone().into_string().unwrap(), "other");
        let roles = merged["protected_roles"].clone().into_array().unwrap();
        assert_eq!(roles.len(), 1, "a site's list replaces the default list");
        assert!(!merged.contains_key("id"));
    }

    #[test]
    fn ids_are_checked_and_unique() {
        let err = |yaml: &str| {
            let sites = yaml.split("---").map(table).collect();
            match entries(sites, None) {
                Err(e) => e.to_string(),
                Ok(_) => String::new(),
            }
        };
        assert!(err("id: Physics").contains("lowercase"));
        assert!(err("id: a/b").contains("lowercase"));
        assert!(err("id: -a").contains("start or end"));
        assert!(err("mapping: x").contains("has no id"));
        assert!(err("id: a\n---\nid: a").contains("used by two sites"));
        assert_eq!(err("id: chem-2\n---\nid: bio"), "");
        assert!(entries(vec![], None)
            .unwrap_err()
            .to_string()
            .contains("empty"));
    }
}
