//! Integration tests: the real bridge on a random port, in front of the
//! in-process Drupal stand-in, called over HTTP as an identity provider would.

mod bulk;
mod deprovision;
mod discovery;
mod drupal_failures;
mod helpers;
mod patch;
mod queries;
mod users;
mod versions;
