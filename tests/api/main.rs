//! Integration tests: the real bridge on a random port, in front of the
//! in-process Drupal stand-in, called over HTTP as an identity provider would.

// A test crate: a failed unwrap is a failed test (clippy.toml allows
// them in #[test] functions; this extends that to the helpers).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod account_writes;
mod adaptive_limit;
mod bulk;
mod clients;
mod coalesced_lookups;
mod custom_schemas;
mod deadlines;
mod deprovision;
mod discovery;
mod drupal_auth;
mod drupal_failures;
mod dry_run;
#[path = "../common/flows.rs"]
mod flows;
mod forwarded;
mod framework_errors;
mod fuzz;
mod group_etags;
mod groups;
mod hardening;
mod helpers;
mod hostile_drupal;
mod idp_flows;
mod jwt;
mod monitoring;
mod own_account;
mod patch;
mod permissions;
mod presets;
mod protocol;
mod queries;
mod quirks;
mod reload;
mod resilience;
mod round_trips;
mod routing;
mod secrets;
mod seen_accounts;
mod sites;
mod status_browser;
mod term_group_member_races;
mod term_group_races;
mod term_groups;
mod tls;
mod turn_waits;
mod unread_writes;
mod users;
mod versions;
