//! The HTTP API (`npp serve`): channels create payments, operators work the queue and decide
//! maker-checker requests, auditors take evidence packs. axum on tokio; the synchronous
//! application layer is reached off the runtime's threads (payment commands through the
//! coalescing queue, everything else on the blocking pool). Identity comes from API keys
//! (`keys`), never from a request field. Errors are RFC 9457 problem details (`problem`). The
//! OpenAPI document is generated from the handlers (`openapi`).

mod console_routes;
pub mod deliver;
pub mod error;
mod index;
pub mod intent;
pub mod keys;
pub mod metrics;
pub mod openapi;
pub mod problem;
mod queue;
mod request_id;
mod routes;
pub mod server;
pub mod state;
pub mod stats;
mod timeline;
pub mod views;
mod webhook_routes;
pub mod webhooks;

pub use deliver::WebhookConfig;
pub use error::{KeysError, ServeError};
pub use index::PaymentIndex;
pub use keys::{Caller, KeyFile, KeyRing, Role};
pub use server::{OrchestratorSetup, Setup, run};
pub use state::Limits;
