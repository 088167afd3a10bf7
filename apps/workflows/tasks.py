from celery import shared_task


@shared_task(name="workflows.step_run", bind=True, ignore_result=True)
def workflow_step_task(self, run_id: str, step_id: int) -> None:
    """One attempt of one step. The task id, recorded on the step row, identifies the attempt."""
    from .services import workflow_step_run

    workflow_step_run(run_id=run_id, step_id=step_id, task_id=self.request.id)


@shared_task(name="workflows.sweep", ignore_result=True)
def workflow_sweep_task() -> None:
    from .services import workflow_sweep

    workflow_sweep()
