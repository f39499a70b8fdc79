mod fakes;
mod heartbeat;
mod jobs;
mod restart;
