from celery import shared_task


@shared_task(name="workflows.step_run", bind=True, ignore_result=True)
def workflow_step_task(self, run_id: str, step_id: int) -> None:
    """One attempt of one step, then those of the next steps it takes itself (eager dispatch,
    `Carrier`). The task id, recorded on the step row, identifies the attempt."""
    from .services import Carrier, workflow_step_run

    time_limit, _soft_time_limit = self.request.timelimit or (None, None)
    carrier = Carrier.starting_now(self.request.id, time_limit)
    workflow_step_run(run_id=run_id, step_id=step_id, task_id=self.request.id, carrier=carrier)


@shared_task(name="workflows.sweep", ignore_result=True)
def workflow_sweep_task() -> None:
    from .services import workflow_sweep

    workflow_sweep()
