//! `tidekv explore`: the stateright Explorer on one configuration (placeholder
//! until the Explorer work lands).

use crate::check_cmd::ModelArgs;

/// Arguments of `tidekv explore`.
#[derive(clap::Args, Debug)]
pub struct ExploreArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Address to serve the Explorer on (loopback by default).
    #[arg(long, default_value = "127.0.0.1:3000")]
    pub addr: String,
}

pub fn main(_args: ExploreArgs) -> u8 {
    eprintln!("error: tidekv explore is not built yet");
    2
}
