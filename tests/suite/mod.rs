//! One module per area. Each test names the behaviour it proves.

mod cli;
mod conversation;
