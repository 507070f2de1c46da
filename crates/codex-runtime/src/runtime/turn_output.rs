//! What one turn produced: [`TurnOutput`] (also a workflow's [`RunOutput`]) and the protocol
//! types it is made of ([`ThreadItem`], [`ThreadTokenUsage`], [`TurnError`], [`TurnPlanStep`],
//! [`TurnStatus`]). Re-exported from `crate::runtime::turn`, `crate::workflow` and the protocol
//! crate.

pub use crate::runtime::turn::TurnOutput;
pub use crate::workflow::RunOutput;
pub use codex_runtime_protocol::{
    ThreadItem, ThreadTokenUsage, TurnError, TurnPlanStep, TurnStatus,
};
