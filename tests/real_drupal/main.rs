//! Tests against a real Drupal 10 site, brought up by
//! `scripts/real-drupal up` (which writes its URL and credentials to
//! target/real-drupal/<db>/env). Without those variables each test says
//! so and passes, so plain `cargo test` works anywhere; scripts/test sets
//! `REAL_DRUPAL_REQUIRED=1`, under which a missing site fails.

// Not production code: a failed unwrap is a failed run or test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// The stand-in tests' helpers (Answer, read, fixtures, mappings); not all
// of them are used here.
#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;

mod differential;
mod e2e;
mod faults;
mod fixtures;
#[path = "../common/flows.rs"]
mod flows;
mod permissions;
mod probe;
mod site;
mod term_groups;
mod unread_writes;
