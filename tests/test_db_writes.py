"""codeai.db: several row writes in one statement, and loading rows read by hand."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.events.models import Event
from codeai.db import (
    fetch_all,
    instance_from_row,
    lazy_commit_cte,
    select_columns,
    write_together,
)

pytestmark = pytest.mark.django_db


def an_event(**fields) -> Event:
    now = timezone.now()
    return Event(type="job.completed", source="tests", timestamp=now, **fields)


def test_write_together_inserts_rows_with_unicode_json_and_times():
    first = an_event(data={"text": "héllo ✓", "nested": {"a": [1, None]}})
    second = an_event(data={}, metadata={"team": "ünï"})

    write_together(inserts=[first, second])

    stored = {e.pk: e for e in Event.objects.filter(pk__in=[first.pk, second.pk])}
    assert stored[first.pk].data == {"text": "héllo ✓", "nested": {"a": [1, None]}}
    assert stored[second.pk].metadata == {"team": "ünï"}
    assert stored[first.pk].timestamp == first.timestamp


def test_write_together_updates_only_the_named_fields():
    event = an_event(data={"v": 1})
    event.save()
    event.data = {"v": 2}
    event.dispatched_at = event.timestamp + timedelta(seconds=1)
    event.source = "not written"

    write_together(updates=[(event, ["data", "dispatched_at"])])

    stored = Event.objects.get(pk=event.pk)
    assert (stored.data, stored.dispatched_at, stored.source) == (
        {"v": 2},
        event.timestamp + timedelta(seconds=1),
        "tests",
    )


def test_write_together_is_one_statement_on_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("one statement needs PostgreSQL's data-modifying WITH")
    event = an_event(data={})
    event.save()
    event.data = {"changed": True}

    with CaptureQueriesContext(connection) as queries:
        write_together(updates=[(event, ["data"])], inserts=[an_event(data={}), an_event()])

    assert len(queries) == 1
    assert Event.objects.get(pk=event.pk).data == {"changed": True}


def test_write_together_with_nothing_to_write_sends_nothing():
    with CaptureQueriesContext(connection) as queries:
        write_together(updates=[(an_event(), [])])

    assert len(queries) == 0


def test_instance_from_row_loads_what_the_orm_loads():
    event = an_event(data={"text": "héllo"}, metadata={"k": [1, 2]})
    event.dispatched_at = event.timestamp
    event.save()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {select_columns(Event, 'e')} FROM events_event e WHERE e.id = %s", [event.pk]
        )
        loaded = instance_from_row(Event, cursor.fetchone())

    expected = Event.objects.get(pk=event.pk)
    fields = [f.attname for f in Event._meta.concrete_fields]
    assert [getattr(loaded, f) for f in fields] == [getattr(expected, f) for f in fields]
    assert not loaded._state.adding


def event_count(event_id: str) -> int:
    return Event.objects.filter(pk=event_id).count()


INSERT_EVENT = (
    "INSERT INTO events_event (id, type, source, timestamp, data, metadata)"
    " VALUES (%s, 'job.completed', 'tests', %s, '{}', '{}') RETURNING id"
)


def test_fetch_all_without_durability_commits_its_change_and_returns_its_rows(transactional_db):
    rows = fetch_all(INSERT_EVENT, ["evt-lazy-1", timezone.now()], durable=False)

    assert rows == [("evt-lazy-1",)]
    assert event_count("evt-lazy-1") == 1


def test_fetch_all_without_durability_leaves_the_sessions_commit_setting_alone(
    transactional_db,
):
    if connection.vendor != "postgresql":
        pytest.skip("synchronous_commit is PostgreSQL's")
    fetch_all(INSERT_EVENT, ["evt-lazy-2", timezone.now()], durable=False)

    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone() == ("on",)


def test_fetch_all_without_durability_that_fails_leaves_the_connection_usable(
    transactional_db,
):
    fetch_all(INSERT_EVENT, ["evt-lazy-3", timezone.now()], durable=False)

    with pytest.raises(IntegrityError):
        fetch_all(INSERT_EVENT, ["evt-lazy-3", timezone.now()], durable=False)

    assert event_count("evt-lazy-3") == 1
    assert fetch_all("SELECT 1", []) == [(1,)]


def test_fetch_all_inside_a_transaction_rolls_back_with_it(transactional_db):
    with pytest.raises(RuntimeError), transaction.atomic():
        fetch_all(INSERT_EVENT, ["evt-lazy-4", timezone.now()], durable=False)
        raise RuntimeError("the caller's transaction fails")

    assert event_count("evt-lazy-4") == 0


def saved_event(**fields) -> Event:
    event = an_event(**fields)
    event.save()
    return event


def needs_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("a guarded write needs PostgreSQL")


def test_a_guarded_write_applies_everything_while_its_guard_holds():
    needs_postgresql()
    guard, other = saved_event(data={"v": 1}), saved_event(data={})
    guard.data, other.data = {"v": 2}, {"touched": True}
    added = an_event(data={"added": True})

    written = write_together(
        updates=[(guard, ["data"]), (other, ["data"])],
        inserts=[added],
        guard=(guard, "source", "tests"),
    )

    assert written is True
    assert Event.objects.get(pk=guard.pk).data == {"v": 2}
    assert Event.objects.get(pk=other.pk).data == {"touched": True}
    assert Event.objects.get(pk=added.pk).data == {"added": True}


def test_a_guarded_write_whose_guard_no_longer_holds_writes_nothing():
    needs_postgresql()
    guard, other = saved_event(data={"v": 1}), saved_event(data={})
    Event.objects.filter(pk=guard.pk).update(source="changed meanwhile")
    guard.data, other.data = {"v": 2}, {"touched": True}
    added = an_event(data={"added": True})

    written = write_together(
        updates=[(guard, ["data"]), (other, ["data"])],
        inserts=[added],
        guard=(guard, "source", "tests"),
    )

    assert written is False
    assert Event.objects.get(pk=guard.pk).data == {"v": 1}
    assert Event.objects.get(pk=other.pk).data == {}
    assert not Event.objects.filter(pk=added.pk).exists()


def test_a_guarded_insert_keeps_null_values():
    needs_postgresql()
    guard = saved_event(data={})
    added = an_event(data={}, dispatched_at=None)

    write_together(updates=[(guard, ["data"])], inserts=[added], guard=(guard, "source", "tests"))

    assert Event.objects.get(pk=added.pk).dispatched_at is None


def test_a_hot_path_statement_is_prepared_once_it_has_run_a_few_times():
    needs_postgresql()
    for _ in range(6):
        fetch_all("SELECT count(*) FROM events_event WHERE source = %s", ["tests"])

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
            ["SELECT count(*) FROM events_event WHERE source = $1%"],
        )
        assert cursor.fetchone() == (1,)


def test_a_statement_with_the_lazy_commit_cte_commits_without_waiting_for_the_flush(
    transactional_db,
):
    needs_postgresql()
    lazily = lazy_commit_cte(durable=False)

    rows = fetch_all(
        f"WITH changed AS ({INSERT_EVENT}), {lazily}"
        " SELECT changed.id, current_setting('synchronous_commit')"
        " FROM changed CROSS JOIN lazy_commit",
        ["evt-lazy-5", timezone.now()],
    )

    assert rows == [("evt-lazy-5", "off")]
    assert event_count("evt-lazy-5") == 1
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone() == ("on",)


def test_the_lazy_commit_cte_is_not_offered_inside_a_transaction():
    assert lazy_commit_cte(durable=False) is None
    assert lazy_commit_cte(durable=True) is None
