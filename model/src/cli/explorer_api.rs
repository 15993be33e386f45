//! The Explorer's JSON API and page, as `tidekv explore` serves them.
//!
//! Stateright's Explorer answers `GET /.states/PATH` with every step that
//! follows the state at PATH, each with its text, its diagram and its raw
//! state. On `--topology replicated --clients 4 --replicas 3` the initial
//! state has 6,561 next steps: 147 MB, three minutes on one thread, during
//! which its server answered nothing. Here `/.states/PATH` describes the one
//! state a person selected (its text, diagram, violations with reasons, the
//! path to it) and lists its next actions by name only, a page at a time
//! (`?offset=N&limit=M`); a path that does not exist is an error that says
//! why. `/.status` is a snapshot refreshed in the background, so it answers
//! at once. The page (`model/ui/`) is our copy of stateright's Explorer UI,
//! reworked for these endpoints.

use crate::checker::expect;
use crate::model::{CycleAction, ModelConfig, State, TideModel};
use crate::view::display::{describe_state, violations};
use crate::view::link::config_fingerprint;
use crate::view::svg::timing_diagram_of;
use serde_json::{json, Value as Json};
use stateright::{Checker, Expectation, Model};
use std::sync::RwLock;
use std::time::Duration;
use tidekv_checks::Property;

use super::http::Reply;

/// Next actions listed per page unless `?limit=` says otherwise, and the
/// most one page may list.
pub const PAGE_DEFAULT: usize = 100;
pub const PAGE_MAX: usize = 1000;

/// The page's files: our copy of stateright's Explorer UI (MIT, notice in
/// `model/ui/LICENSE-stateright`).
const INDEX: &str = include_str!("../../ui/index.htm");
const APP_JS: &str = include_str!("../../ui/app.js");
const APP_CSS: &str = include_str!("../../ui/app.css");
const UI_LICENSE: &str = include_str!("../../ui/LICENSE-stateright");

/// The Explorer over one configuration: the checker (stateright's
/// on-demand checker, run to completion in the background) and the latest
/// status snapshot.
pub struct ExplorerApi {
    pub checker: Box<dyn Checker<TideModel> + Send + Sync>,
    /// The same configuration, keeping the full history: text, diagram
    /// and reasons of the selected state are computed on it.
    traced: TideModel,
    status: RwLock<Json>,
}

impl ExplorerApi {
    pub fn new(checker: Box<dyn Checker<TideModel> + Send + Sync>) -> ExplorerApi {
        let cfg = checker.model().config.clone();
        let traced = TideModel::new(cfg).expect("the model's config is valid").with_trace();
        let api = ExplorerApi {
            checker,
            traced,
            status: RwLock::new(Json::Null),
        };
        api.refresh_status();
        api
    }

    /// The latest status snapshot (what `/.status` answers).
    pub fn status(&self) -> Json {
        self.status.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn config(&self) -> &ModelConfig {
        &self.checker.model().config
    }

    /// Answers one request.
    pub fn handle(&self, method: &str, url: &str) -> Reply {
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        match (method, path) {
            ("GET", "/") | ("GET", "/index.htm") => Reply::new(200, "text/html; charset=utf-8", INDEX),
            ("GET", "/app.js") => Reply::new(200, "text/javascript; charset=utf-8", APP_JS),
            ("GET", "/app.css") => Reply::new(200, "text/css; charset=utf-8", APP_CSS),
            ("GET", "/LICENSE-stateright") => Reply::new(200, "text/plain; charset=utf-8", UI_LICENSE),
            ("GET", "/.status") => Reply::json(200, &self.status.read().unwrap_or_else(|e| e.into_inner())),
            ("POST", "/.runtocompletion") => {
                self.checker.run_to_completion();
                Reply::new(200, "text/plain", "")
            }
            ("GET", p) if p == "/.states" || p.starts_with("/.states/") => {
                match self.state_view(p.trim_start_matches("/.states"), query) {
                    Ok(v) => Reply::json(200, &v),
                    Err((code, e)) => Reply::json(code, &json!({ "error": e })),
                }
            }
            _ => Reply::json(404, &json!({ "error": format!("no such page: {method} {path}") })),
        }
    }

    /// Recomputes the status snapshot every `every` until the run is done
    /// (the last snapshot is taken after it is).
    pub fn keep_status_fresh(&self, every: Duration) {
        loop {
            let done = self.refresh_status();
            if done {
                return;
            }
            std::thread::sleep(every);
        }
    }

    /// Takes a status snapshot; returns whether the run was done before it
    /// (so the snapshot is final).
    fn refresh_status(&self) -> bool {
        let done = self.checker.is_done();
        let status = self.status_json(done);
        *self.status.write().unwrap_or_else(|e| e.into_inner()) = status;
        done
    }

    /// `/.status`: stateright's fields (`done`, counts, `properties` as
    /// `[expectation, name, path or null]`), the configuration, and each
    /// property's verdict in words (`verdicts`), which knows what the
    /// stateright page cannot: a property that does not apply is `n/a`, a
    /// twin this configuration cannot reach is `not applicable`.
    fn status_json(&self, done: bool) -> Json {
        let model = self.checker.model();
        let discoveries = self.checker.discoveries();
        let encoded = |name: &str| discoveries.get(name).map(|p| p.encode(model));
        let mut properties = Vec::new();
        let mut verdicts = Vec::new();
        for p in Property::ALL {
            let path = encoded(p.name());
            let word = match (p.applies(model.scope()), &path, done) {
                (false, _, _) => "n/a",
                (true, Some(_), _) => "violated",
                (true, None, true) => "holds",
                (true, None, false) => "searching",
            };
            properties.push(json!([Expectation::Always, p.name(), path]));
            verdicts.push(json!({"name": p.name(), "expectation": "always", "verdict": word, "path": path}));
        }
        for p in Property::ALL {
            let path = encoded(p.twin());
            let possible = p.applies(model.scope()) && expect::twin_expected(&model.config, p);
            let word = match (possible, &path, done) {
                (_, Some(_), _) => "reached",
                (false, None, _) => "not applicable",
                (true, None, true) => "not reached",
                (true, None, false) => "searching",
            };
            properties.push(json!([Expectation::Sometimes, p.twin(), path]));
            verdicts.push(json!({"name": p.twin(), "expectation": "sometimes", "verdict": word, "path": path}));
        }
        json!({
            "done": done,
            "model": self.config().label(),
            "config": self.config_json(),
            "state_count": self.checker.state_count(),
            "unique_state_count": self.checker.unique_state_count(),
            "max_depth": self.checker.max_depth(),
            "properties": properties,
            "verdicts": verdicts,
        })
    }

    fn config_json(&self) -> Json {
        let cfg = self.config();
        json!({"label": cfg.label(), "flags": cfg.flags(), "fingerprint": config_fingerprint(cfg)})
    }

    /// `/.states/0/A1/…`: the state at that path, and a page of its next
    /// actions. Errors: 400 for a path that is not one, 404 for a path that
    /// leads nowhere, each with a sentence saying why.
    fn state_view(&self, path: &str, query: &str) -> Result<Json, (u16, String)> {
        let model = self.checker.model();
        let indices = parse_path(path)?;
        let (offset, limit) = parse_page(query)?;
        let mut state = model.init_states().pop().expect("one initial state");
        let mut traced = self.traced.init_states().pop().expect("one initial state");
        let mut steps: Vec<(State, Option<CycleAction>)> = Vec::new();
        let mut path_json = Vec::new();
        let mut actions = Vec::new();
        for (depth, &i) in indices.iter().enumerate().skip(1) {
            actions.clear();
            model.actions(&state, &mut actions);
            if actions.is_empty() {
                return Err((
                    404,
                    format!(
                        "the path is {} cycles long, but the model stops at cycle {} (--cycles {}): \
                         the state after {} has no next action",
                        indices.len() - 1,
                        state.cluster.cycle,
                        model.config.cycles,
                        indices[..depth]
                            .iter()
                            .map(|i| i.to_string())
                            .collect::<Vec<_>>()
                            .join("/"),
                    ),
                ));
            }
            let Some(a) = actions.get(i).cloned() else {
                return Err((
                    404,
                    format!(
                        "cycle {} has {} next actions (0 to {}); the path asks for action {i} (at position {depth} \
                         of the path)",
                        state.cluster.cycle,
                        actions.len(),
                        actions.len() - 1
                    ),
                ));
            };
            path_json.push(
                json!({"cycle": state.cluster.cycle, "action": action_label(model, &traced, &a), "actionIndex": i}),
            );
            let next_traced = self
                .traced
                .next_state(&traced, a.clone())
                .expect("every action applies");
            steps.push((traced, Some(a.clone())));
            traced = next_traced;
            state = model.next_state(&state, a).expect("every action applies");
        }
        steps.push((traced.clone(), None));
        actions.clear();
        model.actions(&state, &mut actions);
        let next: Vec<Json> = actions
            .iter()
            .enumerate()
            .skip(offset)
            .take(limit)
            .map(|(i, a)| json!({"action": action_label(model, &traced, a), "actionIndex": i}))
            .collect();
        let violated: Vec<Json> = violations(&self.traced, &traced)
            .into_iter()
            .map(|(name, why)| json!({"property": name, "reason": why}))
            .collect();
        Ok(json!({
            "path": indices.iter().map(|i| i.to_string()).collect::<Vec<_>>().join("/"),
            "cycle": state.cluster.cycle,
            "config": self.config_json(),
            "steps": path_json,
            "outcome": describe_state(&self.traced, &traced),
            "state": format!("{state:#?}"),
            "svg": timing_diagram_of(&self.traced, steps),
            "violations": violated,
            "next": {
                "total": actions.len(),
                "offset": offset,
                "limit": limit,
                "steps": next,
                "bound": (actions.is_empty() && state.cluster.cycle >= model.config.cycles)
                    .then(|| format!("the model stops at --cycles {}", model.config.cycles)),
            },
        }))
    }
}

/// An action as the page lists it: the cycle's choices without the `cycle
/// N:` prefix (the path numbers its lines by cycle), with the owner of a
/// crashing replica's keys where that matters.
fn action_label(model: &TideModel, state: &State, a: &CycleAction) -> String {
    let line = model.describe_step(state, a);
    let prefix = format!("cycle {}: ", state.cluster.cycle);
    line.strip_prefix(&prefix).unwrap_or(&line).to_string()
}

/// `/0/14/2` → `[0, 14, 2]`; the first index names the initial state (there
/// is one, 0).
fn parse_path(path: &str) -> Result<Vec<usize>, (u16, String)> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').filter(|p| !p.is_empty()).collect();
    if parts.is_empty() {
        return Err((
            400,
            "no path: a state is named by its path from the initial state, e.g. /.states/0 or /.states/0/14/2"
                .to_string(),
        ));
    }
    let indices = parts
        .iter()
        .map(|p| {
            p.parse::<usize>().map_err(|_| {
                (
                    400,
                    format!("{p:?} is not an action index: a path is numbers separated by '/', e.g. 0/14/2"),
                )
            })
        })
        .collect::<Result<Vec<usize>, _>>()?;
    if indices[0] != 0 {
        return Err((
            404,
            format!("there is one initial state, 0; the path starts with {}", indices[0]),
        ));
    }
    Ok(indices)
}

/// `offset=N&limit=M` (both optional).
fn parse_page(query: &str) -> Result<(usize, usize), (u16, String)> {
    let (mut offset, mut limit) = (0, PAGE_DEFAULT);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let n = || {
            v.parse::<usize>()
                .map_err(|_| (400, format!("{k}={v:?}: expected a number")))
        };
        match k {
            "offset" => offset = n()?,
            "limit" => limit = n()?.min(PAGE_MAX),
            _ => {}
        }
    }
    Ok((offset, limit))
}

/// Requests that build a state (its text and diagram): they wait for a
/// permit (see [`super::http::HEAVY_MAX`]).
pub fn is_heavy(url: &str) -> bool {
    url.starts_with("/.states")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_pages_parse_or_say_why() {
        assert_eq!(parse_path("/0/14/2"), Ok(vec![0, 14, 2]));
        assert_eq!(parse_path("/0/"), Ok(vec![0]));
        assert!(parse_path("/abc")
            .unwrap_err()
            .1
            .contains("\"abc\" is not an action index"));
        assert_eq!(parse_path("/3").unwrap_err().0, 404);
        assert_eq!(parse_path("").unwrap_err().0, 400);
        assert_eq!(parse_page("offset=200&limit=50&cfg=x"), Ok((200, 50)));
        assert_eq!(parse_page("limit=99999"), Ok((0, PAGE_MAX)));
        assert!(parse_page("offset=-1").is_err());
    }
}
