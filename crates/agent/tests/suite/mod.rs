mod fakes;
mod interleave;
mod resume;
mod stop;
mod tools;
mod trim;
