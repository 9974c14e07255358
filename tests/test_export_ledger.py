"""The export ledger's own table, and the migration that moved it out of the mappings."""

from __future__ import annotations

from datetime import date

from django.apps import apps

from linx.models import EntityMapping, EntityType, ExportLedgerLine, LineState

MIGRATION = __import__("linx.migrations.0015_export_ledger", fromlist=["to_ledger"])
TIME_ENTRY = "time_entry"  # the mappings' type for ledger lines before the migration
FIELDS = {"project_id": 1, "party_id": 7, "date": "2026-11-18", "hours": "8"}


def old_style_lines(connection) -> None:
    """Two lines as the exporter kept them before: one done, one whose create is unknown."""
    EntityMapping.objects.create(
        connection=connection,
        entity_type=TIME_ENTRY,
        exaktime_id="4711-regular",
        procore_id=9001,
        name="time record 4711 regular",
        fingerprint="f" * 64,
        revision=3,
        data={"state": "done", "date": "2026-11-18", "party_id": 7, "fields": FIELDS},
    )
    EntityMapping.objects.create(
        connection=connection,
        entity_type=TIME_ENTRY,
        exaktime_id="4711-ot1",
        name="time record 4711 OT1",
        fingerprint="e" * 64,
        revision=3,
        data={"state": "pending", "date": "2026-11-18", "party_id": 7, "fields": FIELDS},
    )


def test_the_migration_moves_every_line_pending_ones_included(connection):
    old_style_lines(connection)
    employee = EntityMapping.objects.create(
        connection=connection, entity_type=EntityType.EMPLOYEE, procore_id=7, exaktime_id="100"
    )

    MIGRATION.to_ledger(apps, None)

    assert list(EntityMapping.objects.all()) == [employee]  # other mappings stay
    pending, done = ExportLedgerLine.objects.order_by("origin_id")  # "…-ot1" < "…-regular"
    assert (done.origin_id, done.time_record_id, done.kind) == ("4711-regular", 4711, "regular")
    assert (done.procore_id, done.state) == (9001, LineState.DONE)
    assert (done.work_date, done.party_id, done.fields) == (date(2026, 11, 18), 7, FIELDS)
    assert (done.fingerprint, done.revision) == ("f" * 64, 3)
    assert (pending.origin_id, pending.kind) == ("4711-ot1", "ot1")
    assert (pending.procore_id, pending.state) == (None, LineState.PENDING)
    assert (pending.work_date, pending.party_id) == (date(2026, 11, 18), 7)


def test_the_migration_moves_them_back_on_the_way_down(connection):
    old_style_lines(connection)
    before = sorted(
        EntityMapping.objects.values_list("exaktime_id", "procore_id", "fingerprint", "data")
    )

    MIGRATION.to_ledger(apps, None)
    MIGRATION.to_mappings(apps, None)

    assert not ExportLedgerLine.objects.exists()
    after = EntityMapping.objects.filter(entity_type=TIME_ENTRY)
    assert sorted(after.values_list("exaktime_id", "procore_id", "fingerprint", "data")) == before


def test_lines_loaded_for_an_export_are_the_lines_the_orm_loads_and_save_as_they_do(connection):
    from linx.sync.export_ledger import load_ledger

    line = ExportLedgerLine.objects.create(
        connection=connection, origin_id="4711-regular", time_record_id=4711, kind="regular",
        procore_id=9001, state=LineState.DONE, work_date=date(2026, 11, 18), party_id=7,
        fields=FIELDS, fingerprint="f" * 64, revision=3,
    )  # fmt: skip
    orm = ExportLedgerLine.objects.defer("fields", "synced_at", "created_at", "updated_at").get()

    class Record:  # what load_ledger reads of a time record
        id = 4711

    loaded = load_ledger(connection, [Record()])["4711-regular"]

    assert type(loaded) is ExportLedgerLine and loaded == orm
    assert loaded.get_deferred_fields() == orm.get_deferred_fields()
    shown = {k: v for k, v in vars(loaded).items() if k != "_state"}
    assert shown == {k: v for k, v in vars(orm).items() if k != "_state"}
    assert loaded.work_date == date(2026, 11, 18)  # converted as the ORM converts it
    assert loaded.fields == FIELDS  # read on first use
    loaded.fingerprint = "0" * 64
    loaded.save(update_fields=["fingerprint"])
    line.refresh_from_db()
    assert (line.fingerprint, line.fields, line.procore_id) == ("0" * 64, FIELDS, 9001)


def test_a_line_written_before_its_create_holds_the_fields_sent_and_their_fingerprint(
    connection,
):
    from integrations.exaktime.records import TimeRecord
    from linx.sync import rules
    from linx.sync.export_ledger import write_intent
    from linx.sync.export_plan import Planned

    record = TimeRecord(
        id=4711, employee_id=3, job_id=5, cost_code_id=None, work_date=date(2026, 11, 18),
        time_in=None, revision=3,
    )  # fmt: skip
    fields = {
        **FIELDS,
        "time_in": "2026-11-18T07:00:00-05:00",
        "description": 'Pour "B" \u00e9 \u2014 \U0001f6a7',  # quotes, accents, an emoji
        "cost_code_id": None,
        "custom_field_12": ["b", "a"],
    }
    plan = Planned(record, "regular", fields)

    (line,) = write_intent(connection, [plan])

    stored = ExportLedgerLine.objects.get(pk=line.pk)
    assert stored.fields == rules.json_ready(fields)  # what an update later compares with
    assert stored.fingerprint == line.fingerprint == rules.fingerprint(fields)
    assert (stored.state, stored.procore_id, stored.revision) == (LineState.PENDING, None, 3)
    assert line.fields == stored.fields  # read back from the database when used
