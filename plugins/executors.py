"""Built-in executor ``local``: the inner trainings one after another, in this process."""

from __future__ import annotations

from collections.abc import Sequence

from soar_kit import hookimpl
from soar_kit.contracts.executor import Executor, InnerContext, OnDone, StudentJob, StudentResult
from soar_kit.students import run_job_here


class LocalExecutor(Executor):
    name = "local"
    description = "inner student trainings one after another in this process (default)"

    def train_students(
        self, ctx: InnerContext, jobs: Sequence[StudentJob], on_done: OnDone | None = None
    ) -> list[StudentResult]:
        results = []
        for job in jobs:
            result = run_job_here(ctx, job)
            results.append(result)
            if on_done:
                on_done(job, result)
        return results


@hookimpl
def soarkit_register_executors(register):
    register(LocalExecutor())
