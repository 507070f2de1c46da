//! The runtime core (layer 6): [`Runtime`], one connected codex app-server spoken to in raw
//! JSON-RPC (`call`, `notify`, `subscribe`, `respond`), its [`RuntimeConfig`], where it
//! connects ([`Endpoint`]), how it restarts a crashed server ([`RestartPolicy`]) and what the
//! handshake returned ([`InitializeInfo`]). Re-exported from `crate::runtime::raw`.

pub use crate::runtime::raw::{
    Endpoint, InitializeInfo, RestartPolicy, Runtime, RuntimeConfig, MIN_CODEX_VERSION,
};
