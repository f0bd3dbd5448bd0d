//! Postgres only, whichever backend the rest of the suite runs on: the errors
//! a bad database gets, several hosts on one database, killed hosts and a
//! database that goes away, and run bundles moved between the two backends.

mod bundles;
mod chain;
mod cluster;
mod errors;
mod hosts;
mod outage;
mod schedules;
mod witness;
