mod fakes;
mod interleave;
mod memory;
mod resume;
mod stop;
mod tools;
mod trim;
