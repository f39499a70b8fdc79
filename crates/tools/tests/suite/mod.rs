mod confinement;
mod files;
mod toolset;
mod util;
mod web;
mod web_search;
mod web_util;
