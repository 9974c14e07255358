"""`linx_rerun RUN_ID`: the failed rows of an earlier run, only those."""

from django.core.management.base import CommandError

from linx.cli import RunCommand
from linx.models import Outcome, RunTrigger, SyncRun
from linx.sync.execute import rerun_failed, stopped_early


class Command(RunCommand):
    help = "Re-run the failed rows of an earlier run, and only those."

    def add_arguments(self, parser):
        parser.add_argument("run_id", type=int, help="The run whose failed rows to re-run.")
        self.add_run_arguments(parser)

    def handle(self, *args, run_id, **options):
        try:
            earlier = SyncRun.objects.select_related("connection").get(pk=run_id)
        except SyncRun.DoesNotExist:
            raise CommandError(f"There is no run #{run_id}.") from None
        if not earlier.is_finished:
            raise CommandError(f"Run #{run_id} has not finished; re-run it when it has.")
        if not stopped_early(earlier) and not earlier.rows.filter(outcome=Outcome.FAILED).exists():
            raise CommandError(f"Run #{run_id} has no failed rows to re-run.")
        run = rerun_failed(earlier, trigger=RunTrigger.RERUN)
        self.report(run, options)
