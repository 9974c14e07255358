"""Test connection: a preflight checklist of what a connection needs before it can sync.

The checks mirror the Requirements section of SyncLinx's Procore guide: Linx can sign in,
the Linx app is installed in the company, workers, projects and cost codes can be read,
sub-jobs are enabled when they are imported, a timesheet fieldset holds the chosen custom
fields, the Timecard tool answers, and the ExakTime API key works and may write. Each
check ends green, red (with what to do, in the words of Procore's and ExakTime's
screens), amber (could not be verified) or grey (not needed, or not tried because an
earlier check failed). Nothing is changed in either system except one record written
back to ExakTime exactly as it was (see `Preflight.exaktime_write`).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import date
from itertools import islice
from typing import Any

from django.utils import timezone

from integrations.exaktime.client import ExakTimeClient
from integrations.exaktime.errors import (
    ExakTimeAuthError,
    ExakTimeError,
    ExakTimeNotFound,
    ExakTimePermissionError,
)
from integrations.procore.client import ProcoreClient
from integrations.procore.errors import (
    ProcoreAuthError,
    ProcoreError,
    ProcoreNotFound,
    ProcorePermissionError,
    hint_for,
)
from integrations.procore.records import Project
from linx.clients import exaktime_client, procore_client, retry_policy
from linx.models import Connection, EntityMapping, EntityType, ProcoreAuthMode
from linx.sync import webhook_hooks
from linx.sync.classify import classify
from linx.sync.labels import exaktime_name
from linx.sync.rules import HOUR_KINDS, KIND_NAMES
from linx.sync.webhook_hooks import WebhookSetupError

#: A preflight runs while a person waits: one quick retry, never minutes of backoff.
PREFLIGHT_TIMEOUT = (5.0, 20.0)


def preflight_retry():
    return replace(
        retry_policy(),
        max_retries=1,
        max_total_wait=3.0,
        max_rate_limit_wait=5.0,
        max_rate_limit_retries=1,
    )


class Status(enum.StrEnum):
    OK = "ok"
    FAILED = "failed"
    WARNING = "warning"  # could not be verified; say so rather than pretend
    SKIPPED = "skipped"  # not needed, or not tried because an earlier check failed


@dataclass(frozen=True)
class Check:
    """One line of the checklist."""

    system: str  # "Procore" or "ExakTime"
    title: str
    status: Status
    detail: str = ""  # what Linx saw
    fix: str = ""  # what to do about it, when it is not green

    @property
    def passed(self) -> bool:
        return self.status == Status.OK


# What to do, in the words of the seed's Requirements section -------------------------

SIGN_IN_SECRETS = (
    "Enter the Procore client ID and client secret of the Linx app (Procore Developer "
    "Portal > the app > Credentials) on this page and save."
)
SIGN_IN_CONNECT = (
    "Use Connect to Procore on this page and sign in as a Procore user with Admin access "
    "to the company."
)
SIGN_IN_REFUSED = (
    "Procore does not accept this client ID and secret. Copy both again from the Linx app's "
    "credentials in Procore and save them on this page."
)
CHOOSE_COMPANY = "Choose the Procore company with Choose Procore company on this page."
INSTALL_APP = (
    "A Procore company admin must let users install apps and install Linx: Company Tools > "
    "Admin > App Management, turn on 'Allow User Installs'; then Select an App > App "
    "Management > Install App > Install Custom App, paste the Linx app's Version ID and "
    "click Install. Then test again."
)
ADMIN_USER = (
    "The Procore user Linx signs in as needs Admin access: Company Tools > Directory, Edit "
    "the user; under Company Permissions set every tool to Admin; under Project Settings "
    "tick 'Add <user> to all new projects' and 'Allow <user> to create new projects'; "
    "save."
)
ADD_EMPLOYEES = (
    "Procore's Directory lists no active workers. In Company Tools > Directory, add users "
    "(+ Add User) or edit existing ones, tick 'Is Employee of <company>' and enter an "
    "Employee ID; save."
)
#: Cost codes and sub-jobs switched off: the client's own advice (the seed's steps).
ENABLE_COST_CODES = hint_for("You have insufficient rights to access the CostCode") or ""
ENABLE_SUB_JOBS = hint_for("Sub Jobs are not enabled") or ""
CREATE_FIELDSET = (
    "Create a company fieldset for timesheets in Procore (Company Tools > Admin > Project "
    "Settings > Timesheets) and add the custom fields to it; then re-run the pre-import "
    "and choose the fieldset on this connection's Custom fields page."
)
TIMECARD_TOOL = (
    "Check that the Timecard tool is enabled: Company Tools should list 'Timecard' under "
    "Project Management; if it does not, ask Procore Support to enable it. Then, in "
    "Company Tools > Timesheets > the gear > Configurations, enable 'Can company employees "
    "be tracked on all projects?' and set 'Default Cost Type For Timecards' to Labor."
)
EXAKTIME_KEY_MISSING = "Enter the ExakTime API key on this page and save."
EXAKTIME_KEY_REFUSED = (
    "ExakTime does not accept this API key. Copy the key from ExakTime again and paste it "
    "into ExakTime API key on this page."
)
EXAKTIME_READ_ONLY = (
    "This ExakTime API key is read-only, and import must create and change employees, "
    "locations and cost codes. Create a read-write API key in ExakTime and paste it into "
    "ExakTime API key on this page."
)
TRY_LATER = "Test again in a few minutes; if it keeps failing, check the service's status page."

#: The ExakTime records a write can be tried on, in order of preference.
WRITABLE = (
    (EntityType.EMPLOYEE, "employee"),
    (EntityType.COST_CODE, "cost_code"),
    (EntityType.LOCATION, "location"),
)


def _first[T](records: Iterable[T]) -> T | None:
    return next(iter(records), None)


def _peek[T](records: Iterable[T], most: int = 1) -> list[T]:
    """The first few records (a Listing knows its total once its first page is read)."""
    return list(islice(records, most))


def _count(total: int | None, page: list, one: str, many: str) -> str:
    """ "25 active workers"; "at least 1 ..." when Procore sent no total."""
    if total is None:
        return f"at least {len(page)} {one if len(page) == 1 else many}" if page else f"no {many}"
    return f"{total:,} {one if total == 1 else many}"


class Preflight:
    """The checklist for one connection; `run()` returns it."""

    def __init__(
        self,
        connection: Connection,
        procore: ProcoreClient,
        exaktime: ExakTimeClient,
        *,
        today: date | None = None,
    ) -> None:
        self.connection = connection
        self.procore = procore
        self.exaktime = exaktime
        self.today = today or timezone.localdate()
        self.signed_in = False
        self.companies: list[Any] = []
        self.company_ok = False
        self.project: Project | None = None
        self.key_ok = False
        self.employees: list[Any] = []

    def run(self) -> list[Check]:
        procore_checks: list[Callable[[], Check]] = [
            self.procore_sign_in,
            self.procore_company,
            self.procore_workers,
            self.procore_projects,
            self.procore_cost_codes,
            self.procore_sub_jobs,
            self.procore_fieldset,
            self.procore_timecards,
            self.procore_time_types,
            self.procore_webhooks,
        ]
        exaktime_checks = [self.exaktime_key, self.exaktime_write]
        return [check() for check in (*procore_checks, *exaktime_checks)]

    # Procore ------------------------------------------------------------------------

    def _procore(self, title: str, *, on_denied: str = "") -> _Attempt:
        return _Attempt("Procore", title, on_denied=on_denied)

    def _needs_company(self, title: str) -> Check | None:
        if self.company_ok:
            return None
        return Check("Procore", title, Status.SKIPPED, "Not tried: fix the company first.")

    def procore_sign_in(self) -> Check:
        title = "Linx can sign in to Procore"
        connection = self.connection
        if not connection.procore_client_id or not connection.procore_client_secret:
            return Check(
                "Procore", title, Status.FAILED, "No client ID or secret.", SIGN_IN_SECRETS
            )
        code_flow = connection.procore_auth_mode == ProcoreAuthMode.AUTHORIZATION_CODE
        try:
            if not code_flow:
                # A stored token proves nothing about the secret: ask for a new one.
                store = self.procore.token_store
                self.procore.auth.renew(store, stale=store.current())
            companies = list(self.procore.companies())
        except ProcoreAuthError as error:
            if "invalid_client" in error.message:
                fix = SIGN_IN_REFUSED
            elif code_flow:
                fix = SIGN_IN_CONNECT
            else:
                fix = SIGN_IN_SECRETS
            return Check("Procore", title, Status.FAILED, classify(error).words, fix)
        except ProcoreError as error:
            fix = TRY_LATER if classify(error).retry_may_help else classify(error).hint
            return Check("Procore", title, Status.FAILED, classify(error).words, fix)
        self.signed_in = True
        self.companies = companies
        how = "signed in with Connect to Procore" if code_flow else "signed in as the app"
        return Check(
            "Procore",
            title,
            Status.OK,
            f"Procore accepted the token ({how}); it reaches {len(companies)} company(ies).",
        )

    def procore_company(self) -> Check:
        title = "The company is reachable (the Linx app is installed)"
        if not self.signed_in:
            return Check("Procore", title, Status.SKIPPED, "Not tried: fix the sign-in first.")
        company_id = self.connection.procore_company_id
        if company_id is None:
            return Check("Procore", title, Status.FAILED, "No company chosen.", CHOOSE_COMPANY)
        listed = {c.id: c for c in self.companies}
        if company_id not in listed:
            return Check(
                "Procore",
                title,
                Status.FAILED,
                f"Company {company_id} is not among the companies this sign-in reaches "
                f"({', '.join(c.name for c in self.companies) or 'none'}): the Linx app is "
                "not installed there, or the Procore user is not in that company.",
                f"{INSTALL_APP} Or choose another company with Choose Procore company.",
            )
        with self._procore(title, on_denied=INSTALL_APP) as attempt:
            _first(self.procore.work_classifications())
            self.company_ok = True
            return attempt.ok(f"{listed[company_id].name} ({company_id}) answers.")
        return attempt.result

    def procore_workers(self) -> Check:
        title = "Workers can be read"
        if skipped := self._needs_company(title):
            return skipped
        with self._procore(title, on_denied=ADMIN_USER) as attempt:
            listing = self.procore.workers()
            page = _peek(listing)
            if not page:
                return attempt.failed("Procore lists no active workers.", ADD_EMPLOYEES)
            return attempt.ok(f"{_count(listing.total, page, 'active worker', 'active workers')}.")
        return attempt.result

    def procore_projects(self) -> Check:
        title = "Projects can be read"
        if skipped := self._needs_company(title):
            return skipped
        with self._procore(title, on_denied=ADMIN_USER) as attempt:
            listing = self.procore.projects("Active")
            self.project = _first(listing)
            page = [self.project] if self.project else []
            return attempt.ok(
                f"{_count(listing.total, page, 'active project', 'active projects')}."
            )
        return attempt.result

    def procore_cost_codes(self) -> Check:
        title = "Cost codes are enabled and can be read"
        if skipped := self._needs_company(title):
            return skipped
        with self._procore(title, on_denied=ADMIN_USER) as attempt:
            listing = self.procore.standard_cost_code_lists()
            page = _peek(listing)
            return attempt.ok(
                f"{_count(listing.total, page, 'cost code list', 'cost code lists')}."
            )
        return attempt.result

    def procore_sub_jobs(self) -> Check:
        title = "Sub-jobs are enabled"
        if not self.connection.import_sub_jobs:
            return Check("Procore", title, Status.SKIPPED, "Not needed: sub-job import is off.")
        if skipped := self._needs_company(title):
            return skipped
        if self.project is None:
            return Check(
                "Procore",
                title,
                Status.WARNING,
                "Not verified: there is no active project to ask for its sub-jobs.",
            )
        with self._procore(title, on_denied=ENABLE_SUB_JOBS) as attempt:
            listing = self.procore.sub_jobs(self.project.id)
            page = _peek(listing)
            return attempt.ok(
                f"Project {self.project.name!r} has {_count(listing.total, page, 'sub-job', 'sub-jobs')}."
            )
        return attempt.result

    def procore_fieldset(self) -> Check:
        title = "A timesheet fieldset holds the chosen custom fields"
        chosen = list(self.connection.selected_custom_fields())
        selected = self.connection.selected_fieldset()
        if not chosen and selected is None:
            return Check("Procore", title, Status.SKIPPED, "Not needed: no custom fields chosen.")
        if skipped := self._needs_company(title):
            return skipped
        with self._procore(title, on_denied=ADMIN_USER) as attempt:
            fieldsets = {f.id: f for f in self.procore.fieldsets()}
            if not fieldsets:
                return attempt.failed("Procore has no timesheet fieldset.", CREATE_FIELDSET)
            if selected is None:
                return attempt.failed(
                    "Custom fields are chosen but no fieldset is.", CREATE_FIELDSET
                )
            found = fieldsets.get(selected.procore_id)
            if found is None:
                return attempt.failed(
                    f"The fieldset {selected.name!r} chosen on this connection is no longer "
                    "in Procore.",
                    "Re-run the pre-import, then choose a fieldset on the Custom fields page.",
                )
            outside = [f.label for f in chosen if f.procore_id not in found.field_ids]
            if outside:
                return attempt.failed(
                    f"{', '.join(repr(o) for o in outside)} no longer in the fieldset "
                    f"{found.name!r} in Procore.",
                    f"Add them back to {found.name!r} in Procore (Company Tools > Admin > "
                    "Project Settings > Timesheets), or re-run the pre-import and choose "
                    "again on the Custom fields page.",
                )
            return attempt.ok(
                f"{found.name!r} is in Procore with the {len(chosen)} chosen custom field(s)."
            )
        return attempt.result

    def procore_timecards(self) -> Check:
        title = "The Timecard tool is reachable"
        if skipped := self._needs_company(title):
            return skipped
        with self._procore(title, on_denied=TIMECARD_TOOL) as attempt:
            listing = self.procore.timecard_entries(self.today, self.today)
            page = _peek(listing)
            return attempt.ok(
                f"Timecard entries for {self.today:%Y-%m-%d}: "
                f"{_count(listing.total, page, 'entry', 'entries')}."
            )
        return attempt.result

    def procore_time_types(self) -> Check:
        title = "Export's time types exist in Procore"
        if skipped := self._needs_company(title):
            return skipped
        with self._procore(title, on_denied=TIMECARD_TOOL) as attempt:
            known = {t.abbreviated_time_type for t in self.procore.timecard_time_types()}
            wanted = {
                f"{KIND_NAMES[kind]} hours": getattr(self.connection, setting)
                for kind, setting in HOUR_KINDS.items()
            }
            missing = [f"{v!r} ({k})" for k, v in wanted.items() if v not in known]
            if missing:
                return attempt.failed(
                    f"Procore has no time type {', '.join(missing)}; it has "
                    f"{', '.join(sorted(k for k in known if k)) or 'none'}.",
                    "Choose time types Procore has under Export on this page (re-run the "
                    "pre-import first to list them as choices).",
                )
            return attempt.ok(f"{', '.join(wanted.values())} all exist.")
        return attempt.result

    def procore_webhooks(self) -> Check:
        title = "Procore's change notices reach Linx (near-real-time import)"
        if not self.connection.webhooks_enabled:
            return Check("Procore", title, Status.SKIPPED, "Near-real-time import is off.")
        if skipped := self._needs_company(title):
            return skipped
        fix = (
            "Switch near-real-time import on again (the connection's action, or "
            "`linx_connection webhooks NAME --install`): it repairs the hook."
        )
        with self._procore(title) as attempt:
            try:
                drift = webhook_hooks.drift_of(self.connection, self.procore)
            except WebhookSetupError as error:
                return attempt.failed(str(error), fix)
            if drift:
                return attempt.failed("; ".join(drift) + ".", fix)
            return attempt.ok("The hook and its triggers are as they should be.")
        return attempt.result

    # ExakTime -----------------------------------------------------------------------

    def exaktime_key(self) -> Check:
        title = "The ExakTime API key works"
        if not self.connection.exaktime_api_key:
            return Check("ExakTime", title, Status.FAILED, "No API key.", EXAKTIME_KEY_MISSING)
        try:
            self.employees = _peek(self.exaktime.list_employees(), 5)
        except ExakTimeAuthError as error:
            return Check(
                "ExakTime", title, Status.FAILED, classify(error).words, EXAKTIME_KEY_REFUSED
            )
        except ExakTimeError as error:
            fix = TRY_LATER if classify(error).retry_may_help else ""
            return Check("ExakTime", title, Status.FAILED, classify(error).words, fix)
        self.key_ok = True
        return Check("ExakTime", title, Status.OK, "ExakTime answered a list of employees.")

    def _rewrite_candidates(self) -> Iterator[tuple[str, int]]:
        """Records to write back unchanged: ones Linx already keeps in step first."""
        for entity_type, noun in WRITABLE:
            mapped = (
                EntityMapping.objects.filter(
                    connection=self.connection, entity_type=entity_type, exaktime_id__isnull=False
                )
                .order_by("pk")
                .values_list("exaktime_id", flat=True)
                .first()
            )
            if mapped and mapped.isdigit():
                yield noun, int(mapped)
        for employee in self.employees:
            if employee.id is not None:
                yield "employee", employee.id
        for noun, lister in (
            ("cost_code", self.exaktime.list_cost_codes),
            ("location", self.exaktime.list_locations),
        ):
            record = _first(lister())
            if record is not None and record.id is not None:
                yield noun, record.id

    def exaktime_write(self) -> Check:
        """Write one existing record back exactly as ExakTime holds it (read, then PUT).

        ExakTime has no dry-run or permission endpoint, so this is the only way to learn
        whether the key may write without creating anything. A record Linx already keeps
        in step is preferred; otherwise the first employee, cost code or location listed.
        With nothing to rewrite, the check says write access was not verified.
        """
        title = "The ExakTime API key may write"
        if not self.key_ok:
            return Check("ExakTime", title, Status.SKIPPED, "Not tried: fix the API key first.")
        try:
            for noun, record_id in self._rewrite_candidates():
                try:
                    record = getattr(self.exaktime, f"change_{noun}")(record_id, {})
                except ExakTimeNotFound:
                    continue  # a stale link: try the next candidate
                name = exaktime_name(record)
                return Check(
                    "ExakTime",
                    title,
                    Status.OK,
                    f"Wrote {noun.replace('_', ' ')} {name!r} ({record_id}) back unchanged.",
                )
        except ExakTimePermissionError as error:
            return Check(
                "ExakTime", title, Status.FAILED, classify(error).words, EXAKTIME_READ_ONLY
            )
        except ExakTimeError as error:
            fix = TRY_LATER if classify(error).retry_may_help else ""
            return Check("ExakTime", title, Status.FAILED, classify(error).words, fix)
        return Check(
            "ExakTime",
            title,
            Status.WARNING,
            "Write access not verified: ExakTime holds no employee, cost code or location "
            "that Linx could write back unchanged. The first import will show it.",
        )


class _Attempt:
    """A `with` block around one Procore check: a Procore error becomes a red line.

    The body returns `attempt.ok(...)` or `attempt.failed(...)`; when Procore refuses,
    the block swallows the error and `attempt.result` holds the red line.
    """

    def __init__(self, system: str, title: str, *, on_denied: str) -> None:
        self.system, self.title, self.on_denied = system, title, on_denied
        self.result: Check | None = None

    def ok(self, detail: str) -> Check:
        return Check(self.system, self.title, Status.OK, detail)

    def failed(self, detail: str, fix: str) -> Check:
        return Check(self.system, self.title, Status.FAILED, detail, fix)

    def __enter__(self) -> _Attempt:
        return self

    def __exit__(self, kind, error, traceback) -> bool:
        if error is None or not isinstance(error, ProcoreError):
            return False
        message = error.message
        failure = classify(error)
        if failure.retry_may_help:
            fix = TRY_LATER
        elif "App is not connected" in message:
            fix = INSTALL_APP
        elif isinstance(error, ProcorePermissionError | ProcoreNotFound):
            # The check knows better than the status's generic advice what to allow.
            fix = hint_for(message) or self.on_denied or failure.hint
        else:
            fix = failure.hint
        self.result = Check(self.system, self.title, Status.FAILED, failure.words, fix)
        return True


def run_preflight(connection: Connection, *, today: date | None = None) -> list[Check]:
    """Run every check against the connection's Procore company and ExakTime account."""
    options = {"retry": preflight_retry(), "timeout": PREFLIGHT_TIMEOUT}
    with (
        procore_client(connection, **options) as procore,
        exaktime_client(connection, **options) as exaktime,
    ):
        return Preflight(connection, procore, exaktime, today=today).run()
