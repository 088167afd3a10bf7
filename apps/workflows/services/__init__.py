"""The workflow engine: start, cancel, run steps, advance runs, sweep. Every write is here.

Invariants (docs/workflows.md):

* Every change to a run, its steps or its history happens in a transaction that holds the run
  row's lock (`select_for_update`), so history event ids are gap-free and steps of a parallel
  group that finish together decide "who advances the run" one at a time. The one exception is
  the hot path of claiming a `scheduled` step: a single conditional UPDATE of the step row
  (closing a run closes its scheduled steps under the lock, so the condition is enough).
* A step row is claimed before it runs and its result is applied only by the attempt that
  claimed it (same task id and attempt number, step still `running`); a completed step is never
  run or applied again whatever the broker redelivers.
* Celery messages carry `(run id, step id)`; the task id of every message is recorded on the step
  before it is sent, so a redelivery of the message that was running when its worker died is
  recognised (same id) and resumes the run.

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
from .steps import workflow_step_run
from .sweep import workflow_sweep

__all__ = [
    "api_status",
    "duration_text",
    "workflow_cancel",
    "workflow_latest_run",
    "workflow_run_for_history",
    "workflow_start",
    "workflow_step_run",
    "workflow_sweep",
]
