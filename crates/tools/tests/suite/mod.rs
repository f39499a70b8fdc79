mod confinement;
mod files;
mod toolset;
mod util;
