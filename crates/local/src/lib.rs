//! The local stack: the emulator's lifecycle, idempotent provisioning, the demo form, and every
//! route of every function served on one loopback port. What runs here is the code that ships:
//! the server only turns hyper requests into lambda_http requests and calls the same handlers.

pub mod dev;
pub mod emulator;
pub mod envfile;
pub mod notifier_loop;
pub mod provision;
pub mod server;
pub mod ses_events_loop;
