"""The workflow engine: start, cancel, run steps, advance runs, sweep. Every write is here.

Invariants (docs/workflows.md):

* Every change to a run, its steps or its history is serialized on the run row: it happens in
  a transaction that holds the row's lock (`select_for_update`), so history event ids are
  gap-free and steps of a parallel group that finish together decide "who advances the run"
  one at a time. Two hot paths do without the transaction, on PostgreSQL: claiming a
  `scheduled` step is a single conditional UPDATE of the step row (closing a run closes its
  scheduled steps under the lock, so the condition is enough), and completing a step is one
  statement written only if the run's `last_event_id` is still the one its decision read (a
  compare-and-set on the run row, as Temporal conditions its updates on the next event id);
  otherwise the locked path decides again.
* A step row is claimed before it runs and its result is applied only by the attempt that
  claimed it (same task id and attempt number, step still `running`); a completed step is never
  run or applied again whatever the broker redelivers.
* Celery messages carry `(run id, step id)`; the task id of every message is recorded on the step
  before it is sent, so a redelivery of the message that was running when its worker died is
  recognised (same id) and resumes the run. A task that goes on to run the run's next step
  itself (eager dispatch, `Carrier`) records its own task id on that step in the write that
  claims it, so the same holds for every step it runs.

Modules: `runs` (start, cancel, selectors), `steps` (one step's attempt), `engine` (history,
scheduling, advancing and closing runs), `output`, `sweep`.
"""

from .engine import api_status, duration_text
from .runs import (
    workflow_cancel,
    workflow_latest_run,
    workflow_run_for_history,
    workflow_start,
)
from .steps import Carrier, workflow_step_run
from .sweep import workflow_sweep

__all__ = [
    "Carrier",
    "api_status",
    "duration_text",
    "workflow_cancel",
    "workflow_latest_run",
    "workflow_run_for_history",
    "workflow_start",
    "workflow_step_run",
    "workflow_sweep",
]
