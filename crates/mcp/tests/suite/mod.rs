mod fake_http;
mod fake_stdio;
mod faults;
mod reference;
mod util;
