mod fs;
mod limits;
mod net;
mod positive;
mod procs;
mod util;
