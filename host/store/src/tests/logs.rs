//! Node logs: kept in order, read in pages.

use super::*;

pub(crate) async fn logs_of_commits_and_failed_attempts_are_kept_in_order<S: TestStore>(
    f: Fixture<S>,
) {
    f.store.create_run(new_run("job-1")).await.unwrap();
    let mut first = commit("job-1", 1, &["hello"]);
    first.logs.push(LogLine {
        level: "warn".to_owned(),
        ..log(1, 1, "careful")
    });
    f.store.commit_step(first).await.unwrap();
    f.store.setback_step(failure("job-1", 2, 1)).await.unwrap();
    f.store.commit_step(commit("job-1", 2, &[])).await.unwrap();

    let logs = f.store.logs("job-1").await.unwrap();
    let lines: Vec<(u64, u32, &str, &str)> = logs
        .iter()
        .map(|l| (l.step, l.attempt, l.level.as_str(), l.message.as_str()))
        .collect();
    assert_eq!(
        lines,
        [
            (1, 1, "info", "step 1"),
            (1, 1, "warn", "careful"),
            (2, 1, "info", "about to fail"),
            (2, 1, "info", "step 2"),
        ]
    );
    assert_eq!(logs[0], log(1, 1, "step 1"));
}

pub(crate) async fn log_pages_go_on_after_their_cursor<S: TestStore>(f: Fixture<S>) {
    paged_run(&f, "job-1", 5).await;
    let mut pages = Vec::new();
    let mut cursor = None;
    loop {
        let mut page = f.store.logs_page("job-1", cursor, 2).await.unwrap();
        let mut messages = Vec::new();
        while let Some(line) = page.next().await.unwrap() {
            messages.push(line.message);
        }
        cursor = page.next_cursor();
        pages.push(messages);
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(
        pages,
        [
            vec!["step 1", "step 2"],
            vec!["step 3", "step 4"],
            vec!["step 5"]
        ]
    );
    let mut page = f.store.logs_page("job-1", None, 5).await.unwrap();
    while page.next().await.unwrap().is_some() {}
    assert_eq!(page.next_cursor(), None, "a full last page ends");
}

conformance! {
    #[tokio::test] logs_of_commits_and_failed_attempts_are_kept_in_order,
    #[tokio::test] log_pages_go_on_after_their_cursor,
}
