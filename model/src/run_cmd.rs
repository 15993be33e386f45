//! `tidekv run` and `tidekv node`: placeholder until the runtime lands.

/// Arguments of `tidekv run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {}

/// Arguments of `tidekv node`.
#[derive(clap::Args, Debug)]
pub struct NodeArgs {}

pub fn run_main(_args: RunArgs) -> u8 {
    eprintln!("error: tidekv run is not built yet");
    2
}

pub fn node_main(_args: NodeArgs) -> u8 {
    eprintln!("error: tidekv node is not built yet");
    2
}
