"""Built-in executor ``local``: the inner trainings one after another, in this process."""

from __future__ import annotations

from collections.abc import Sequence

from soar_kit import hookimpl
from soar_kit.contracts.executor import Executor, InnerContext, OnDone, StudentJob, StudentResult
from soar_kit.students import run_job_here, train_students_together


class LocalExecutor(Executor):
    name = "local"
    description = "inner student trainings one after another in this process (default)"
    trains_together = True

    def train_students(
        self, ctx: InnerContext, jobs: Sequence[StudentJob], on_done: OnDone | None = None
    ) -> list[StudentResult]:
        size = ctx.config.student.lora.together if ctx.config.student.mode == "lora" else 1
        results = []
        for lo in range(0, len(jobs), size):
            group = list(jobs[lo : lo + size])
            if len(group) > 1:
                done = train_students_together(ctx, group)
            else:
                done = [run_job_here(ctx, group[0])]
            for job, result in zip(group, done, strict=True):
                results.append(result)
                if on_done:
                    on_done(job, result)
        return results


@hookimpl
def soarkit_register_executors(register):
    register(LocalExecutor())
