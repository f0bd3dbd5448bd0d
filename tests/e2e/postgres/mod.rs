//! Postgres only, whichever backend the rest of the suite runs on.

mod errors;
