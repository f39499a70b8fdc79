mod fs;
mod limits;
mod net;
mod ns;
mod positive;
mod procs;
mod service;
mod util;
