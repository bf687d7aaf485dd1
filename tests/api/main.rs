//! Integration tests: the real bridge on a random port, in front of the
//! in-process Drupal stand-in, called over HTTP as an identity provider would.

mod deprovision;
mod drupal_failures;
mod groups;
mod helpers;
mod idp_flows;
mod users;
