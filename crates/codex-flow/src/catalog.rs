//! Discovery: finding flow packages under the roots and loading them (paths checked, trigger
//! schemas compiled once).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::error::{FlowError, Result};
use crate::manifest::{FlowManifest, StepManifest, MANIFEST_FILE};
use crate::paths::{resolve_inside, PathProblem};
use crate::payload_schema::PayloadSchema;

/// The default discovery roots under `cwd`, in precedence order: `<cwd>/.codex/flows` (installed
/// flows), then `<cwd>/flows` (source flows).
pub fn default_roots(cwd: &Path) -> Vec<PathBuf> {
    vec![cwd.join(".codex").join("flows"), cwd.join("flows")]
}

/// A loaded flow package.
#[derive(Debug)]
pub struct LoadedFlow {
    /// The parsed manifest.
    pub manifest: FlowManifest,
    /// The canonical flow folder.
    pub root: PathBuf,
    /// The manifest file.
    pub manifest_path: PathBuf,
    /// The steps, in manifest order.
    pub steps: Vec<LoadedStep>,
}

impl LoadedFlow {
    /// The flow's name.
    pub fn name(&self) -> &str {
        &self.manifest.name
    }

    /// The step named `name`.
    pub fn step(&self, name: &str) -> Option<&LoadedStep> {
        self.steps.iter().find(|s| s.manifest.name == name)
    }

    /// Loads the flow folder `dir` (which holds a `flow.toml`).
    pub fn load(dir: &Path) -> Result<Self> {
        let manifest_path = dir.join(MANIFEST_FILE);
        let manifest = FlowManifest::load(&manifest_path)?;
        let root = dir.canonicalize().map_err(|e| {
            FlowError::io(format!("cannot resolve flow folder {}", dir.display()), e)
        })?;
        let mut schema_cache: HashMap<PathBuf, Arc<PayloadSchema>> = HashMap::new();
        let mut steps = Vec::with_capacity(manifest.steps.len());
        for (i, step) in manifest.steps.iter().enumerate() {
            let resolve = |field: &str, value: &str| -> Result<PathBuf> {
                resolve_inside(&root, value).map_err(|problem| match problem {
                    PathProblem::Escapes => FlowError::PathEscape {
                        manifest: manifest_path.clone(),
                        field: format!("steps[{i}].{field}"),
                        value: value.to_string(),
                        root: root.clone(),
                    },
                    PathProblem::Empty => FlowError::Manifest {
                        path: manifest_path.clone(),
                        field: format!("steps[{i}].{field}"),
                        message: "must not be blank".into(),
                    },
                    PathProblem::Missing(e) => FlowError::Manifest {
                        path: manifest_path.clone(),
                        field: format!("steps[{i}].{field}"),
                        message: format!("`{value}` not found in the flow folder: {e}"),
                    },
                })
            };
            let script_path = resolve("script", &step.script)?;
            if !script_path.is_file() {
                return Err(FlowError::Manifest {
                    path: manifest_path.clone(),
                    field: format!("steps[{i}].script"),
                    message: format!("`{}` is not a file", step.script),
                });
            }
            let cwd = match &step.cwd {
                Some(cwd) => {
                    let p = resolve("cwd", cwd)?;
                    if !p.is_dir() {
                        return Err(FlowError::Manifest {
                            path: manifest_path.clone(),
                            field: format!("steps[{i}].cwd"),
                            message: format!("`{cwd}` is not a directory"),
                        });
                    }
                    p
                }
                None => root.clone(),
            };
            let schema = match step.trigger.as_ref().and_then(|t| t.schema.as_deref()) {
                Some(rel) => {
                    let path = resolve("trigger.schema", rel)?;
                    let compiled = match schema_cache.get(&path) {
                        Some(s) => s.clone(),
                        None => {
                            let s = Arc::new(PayloadSchema::load(&path)?);
                            schema_cache.insert(path, s.clone());
                            s
                        }
                    };
                    Some(compiled)
                }
                None => None,
            };
            steps.push(LoadedStep {
                manifest: step.clone(),
                script_path,
                cwd,
                timeout: Duration::from_millis(step.timeout_ms()),
                schema,
            });
        }
        Ok(LoadedFlow {
            manifest,
            root,
            manifest_path,
            steps,
        })
    }
}

/// A loaded step: paths resolved inside the flow folder, schema compiled.
#[derive(Debug)]
pub struct LoadedStep {
    /// The step's manifest entry.
    pub manifest: StepManifest,
    /// The canonical step file.
    pub script_path: PathBuf,
    /// The canonical working directory.
    pub cwd: PathBuf,
    /// The effective timeout.
    pub timeout: Duration,
    /// The compiled trigger schema, shared by steps naming the same file.
    pub schema: Option<Arc<PayloadSchema>>,
}

impl LoadedStep {
    /// The step's name.
    pub fn name(&self) -> &str {
        &self.manifest.name
    }
}

/// A flow that was not used because an earlier flow of the same name won.
#[derive(Debug, Clone)]
pub struct ShadowedFlow {
    /// The flow name.
    pub name: String,
    /// The losing flow folder.
    pub root: PathBuf,
    /// The winning flow folder.
    pub winner: PathBuf,
}

/// What discovery found: the usable catalog plus every problem (one per broken flow folder).
#[derive(Debug)]
pub struct Discovery {
    /// Flows that loaded.
    pub catalog: FlowCatalog,
    /// Flow folders that failed to load, with the error.
    pub problems: Vec<(PathBuf, FlowError)>,
}

/// The discovered flows, in discovery order, indexed by trigger event type. Cloning shares the
/// loaded flows.
#[derive(Debug, Clone, Default)]
pub struct FlowCatalog {
    flows: Vec<Arc<LoadedFlow>>,
    shadowed: Vec<ShadowedFlow>,
    by_type: HashMap<String, Vec<(usize, usize)>>,
}

impl FlowCatalog {
    /// Discovers flows under `roots` (in order; folders of a root in sorted order; first flow of
    /// a name wins), collecting broken flows as problems instead of failing.
    pub fn discover(roots: &[PathBuf]) -> Discovery {
        let mut flows: Vec<Arc<LoadedFlow>> = Vec::new();
        let mut shadowed = Vec::new();
        let mut problems = Vec::new();
        let mut seen: HashMap<String, PathBuf> = HashMap::new();
        for root in roots {
            let entries = match std::fs::read_dir(root) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    problems.push((
                        root.clone(),
                        FlowError::io(format!("cannot list flow root {}", root.display()), e),
                    ));
                    continue;
                }
            };
            let mut dirs: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_dir() && p.join(MANIFEST_FILE).is_file())
                .collect();
            dirs.sort();
            for dir in dirs {
                match LoadedFlow::load(&dir) {
                    Ok(flow) => {
                        if let Some(winner) = seen.get(flow.name()) {
                            tracing::debug!(flow = flow.name(), loser = %flow.root.display(), "flow shadowed");
                            shadowed.push(ShadowedFlow {
                                name: flow.name().to_string(),
                                root: flow.root.clone(),
                                winner: winner.clone(),
                            });
                        } else {
                            seen.insert(flow.name().to_string(), flow.root.clone());
                            flows.push(Arc::new(flow));
                        }
                    }
                    Err(e) => problems.push((dir, e)),
                }
            }
        }
        let mut catalog = FlowCatalog::from_flows(flows);
        catalog.shadowed = shadowed;
        Discovery { catalog, problems }
    }

    /// Discovers flows under `roots`, failing on the first broken flow.
    ///
    /// ```no_run
    /// let cwd = std::env::current_dir()?;
    /// let catalog = codex_flow::FlowCatalog::load(&codex_flow::default_roots(&cwd))?;
    /// for flow in catalog.flows() {
    ///     println!("{} ({} steps)", flow.name(), flow.steps.len());
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn load(roots: &[PathBuf]) -> Result<Self> {
        let discovery = Self::discover(roots);
        match discovery.problems.into_iter().next() {
            Some((_, e)) => Err(e),
            None => Ok(discovery.catalog),
        }
    }

    /// A catalog of already loaded flows, in the given (precedence) order. Later flows with a
    /// name already present are dropped.
    pub fn from_flows(flows: Vec<Arc<LoadedFlow>>) -> Self {
        let mut kept: Vec<Arc<LoadedFlow>> = Vec::with_capacity(flows.len());
        let mut shadowed = Vec::new();
        for flow in flows {
            if let Some(winner) = kept.iter().find(|f| f.name() == flow.name()) {
                shadowed.push(ShadowedFlow {
                    name: flow.name().to_string(),
                    root: flow.root.clone(),
                    winner: winner.root.clone(),
                });
            } else {
                kept.push(flow);
            }
        }
        let mut by_type: HashMap<String, Vec<(usize, usize)>> = HashMap::new();
        for (fi, flow) in kept.iter().enumerate() {
            for (si, step) in flow.steps.iter().enumerate() {
                if let Some(trigger) = &step.manifest.trigger {
                    by_type
                        .entry(trigger.event_type.clone())
                        .or_default()
                        .push((fi, si));
                }
            }
        }
        FlowCatalog {
            flows: kept,
            shadowed,
            by_type,
        }
    }

    /// The flows in discovery order.
    pub fn flows(&self) -> &[Arc<LoadedFlow>] {
        &self.flows
    }

    /// Flows hidden by an earlier flow of the same name.
    pub fn shadowed(&self) -> &[ShadowedFlow] {
        &self.shadowed
    }

    /// The flow named `name`.
    pub fn flow(&self, name: &str) -> Option<&Arc<LoadedFlow>> {
        self.flows.iter().find(|f| f.name() == name)
    }

    pub(crate) fn candidates(&self, event_type: &str) -> &[(usize, usize)] {
        self.by_type
            .get(event_type)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
}
