//! `apk version -t A B` and `apk version -c V...`.

use apk_core::version;

use crate::context::Context;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Compare two versions: prints <, > or =
    #[arg(short = 't', long = "test", num_args = 2, value_names = ["A", "B"])]
    test: Option<Vec<String>>,
    /// Check that the versions are valid; prints the invalid ones
    #[arg(short = 'c', long = "check", num_args = 1..)]
    check: Option<Vec<String>>,
}

pub fn run(ctx: &Context, args: Args) -> u32 {
    if let Some(pair) = args.test {
        let (a, b) = (&pair[0], &pair[1]);
        if !version::is_valid(a) || !version::is_valid(b) {
            return 1;
        }
        let sign = match version::compare(a, b) {
            std::cmp::Ordering::Less => "<",
            std::cmp::Ordering::Equal => "=",
            std::cmp::Ordering::Greater => ">",
        };
        println!("{sign}");
        return 0;
    }
    if let Some(list) = args.check {
        let mut bad = 0;
        for v in list.iter().filter(|v| !version::is_valid(v)) {
            if ctx.verbosity > 0 {
                println!("{v}");
            }
            bad += 1;
        }
        return bad;
    }
    crate::context::error(
        "comparing installed packages to repositories is not implemented in this build of apk-rs; use -t or -c",
    );
    1
}
