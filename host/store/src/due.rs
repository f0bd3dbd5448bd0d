//! The fairness rule of a claim, shared by both backends (their `due` modules read the
//! candidates; this orders them).

use std::collections::HashMap;

/// A run a claim may take, with what orders it: when it became due (a runnable run: its
/// creation; a parked one: its wake time), then its last update, then its thread.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Candidate {
    pub(crate) due_at: i64,
    pub(crate) updated_at: i64,
    pub(crate) thread: String,
}

/// The candidates of a claim of at most `limit` runs, per workflow (at most `limit` each).
#[derive(Debug)]
pub(crate) struct Due {
    limit: usize,
    total: usize,
    by_workflow: Vec<(String, Vec<Candidate>)>,
}

impl Due {
    pub(crate) fn new(limit: usize) -> Due {
        Due {
            limit,
            total: 0,
            by_workflow: Vec::new(),
        }
    }

    /// `workflow`'s candidates: its oldest `limit` are kept.
    pub(crate) fn add(&mut self, workflow: String, mut runs: Vec<Candidate>) {
        runs.sort_unstable();
        runs.truncate(self.limit);
        self.total += runs.len();
        self.by_workflow.push((workflow, runs));
    }

    /// Fewer than `limit` are due: the claim takes them all (and needs no `held` read).
    pub(crate) fn all_fit(&self) -> bool {
        self.total < self.limit
    }

    /// Every candidate, oldest first.
    pub(crate) fn oldest_first(self) -> Vec<String> {
        let mut all: Vec<Candidate> = self.by_workflow.into_iter().flat_map(|(_, r)| r).collect();
        all.sort_unstable();
        all.into_iter().map(|c| c.thread).collect()
    }

    /// The `limit` lowest turns, where a run's turn is the number of runs of its workflow
    /// that the claimer drives now (`held`) plus its place among its workflow's runnable
    /// runs (oldest first). So a free slot goes to the workflow that holds the fewest, and
    /// one workflow's backlog never keeps another workflow's runs waiting while it holds
    /// more than its share.
    pub(crate) fn by_turns(self, held: &HashMap<String, usize>) -> Vec<String> {
        let mut turns: Vec<(usize, Candidate)> = Vec::with_capacity(self.total);
        for (workflow, runs) in self.by_workflow {
            let start = held.get(&workflow).copied().unwrap_or(0);
            turns.extend(
                runs.into_iter()
                    .enumerate()
                    .map(|(place, run)| (start + place + 1, run)),
            );
        }
        turns.sort_unstable();
        turns.truncate(self.limit);
        turns.into_iter().map(|(_, c)| c.thread).collect()
    }
}
