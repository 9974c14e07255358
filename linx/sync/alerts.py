"""Telling a connection's contacts when its scheduled runs fail, and keep failing.

A scheduled run that fails (or fails some rows) sends one email when the schedule starts
failing and then at most one a day while it keeps failing, so a broken night job is seen
without flooding anyone. A success resets the count.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.core.mail import send_mail
from django.utils import timezone

from linx.models import (
    Reconciliation,
    ReconciliationStatus,
    RunSchedule,
    RunStatus,
    RunTrigger,
    SyncRun,
)
from linx.sync.parameters import RunParameters

log = logging.getLogger(__name__)

REMIND_EVERY = timedelta(hours=24)
FAILED = (RunStatus.FAILED, RunStatus.PARTIAL)


def after_scheduled_run(run: SyncRun) -> bool:
    """Update the run's schedule after it finished; returns whether an email was sent."""
    schedule_id = RunParameters.from_json(run.parameters).schedule
    if run.trigger != RunTrigger.SCHEDULE or schedule_id is None:
        return False
    schedule = RunSchedule.objects.filter(pk=schedule_id).first()
    if schedule is None:
        return False
    if run.status not in FAILED:
        if run.status == RunStatus.SUCCEEDED and schedule.failures_in_a_row:
            RunSchedule.objects.filter(pk=schedule.pk).update(failures_in_a_row=0)
        return False
    failures = schedule.failures_in_a_row + 1
    now = timezone.now()
    due = (
        failures == 1 or not schedule.last_alert_at or now - schedule.last_alert_at >= REMIND_EVERY
    )
    addresses = run.connection.alert_addresses()
    sent = bool(due and addresses)
    if sent:
        send_mail(*alert(run, failures), recipient_list=addresses)
        log.info("alert sent for run %s to %d address(es)", run.pk, len(addresses))
    RunSchedule.objects.filter(pk=schedule.pk).update(
        failures_in_a_row=failures, last_alert_at=now if sent else schedule.last_alert_at
    )
    return sent


def alert(run: SyncRun, failures: int) -> tuple[str, str, None]:
    """(subject, body, from address) of the email about ``run``."""
    from linx.cli import summary

    what = f"Scheduled {run.get_kind_display().lower()} of {run.connection.name}"
    state = "failed" if run.status == RunStatus.FAILED else "had failed rows"
    again = f" ({failures} times in a row)" if failures > 1 else ""
    subject = f"[Linx] {what} {state}{again}: run #{run.pk}"
    body = (
        f"{what} {state}{again}.\n\n{summary(run)}\n\n"
        f"See the run in the Linx admin: /admin/linx/syncrun/{run.pk}/change/\n"
        "Linx tells you again in a day if it keeps failing, and stops once a run succeeds.\n"
    )
    return subject, body, None


def webhook_alert(connection, problem: str) -> bool:
    """Tell a connection's contacts that its near-real-time import has a gap or drift."""
    addresses = connection.alert_addresses()
    if not addresses:
        return False
    subject = f"[Linx] Near-real-time import of {connection.name} needs attention"
    body = (
        f"Procore's change notices for {connection.name} are not arriving as they should: "
        f"{problem}.\n\nScheduled imports still bring every change, only later. Switch "
        "near-real-time import on again from the connection's page (it repairs the hook), "
        "or run `manage.py linx_connection webhooks "
        f"{connection.name} --install`.\n"
    )
    send_mail(subject, body, None, recipient_list=addresses)
    log.info("webhook alert sent for connection %s", connection.pk)
    return True


def after_scheduled_reconciliation(done: Reconciliation) -> bool:
    """E-mail the connection's alert addresses a summary when a scheduled reconciliation
    found differences or could not run; returns whether an email was sent."""
    addresses = done.connection.alert_addresses()
    if done.status == ReconciliationStatus.MATCHED or not addresses:
        return False
    from linx.management.commands.linx_reconcile import summary

    what = f"Reconciliation of {done.connection.name}, {done.first_day} to {done.last_day}"
    state = (
        "could not run"
        if done.status == ReconciliationStatus.FAILED
        else f"found {len(done.lines)} differing line(s)"
    )
    body = (
        f"{what} {state}.\n\n{summary(done)}\n\n"
        f"See every line in the Linx admin: /admin/linx/reconciliation/{done.pk}/change/\n"
    )
    send_mail(f"[Linx] {what} {state}", body, None, recipient_list=addresses)
    log.info("reconciliation %s summary sent to %d address(es)", done.pk, len(addresses))
    return True
