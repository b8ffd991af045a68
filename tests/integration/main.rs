//! One integration-test binary against the emulator (started once by `make test`). Test names are
//! sentences; where a test shows a legal rule, its name starts with the rule's id from docs/legal.md.

mod access;
mod breach_roles;
mod breaches;
mod browser;
mod choices;
mod cli;
mod console;
mod controller;
mod decisions;
mod demo;
mod docs;
mod events;
mod faults;
mod hostile;
mod incidents;
mod infra;
mod intake;
mod labels;
mod links;
mod logs;
mod notices;
mod openapi;
mod operator;
mod processors;
mod proofs;
mod records;
mod rectification;
mod requests;
mod restriction;
mod retention;
mod ses_events;
mod webhooks;
