//! [`TideModel`] as a stateright [`Model`]: the model's own functions
//! (`crate::model`), and the Explorer's text and timing diagram
//! (`crate::view`).

use crate::model::{CycleAction, State, TideModel};
use stateright::Model;

impl Model for TideModel {
    type State = State;
    type Action = CycleAction;

    fn init_states(&self) -> Vec<State> {
        vec![self.kept(self.initial_state())]
    }

    fn actions(&self, s: &State, actions: &mut Vec<CycleAction>) {
        self.cycle_actions(s, actions)
    }

    fn next_state(&self, last: &State, action: CycleAction) -> Option<State> {
        Some(self.kept(self.step(last, action)))
    }

    fn within_boundary(&self, s: &State) -> bool {
        self.within_bound(s)
    }

    fn format_action(&self, a: &CycleAction) -> String {
        self.describe_action(u32::MAX, a)
            .replacen(&format!("cycle {}:", u32::MAX), "", 1)
            .trim()
            .to_string()
    }

    fn format_step(&self, last: &State, a: CycleAction) -> Option<String> {
        let next = self.step(last, a);
        Some(crate::view::display::describe_state(self, &next))
    }

    /// The Explorer's timing diagram of the path (see [`crate::view::svg`]).
    fn as_svg(&self, path: stateright::Path<State, CycleAction>) -> Option<String> {
        Some(crate::view::svg::timing_diagram(self, path))
    }

    fn properties(&self) -> Vec<stateright::Property<Self>> {
        self.conditions()
    }
}

impl TideModel {
    /// The state a search keeps of `s`: its representative where
    /// [`TideModel::canonical_successors`] says so, else `s`.
    fn kept(&self, s: State) -> State {
        if self.canonical_successors {
            crate::model::canonical(s)
        } else {
            s
        }
    }
}
