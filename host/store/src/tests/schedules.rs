//! Schedules: stored, listed, paused, removed, and moved on by compare-and-set.

use super::*;

fn schedule(name: &str, next_due_ms: i64) -> Schedule {
    Schedule {
        name: name.to_owned(),
        spec: ScheduleSpec::Cron {
            expr: "*/5 * * * *".to_owned(),
            tz: Some("Europe/Paris".to_owned()),
        },
        workflow_name: "greet".to_owned(),
        workflow_digest: "sha256:sched".to_owned(),
        workflow_path: "examples/greet.toml".to_owned(),
        input: object(json!({"name": "Ada", "n": [1, 2]})),
        catch_up: CatchUp::Last,
        paused: false,
        next_due_ms,
        last_fired_ms: None,
        created_at_ms: 1_000,
    }
}

const TEXT: &str = "name = \"greet\"\n# scheduled\n";

pub(crate) async fn schedules_are_stored_listed_by_name_and_replaced_only_when_asked<
    S: TestStore,
>(
    f: Fixture<S>,
) {
    let s = &f.store;
    assert_eq!(s.schedules().await.unwrap(), Vec::new());
    let every = Schedule {
        spec: ScheduleSpec::Every { every_ms: 1_000 },
        catch_up: CatchUp::All,
        ..schedule("b-every", 2_000)
    };
    s.put_schedule(every.clone(), TEXT.to_owned(), false)
        .await
        .unwrap();
    s.put_schedule(schedule("a-cron", 5_000), TEXT.to_owned(), false)
        .await
        .unwrap();
    assert_eq!(
        s.schedules().await.unwrap(),
        vec![schedule("a-cron", 5_000), every.clone()]
    );
    // The text its runs are pinned to is stored with the workflows.
    assert_eq!(
        s.workflow_text("sha256:sched").await.unwrap().as_deref(),
        Some(TEXT)
    );
    let taken = s
        .put_schedule(schedule("b-every", 9), TEXT.to_owned(), false)
        .await
        .unwrap_err();
    assert!(
        matches!(&taken, StoreError::ScheduleExists { name } if name == "b-every"),
        "{taken:?}"
    );
    assert_eq!(taken.kind(), StoreErrorKind::Conflict);
    let replaced = Schedule {
        last_fired_ms: Some(7),
        paused: true,
        ..schedule("b-every", 9)
    };
    s.put_schedule(replaced.clone(), TEXT.to_owned(), true)
        .await
        .unwrap();
    // Another process sees the same.
    let other = f.open_again().await;
    assert_eq!(
        other.schedules().await.unwrap(),
        vec![schedule("a-cron", 5_000), replaced]
    );
}

pub(crate) async fn pause_resume_and_remove_name_the_missing_schedule<S: TestStore>(f: Fixture<S>) {
    let s = &f.store;
    s.put_schedule(schedule("nightly", 5_000), TEXT.to_owned(), false)
        .await
        .unwrap();
    let paused = s.pause_schedule("nightly", true).await.unwrap();
    assert!(paused.paused);
    assert_eq!(s.schedules().await.unwrap(), vec![paused.clone()]);
    let resumed = s.pause_schedule("nightly", false).await.unwrap();
    assert_eq!(resumed, schedule("nightly", 5_000));
    for error in [
        s.pause_schedule("nope", true).await.unwrap_err(),
        s.remove_schedule("nope").await.unwrap_err(),
        s.advance_schedule("nope", 1, 2, None).await.unwrap_err(),
    ] {
        assert!(
            matches!(&error, StoreError::NoSchedule { name } if name == "nope"),
            "{error:?}"
        );
        assert_eq!(error.kind(), StoreErrorKind::NotFound);
    }
    s.remove_schedule("nightly").await.unwrap();
    assert_eq!(s.schedules().await.unwrap(), Vec::new());
}

pub(crate) async fn advance_moves_a_schedule_once_per_expected_due_time<S: TestStore>(
    f: Fixture<S>,
) {
    let s = &f.store;
    s.put_schedule(schedule("tick", 5_000), TEXT.to_owned(), false)
        .await
        .unwrap();
    // Two hosts fired due time 5_000: one moves the schedule on.
    let other = f.open_again().await;
    let (first, second) = tokio::join!(
        s.advance_schedule("tick", 5_000, 6_000, Some(5_000)),
        other.advance_schedule("tick", 5_000, 6_000, Some(5_000)),
    );
    let moved = [first.unwrap(), second.unwrap()];
    assert_eq!(moved.iter().filter(|m| **m).count(), 1, "{moved:?}");
    let tick = &s.schedules().await.unwrap()[0];
    assert_eq!((tick.next_due_ms, tick.last_fired_ms), (6_000, Some(5_000)));
    // A stale expectation moves nothing.
    assert!(
        !s.advance_schedule("tick", 5_000, 7_000, None)
            .await
            .unwrap()
    );
    // Skipping (catch-up none) moves the due time and keeps the last firing.
    assert!(
        s.advance_schedule("tick", 6_000, 9_000, None)
            .await
            .unwrap()
    );
    let tick = &s.schedules().await.unwrap()[0];
    assert_eq!((tick.next_due_ms, tick.last_fired_ms), (9_000, Some(5_000)));
}

pub(crate) async fn gc_keeps_the_workflow_text_a_schedule_pins<S: TestStore>(f: Fixture<S>) {
    let s = &f.store;
    s.put_schedule(schedule("nightly", 5_000), TEXT.to_owned(), false)
        .await
        .unwrap();
    assert_eq!(s.collect_garbage().await.unwrap().workflows, 0);
    assert!(s.workflow_text("sha256:sched").await.unwrap().is_some());
    s.remove_schedule("nightly").await.unwrap();
    assert_eq!(s.collect_garbage().await.unwrap().workflows, 1);
}

conformance! {
    #[tokio::test] schedules_are_stored_listed_by_name_and_replaced_only_when_asked,
    #[tokio::test] pause_resume_and_remove_name_the_missing_schedule,
    #[tokio::test] advance_moves_a_schedule_once_per_expected_due_time,
    #[tokio::test] gc_keeps_the_workflow_text_a_schedule_pins,
}
