//! The SDK's entry points, layer by layer, in one place: [`quick_run`] (layer 1),
//! [`Workflow`] (layer 2), [`Client`] and [`Session`] (layer 3), [`AppServer`] (layer 5) and the
//! settings they take. Re-exported from where they live (`crate::workflow`,
//! `crate::runtime::{client, session, profile}`, `crate::app_server`); the raw layer 6 is in
//! [`super::core`].

pub use crate::app_server::AppServer;
pub use crate::runtime::client::{Client, ClientConfig};
pub use crate::runtime::profile::{
    ApprovalMode, Attachment, Effort, RunProfile, Sandbox, TurnOverrides,
};
pub use crate::runtime::session::{Session, SessionConfig};
pub use crate::workflow::{quick_run, quick_run_with_profile, RunOutput, Workflow, WorkflowConfig};
